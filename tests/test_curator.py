"""The curator loop: gaps in the log become phrasings an editor accepts, and `kb apply` adds
them; and entries whose review is more than 12 months old are flagged.

The query log is written by a real desk (matching, redaction, masking, feedback buttons), so
what reaches the suggestion file is exactly what the bot would have stored.
"""

from __future__ import annotations

import contextlib
import io
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, SECRET, make_desk, shipped_kb, shipped_messages
from conftest import _shipped_matcher as shipped_matcher
from rightsdesk.admin_reports import gaps
from rightsdesk.cli import main
from rightsdesk.config import Settings
from rightsdesk.conversation import Conversation
from rightsdesk.curator import format_suggestions, suggest
from rightsdesk.desk import Asker
from rightsdesk.knowledge_base import load_knowledge_base, review_warnings
from rightsdesk.localized import LANGUAGES
from rightsdesk.matching import Matcher
from rightsdesk.messages import check_messages
from rightsdesk.query_log import QueryLog

NOW = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)  # Thursday of 2026-W48
TELEGRAM = "can police read my telegram chats"  # answered with ii-9-privacy, found unhelpful
WHATSAPP_ID = "polisi baca chat whatsapp saya"  # the same, in Indonesian
NONSENSE = "how do i cook rice"
RARE = "can the village chief send me to rehab"  # two people only


@dataclass(frozen=True)
class Suggested:
    path: Path
    text: str
    items: list[dict[str, object]]

    def with_phrasing(self, phrasing: str) -> dict[str, object]:
        [item] = [i for i in self.items if phrasing in (i.get("phrasings") or [])]
        return item


@pytest.fixture(scope="module")
def suggested(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suggested]:
    folder = tmp_path_factory.mktemp("curator")
    db = folder / "log.db"
    log = QueryLog(db, secret=SECRET, retention_days=3650).open()
    desk = make_desk(replace(Settings.defaults(ROOT), db_path=db), log)
    desk._clock = lambda: NOW

    def ask(text: str, users: range, *, helpful: bool | None = None) -> None:
        for user in users:
            reply = desk.ask(text, Asker(user))
            if helpful is not None:
                prefix = "f:y:" if helpful else "f:n:"
                [data] = [b.data for row in reply.buttons for b in row if b.data[:4] == prefix]
                desk.press(data, Asker(user))

    ask(TELEGRAM, range(1, 6), helpful=False)
    ask(WHATSAPP_ID, range(11, 15), helpful=False)
    ask(NONSENSE, range(21, 25))
    ask(RARE, range(31, 33))
    ask("my brother Budi was arrested for ganja", range(41, 45), helpful=False)
    log.close()

    # What `rightsdesk logs gaps --suggest` does (tests/test_cli_logs.py runs the command),
    # with the matcher the desk already built.
    out = folder / "suggestions.yaml"
    report = gaps(db, k=3)
    matcher = shipped_matcher()
    text = format_suggestions(
        suggest(report, matcher), report, k=3, answer=matcher.thresholds.answer, file=str(out)
    )
    out.write_text(text, encoding="utf-8")
    yield Suggested(out, text, yaml.safe_load(text)["suggestions"])


@pytest.fixture
def kb_copy(tmp_path: Path) -> Path:
    root = tmp_path / "knowledge_base"
    shutil.copytree(ROOT / "knowledge_base", root)
    return root


def _accepted(suggested: Suggested, folder: Path) -> Path:
    path = folder / "accepted.yaml"
    path.write_text(suggested.text.replace("accept: false", "accept: true"), encoding="utf-8")
    return path


# --- suggest ----------------------------------------------------------------------------------


def test_groups_fewer_than_k_people_asked_are_left_out(suggested: Suggested) -> None:
    assert "village" not in suggested.text and "chief" not in suggested.text
    assert "1 smaller group(s) are left out: fewer than 3 asked." in suggested.text
    assert len(suggested.items) == 4  # telegram, whatsapp, nonsense, brother


def test_the_closest_entry_is_named_in_the_groups_language(suggested: Suggested) -> None:
    english = suggested.with_phrasing(TELEGRAM)
    assert english["entry"] == "ii-9-privacy" and english["lang"] == "en"
    assert english["title"] == "Right to privacy"
    assert english["accept"] is False
    assert 58 <= float(english["score"]) <= 100  # type: ignore[arg-type]
    indonesian = suggested.with_phrasing(WHATSAPP_ID)
    assert indonesian["entry"] == "ii-9-privacy" and indonesian["lang"] == "id"
    assert indonesian["title"] == "Hak atas privasi"  # the entry's title in Indonesian


def test_nothing_close_gives_a_stub_and_no_accept(suggested: Suggested) -> None:
    [stub] = [i for i in suggested.items if "new_entry" in i]
    assert stub["new_entry"] == {"id": "TODO", "title": "TODO", "questions": [NONSENSE]}
    assert "accept" not in stub and "entry" not in stub
    assert "# STUB for a new entry" in suggested.text


