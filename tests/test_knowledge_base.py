"""The knowledge base loads, validates and points editors to the file and line to fix."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rightsdesk.cli import main
from rightsdesk.knowledge_base import (
    KnowledgeBaseError,
    check_knowledge_base,
    load_knowledge_base,
)

ROOT = Path(__file__).resolve().parents[1]
KB = ROOT / "knowledge_base"
FIXTURES = Path(__file__).parent / "fixtures"
BROKEN = FIXTURES / "kb_broken"
SHARED_OUTLINE = ROOT.parent / "shared" / "reference" / "guidelines-outline.md"
OUTLINE_SNAPSHOT = Path(__file__).parent / "data" / "guidelines-outline-structure.txt"

# Each broken fixture, the file and line the problem must point to, and what it must say.
BROKEN_CASES = {
    "yaml-syntax": ("part-2-standards/ii-9-privacy.yaml", 6, "invalid YAML"),
    "unsafe-tag": ("part-2-standards/ii-9-privacy.yaml", 36, "could not determine a constructor"),
    "missing-field": ("part-2-standards/ii-9-privacy.yaml", 2, "missing required field 'summary'"),
    "wrong-type": ("part-2-standards/ii-9-privacy.yaml", 6, "'title' (en) must be a non-empty"),
    "summary-too-long": ("part-2-standards/ii-9-privacy.yaml", 8, "at most 350"),
    "unknown-language": ("part-2-standards/ii-9-privacy.yaml", 7, "unknown language code 'xx'"),
    "duplicate-id": ("part-2-standards/ii-9-privacy.yaml", 1, "is also used by"),
    "duplicate-ref": ("part-2-standards/ii-9-privacy.yaml", 1, "ref II.9 is also used by"),
    "dangling-related": (
        "part-2-standards/ii-9-privacy.yaml",
        35,
        "'ii-99-nothing' does not",
    ),
    "dangling-provision": ("examples/ex-test-example.yaml", 37, "provision II.12 is not in"),
    "bad-ref": ("part-2-standards/ii-9-privacy.yaml", 4, "ref '2.9' is not well formed"),
    "ambiguous-question": ("part-2-standards/ii-9-privacy.yaml", 23, "is also on entry"),
    "too-few-questions": ("examples/ex-test-example.yaml", 16, "at least 10 needed"),
    "shall-should-may": ("part-2-standards/ii-9-privacy.yaml", 11, "'must' is not one of"),
    "synonym-conflict": ("synonyms.yaml", 4, "'hp' already means 'phone'"),
    "kind-and-ref": ("examples/ex-test-example.yaml", 3, "examples have no 'ref'"),
    "unknown-offer": ("out_of_scope.yaml", 7, "'offer' must be one of: contacts"),
}


def test_a_valid_base_loads_with_entries_synonyms_and_a_version() -> None:
    kb = load_knowledge_base(FIXTURES / "kb_valid")
    assert [e.id for e in kb.entries] == ["ex-test-example", "ii-9-privacy"]
    privacy = kb.by_ref("II.9")
    assert privacy is not None and privacy.kind == "provision"
    assert privacy.details.get("en")["may"] == ("Decriminalise possession for personal use.",)
    assert privacy.title.get("id") == "Right to privacy"  # no Indonesian yet: English
    assert kb.synonyms["cops"] == "police" and kb.synonyms["warant"] == "warrant"
    assert kb.version.startswith("kb-")


def test_the_version_changes_when_content_changes(tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "kb"
    shutil.copytree(FIXTURES / "kb_valid", copy)
    before = load_knowledge_base(copy).version
    path = copy / "part-2-standards" / "ii-9-privacy.yaml"
    path.write_text(path.read_text().replace("Write down what", "Note down what"))
    assert load_knowledge_base(copy).version != before


def test_every_problem_in_a_file_is_listed_not_only_the_first(tmp_path: Path) -> None:
    entry = tmp_path / "part-2-standards" / "ii-9-privacy.yaml"
    entry.parent.mkdir()
    entry.write_text("id: ii-9-privacy\nkind: law\nref: II.9\n")
    problems, kb = check_knowledge_base(tmp_path)
    messages = [p.message for p in problems]
    assert kb is None
    assert any("kind must be one of" in m for m in messages)
    assert any("missing required field 'title'" in m for m in messages)
    assert any("missing required field 'questions'" in m for m in messages)


@pytest.mark.parametrize("case", sorted(BROKEN_CASES))
def test_each_broken_fixture_names_its_file_and_line(case: str) -> None:
    relative, line, text = BROKEN_CASES[case]
    problems, kb = check_knowledge_base(BROKEN / case)
    assert kb is None
    hits = [
        p
        for p in problems
        if p.path == BROKEN / case / relative and p.line == line and text in p.message
    ]
    assert hits, f"expected {relative}:{line} '{text}', got {[str(p) for p in problems]}"


@pytest.mark.parametrize("case", sorted(BROKEN_CASES))
def test_kb_check_exits_1_with_file_and_line_messages(
    case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    relative, line, _ = BROKEN_CASES[case]
    assert main(["kb", "check", "--kb", str(BROKEN / case)]) == 1
    out = capsys.readouterr().out
    assert re.search(rf"{re.escape(relative)}:{line}: ", out), out


def test_a_failure_is_not_repeated_as_broken_links_elsewhere() -> None:
    # The example links to II.9; when II.9 cannot be parsed, only II.9's own problem shows.
    problems, _ = check_knowledge_base(BROKEN / "yaml-syntax")
    assert len(problems) == 1


def test_loading_a_broken_base_raises_with_every_problem() -> None:
    with pytest.raises(KnowledgeBaseError) as raised:
        load_knowledge_base(BROKEN / "bad-ref")
    assert "ref '2.9' is not well formed" in str(raised.value)


# -- the shipped knowledge base ------------------------------------------------------------


def test_the_shipped_knowledge_base_passes_kb_check(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kb", "check"]) == 0
    assert capsys.readouterr().out.startswith("OK: ")


REQUIRED_REFS = (
    ["I.1", "I.2", "I.3", "I.4", "I.5", "II.1", "II.1.1", "II.1.2", "II.1.3"]
    + [f"II.{n}" for n in range(2, 14)]
    + ["III.1", "III.1.1", "III.1.2", "III.1.3", "III.1.4", "III.2", "III.2.1", "III.2.2"]
    + ["III.3", "III.4", "III.4.1", "III.4.2", "III.4.3", "III.4.4", "IV.3", "V.1", "V.2"]
)
REQUIRED_IDS = (
    "topic-decriminalisation",
    "topic-alternatives-to-incarceration",
    "topic-development",
    "ex-indonesia-community-paralegals",
    "ex-vietnam-06-centres",
    "ex-thailand-doi-tung",
    "ex-malaysia-methadone",
    "ex-switzerland-pragmatic-response",
    "ex-legal-environment-assessment",
    "ex-brazil-pretrial-guidelines",
    "ex-colombia-constitutional-court",
    "ex-judicial-training",
)


def test_kb_list_json_shows_every_required_item_with_ten_questions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["kb", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    by_ref = {r["ref"]: r for r in rows if r["ref"]}
    by_id = {r["id"]: r for r in rows}
    assert set(REQUIRED_REFS) <= set(by_ref)
    assert set(REQUIRED_IDS) <= set(by_id)
    for row in rows:
        assert {"id", "kind", "ref", "title", "languages", "questions"} <= set(row)
        assert row["questions"] >= 10, row["id"]
        assert "en" in row["languages"]


def test_unconfirmed_items_are_not_in_the_knowledge_base() -> None:
    kb = load_knowledge_base(KB)
    assert kb.by_ref("IV.1") is None and kb.by_ref("IV.2") is None
    assert not [e for e in kb.entries if e.ref and e.ref.startswith("V.") and e.ref > "V.2"]


def _outline_titles() -> dict[str, str]:
    """Refs and titles from the outline's 'Structure at a glance' (confirmed items only)."""
    if SHARED_OUTLINE.exists():
        text = SHARED_OUTLINE.read_text(encoding="utf-8")
        start = text.index("## 2. Structure at a glance")
        block = text[text.index("```", start) + 3 :]
        block = block[: block.index("```")]
        assert block.strip() == OUTLINE_SNAPSHOT.read_text(encoding="utf-8").strip(), (
            "the shared outline changed: update tests/data/guidelines-outline-structure.txt"
        )
    else:
        block = OUTLINE_SNAPSHOT.read_text(encoding="utf-8")
    titles: dict[str, str] = {}
    part = ""
    last: str | None = None
    for raw in block.splitlines():
        line = re.sub(r"\s*\[[^\]]*\]\s*(\(.*\))?\s*$", "", raw)
        line = re.sub(r"\s*\(p\.\d+\)$", "", line.rstrip())  # page numbers
        if m := re.match(r"^(I|II|III|IV|V)\.\s+", line):
            part, last = m.group(1), None
        elif m := re.match(r"^\s+(\d+(?:\.\d+)?)\.?\s+(.*)$", line):
            last = f"{part}.{m.group(1)}"
            titles[last] = m.group(2).strip()
        elif last and line.strip() and raw.startswith(" " * 7):
            titles[last] += " " + line.strip()
    return {ref: t for ref, t in titles.items() if t and "???" not in t}


def test_refs_and_titles_match_the_outline() -> None:
    kb = load_knowledge_base(KB)
    outline = _outline_titles()
    assert set(outline) == set(REQUIRED_REFS)  # every confirmed item, IV.1 and IV.2 left out
    for entry in kb.of_kind("principle", "provision"):
        assert entry.ref in outline, f"{entry.ref} is not a confirmed item of the outline"
        expected = outline[entry.ref]
        if expected.startswith("("):
            continue  # the outline saw no wording for this heading (III.4)
        assert entry.title.get("en").casefold() == expected.casefold(), entry.ref
