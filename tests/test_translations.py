"""Translations: loaded beside the English, checked, and honest about who made them."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from conftest import ROOT, shipped_kb
from rightsdesk.cli import main
from rightsdesk.knowledge_base import check_knowledge_base, coverage
from rightsdesk.languages import unicode_to_zawgyi

VALID = ROOT / "tests" / "fixtures" / "kb_valid"
QUESTIONS = "\n".join(f"  - soalan nombor {i} tentang privasi telefon" for i in range(20))


def privacy_in_malay(**override: str) -> str:
    fields = {
        "title": "Hak privasi",
        "summary": "Polis dan perkhidmatan kesihatan patut menghormati privasi.",
        "details": "  should:\n    - Jangan dedahkan keputusan ujian dadah tanpa izin.\n"
        "  may:\n    - Menyahjenayahkan pemilikan untuk kegunaan sendiri.",
        "what_you_can_do": "  - Catat apa yang diambil dan oleh siapa.",
        **override,
    }
    block = lambda name: (  # noqa: E731
        f"{name}:\n{fields[name]}" if fields[name].startswith("  ") else f"{name}: {fields[name]}"
    )
    parts = [block(n) for n in ("title", "summary", "details", "what_you_can_do") if fields[n]]
    return textwrap.dedent(
        "id: ii-9-privacy\nlang: ms\n"
        "translation: {status: machine, by: a test, date: 2026-12-01}\n"
        + "\n".join(parts)
        + f"\nquestions:\n{QUESTIONS}\nkeywords: [privasi]\n"
    )


def base_with(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "kb"
    shutil.copytree(VALID, root)
    for name, text in files.items():
        path = root / "translations" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def problems_of(root: Path) -> list[str]:
    problems, _ = check_knowledge_base(root)
    return [str(p) for p in problems]


def test_a_missing_translation_of_a_required_field_is_named_with_file_and_line(
    tmp_path: Path,
) -> None:
    root = base_with(tmp_path, {"ms/ii-9-privacy.yaml": privacy_in_malay(summary="")})
    found = problems_of(root)
    assert any("ms/ii-9-privacy.yaml:1: missing translation of 'summary'" in p for p in found)
    # The example has no Malay file at all: that is named too.
    assert any("no ms translation of entry 'ex-test-example'" in p for p in found)


def test_an_unknown_language_code_is_refused(tmp_path: Path) -> None:
    root = base_with(tmp_path, {"xx/ii-9-privacy.yaml": privacy_in_malay()})
    assert any("unknown language code 'xx'" in p for p in problems_of(root))


@pytest.mark.parametrize(
    ("summary", "says"),
    [
        ("Polis patut menghormati privasi \ufffd orang.", "replacement character"),
        ("ตํารวจควรเคารพความเป็นส่วนตัว", "SARA AM"),
        (unicode_to_zawgyi("ရဲတွေက ဖုန်းကို ဝရမ်းမပါဘဲ ရှာဖွေလို့ မရပါဘူး"), "Zawgyi"),
    ],
)
def test_text_with_broken_script_is_refused(tmp_path: Path, summary: str, says: str) -> None:
    root = base_with(tmp_path, {"ms/ii-9-privacy.yaml": privacy_in_malay(summary=summary)})
    assert any(says in p and "ii-9-privacy.yaml:" in p for p in problems_of(root))


def test_shall_should_may_must_keep_the_english_shape(tmp_path: Path) -> None:
    details = "  shall:\n    - Jangan dedahkan keputusan ujian dadah tanpa izin.\n" \
        "  may:\n    - Menyahjenayahkan pemilikan."  # fmt: skip
    root = base_with(tmp_path, {"ms/ii-9-privacy.yaml": privacy_in_malay(details=details)})
    found = problems_of(root)
    assert any("details 'should' has 0 items; the English has 1" in p for p in found)
    assert any("details 'shall' has 1 items; the English has 0" in p for p in found)


def test_every_shipped_language_covers_every_entry_and_says_it_is_unreviewed() -> None:
    rows = {row.lang: row for row in coverage(shipped_kb())}
    assert set(rows) == {"en", "id", "ms", "vi", "th", "my", "tl"}
    for lang, row in rows.items():
        assert row.entries == row.total == len(shipped_kb().entries), lang
        assert row.declines == row.total_declines, lang
        if lang != "en":
            assert row.questions >= 20 * row.total, lang
            assert "reviewed" not in row.statuses  # until a person has checked them


def test_kb_translations_prints_coverage_and_status(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kb", "translations"]) == 0
    out = capsys.readouterr().out
    assert "vi Tiếng Việt" in out and "57/57" in out
    assert "machine" in out and "Not yet reviewed by a person" in out


def test_the_bots_words_need_an_honest_status_too(tmp_path: Path) -> None:
    from rightsdesk.messages import check_messages

    bot = tmp_path / "bot"
    shutil.copytree(ROOT / "bot", bot)
    vi = bot / "translations" / "vi.yaml"
    vi.write_text(vi.read_text(encoding="utf-8").replace("status: machine", "status: guess", 1))
    problems, messages = check_messages(bot / "messages.yaml")
    assert messages is None
    assert any("translation status must be one of" in p.message for p in problems)