def test_wordings_with_placeholders_are_comments_not_phrasings(suggested: Suggested) -> None:
    assert "Budi" not in suggested.text  # redacted before it was ever logged
    [item] = [i for i in suggested.items if i.get("phrasings") == []]
    assert item["accept"] is False
    assert "#   my brother [name] was arrested for ganja" in suggested.text
    phrasings = [p for i in suggested.items for p in (i.get("phrasings") or [])]
    assert not any("[" in p or "…" in p for p in phrasings)


def test_the_header_tells_an_editor_how_to_review(suggested: Suggested) -> None:
    header = suggested.text.split("suggestions:")[0]
    assert all(line.startswith("#") or not line for line in header.splitlines())
    assert "change `accept: false` to `accept: true`" in header
    assert f"rightsdesk kb apply {suggested.path}" in header


# --- apply ------------------------------------------------------------------------------------

ENGLISH = Path("part-2-standards") / "ii-9-privacy.yaml"
INDONESIAN = Path("translations") / "id" / "ii-9-privacy.yaml"


@dataclass(frozen=True)
class Applied:
    root: Path
    accepted: Path
    before: dict[Path, list[str]]
    out: str


@pytest.fixture(scope="module")
def applied(suggested: Suggested, tmp_path_factory: pytest.TempPathFactory) -> Applied:
    """The shipped base copied, and every suggestion accepted and applied once."""
    folder = tmp_path_factory.mktemp("applied")
    root = folder / "knowledge_base"
    shutil.copytree(ROOT / "knowledge_base", root)
    before = {p: (root / p).read_text(encoding="utf-8").splitlines() for p in (ENGLISH, INDONESIAN)}
    accepted = _accepted(suggested, folder)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["kb", "apply", str(accepted), "--kb", str(root)]) == 0
    return Applied(root, accepted, before, out.getvalue())


def test_apply_adds_accepted_phrasings_and_nothing_else(applied: Applied) -> None:
    assert "Applied 2 phrasing(s) to 1 entry; skipped 0" in applied.out
    assert "a stub for a new entry is never applied" in applied.out
    assert "\nOK: 57 entries" in applied.out  # kb check ran, and passed
    for name, phrasing in ((ENGLISH, TELEGRAM), (INDONESIAN, WHATSAPP_ID)):
        after = (applied.root / name).read_text(encoding="utf-8").splitlines()
        [added] = [n for n, line in enumerate(after) if line.strip() == f"- {phrasing}"]
        assert after[:added] + after[added + 1 :] == applied.before[name]  # the rest as it was
    # At the end of the right lists: the English one is `questions: en:`.
    kb = load_knowledge_base(applied.root)
    entry = kb.get("ii-9-privacy")
    assert entry is not None
    assert entry.questions.values["en"][-1] == TELEGRAM
    assert entry.questions.values["id"][-1] == WHATSAPP_ID
    old = shipped_matcher().match(TELEGRAM)
    new = Matcher(kb).match(TELEGRAM)
    assert new.decision.value == "answer" and new.best is not None and old.best is not None
    assert new.best.id == "ii-9-privacy" and new.best.score > old.best.score


def test_apply_skips_what_is_already_there(
    applied: Applied, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = sorted(applied.root.rglob("*.yaml"))
    once = {p: p.read_bytes() for p in files}
    # Again, plus a phrasing the matcher reads as one the entry has, and a question of
    # another entry.
    again = tmp_path / "again.yaml"
    again.write_text(
        applied.accepted.read_text(encoding="utf-8")
        + "  - entry: ii-9-privacy\n    lang: en\n    accept: true\n    phrasings:\n"
        "      - Drug test results, shared with employer without consent?\n"
        "      - Do drug users have a right to health?\n",
        encoding="utf-8",
    )

    assert main(["kb", "apply", str(again), "--kb", str(applied.root)]) == 0

    out = capsys.readouterr().out
    assert "Applied 0 phrasing(s) to 0 entries; skipped 4 already present" in out
    assert f"skipped '{TELEGRAM}' (en): already a question of this entry" in out
    assert "already a question of entry 'ii-1-right-to-health'" in out
    assert {p: p.read_bytes() for p in files} == once


def test_a_broken_suggestion_file_names_its_line(
    kb_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "# reviewed\nsuggestions:\n  - entry: ii-9-privacy\n    lang: en\n"
        "    accept: maybe\n    phrasings:\n      - police read my chats\n"
        "  - entry: no-such-entry\n    lang: en\n    accept: true\n",
        encoding="utf-8",
    )
    files = {p: p.read_bytes() for p in kb_copy.rglob("*.yaml")}

    assert main(["kb", "apply", str(broken), "--kb", str(kb_copy)]) == 1

    err = capsys.readouterr().err
    assert f"{broken}:5: 'accept' must be true or false" in err
    assert f"{broken}:8: no entry 'no-such-entry' in the knowledge base" in err
    assert {p: p.read_bytes() for p in kb_copy.rglob("*.yaml")} == files  # nothing applied

    broken.write_text("suggestions:\n  - entry: ii-9-privacy\n   lang: en\n", encoding="utf-8")
    assert main(["kb", "apply", str(broken), "--kb", str(kb_copy)]) == 1
    assert f"{broken}:3: invalid YAML" in capsys.readouterr().err


def test_a_failed_check_after_apply_says_the_files_changed(
    kb_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A phrasing in the Zawgyi encoding of Burmese: added, then rejected by the check.
    bad = tmp_path / "zawgyi.yaml"
    bad.write_text(
        "suggestions:\n  - entry: ii-9-privacy\n    lang: my\n    accept: true\n"
        "    phrasings:\n      - \u1031\u1000\u103a\u1038\u1007\u1030\u1038\u1010\u1004\u1039\n",
        encoding="utf-8",
    )
    assert main(["kb", "apply", str(bad), "--kb", str(kb_copy)]) == 1
    captured = capsys.readouterr()
    assert "Applied 1 phrasing(s) to 1 entry" in captured.out
    assert "kb check failed after applying" in captured.err
    assert "translations/my/ii-9-privacy.yaml" in captured.err  # which file to `git diff`


# --- stale entries ----------------------------------------------------------------------------


def _age(kb_root: Path, entry_file: str, reviewed: str) -> Path:
    path = kb_root / entry_file
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("  date: 2026-12-02", f"  date: {reviewed}"), encoding="utf-8")
    return path


def test_an_entry_reviewed_over_12_months_ago_is_flagged(
    kb_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _age(kb_copy, "part-2-standards/ii-9-privacy.yaml", "2025-11-30")
    _age(kb_copy, "part-2-standards/ii-8-fair-trial.yaml", "2024-02-28")
    kb = load_knowledge_base(kb_copy)

    def overdue(today: date) -> list[str]:
        return [e.id for e in kb.overdue_for_review(today)]

    assert overdue(date(2025, 2, 28)) == []  # 29 February one year on is 28 February
    assert overdue(date(2025, 3, 1)) == ["ii-8-fair-trial"]
    assert overdue(date(2026, 11, 30)) == ["ii-8-fair-trial"]  # exactly 12 months: not yet
    assert overdue(date(2026, 12, 1)) == ["ii-8-fair-trial", "ii-9-privacy"]
    warning = review_warnings(kb, date(2026, 12, 1))[1]
    line = path.read_text(encoding="utf-8").splitlines().index("  date: 2025-11-30") + 1
    assert (warning.path, warning.line) == (path, line)
    assert "last reviewed on 2025-11-30" in warning.message

    # `kb check` today: a warning per entry and a count, and it still passes.
    assert main(["kb", "check", "--kb", str(kb_copy)]) == 0
    out = capsys.readouterr().out
    warnings = [line for line in out.splitlines() if "warning:" in line]
    assert len(warnings) == 2
    assert any(f"ii-9-privacy.yaml:{line}:" in w and "2025-11-30" in w for w in warnings)
    assert "Overdue for review (last reviewed more than 12 months ago): 2 entries" in out


def test_about_counts_overdue_entries_in_every_language() -> None:
    kb, messages = shipped_kb(), shipped_messages()
    every = len(kb)  # the shipped entries were all reviewed on 2026-12-02

    def last_line(today: date, lang: str) -> str:
        conversation = Conversation(
            kb, messages, retention_days=30, k_anonymity=3, today=lambda: today
        )
        return conversation.about(lang).blocks[-1].text

    for lang in LANGUAGES:
        fresh, stale = last_line(date(2026, 12, 2), lang), last_line(date(2028, 1, 1), lang)
        assert fresh == messages.get("about_overdue", lang, count=0)
        assert stale == messages.get("about_overdue", lang, count=every)
        assert str(every) in stale and fresh != stale
        if lang != "en":  # written in the language, not left in English
            assert stale != messages.get("about_overdue", "en", count=every)


def test_the_desk_clock_decides_what_is_overdue() -> None:
    desk = make_desk()
    desk._clock = lambda: datetime(2028, 1, 1, tzinfo=UTC)
    reply = desk.command("about", Asker(7))
    assert reply.blocks[-1].text == shipped_messages().get("about_overdue", count=len(desk.kb))


def test_kb_check_fails_when_a_language_lacks_the_overdue_line(tmp_path: Path) -> None:
    bot = tmp_path / "bot"
    shutil.copytree(ROOT / "bot", bot)
    thai = bot / "translations" / "th.yaml"
    lines = thai.read_text(encoding="utf-8").splitlines(keepends=True)
    thai.write_text("".join(x for x in lines if "about_overdue" not in x), encoding="utf-8")

    problems, messages = check_messages(bot / "messages.yaml")

    assert messages is None
    assert [p.message for p in problems] == ["'th' is missing the text 'about_overdue'"]
    assert problems[0].path == thai
