"""Evaluation questions must be strangers to the knowledge base.

A question that also stands, word for word or nearly, among the phrasings the matcher indexes
measures memory, not matching: the figures would flatter the bot.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from rapidfuzz import fuzz, process

from conftest import shipped_kb
from rightsdesk.knowledge_base import normalise_question

# The matcher's sets. Emergency sets are left out: recognising an emergency never looks at the
# knowledge base's phrasings, so "halo" there being a small-talk phrasing measures nothing.
EVAL_FILES = sorted(
    p for p in (Path(__file__).parent / "eval").rglob("*.yaml") if "emergency" not in p.parent.name
)
# Above this rapidfuzz ratio two questions differ by a word or two: twins.
TWIN_RATIO = 90


def phrasings() -> dict[str, str]:
    """Every question phrasing the matcher indexes (entries and declines), normalised."""
    kb = shipped_kb()
    found: dict[str, str] = {}
    for entry in kb.entries:
        for items in entry.questions.values.values():
            found.update({normalise_question(q): entry.id for q in items})
    for decline in kb.declines:
        for items in decline.questions.values.values():
            found.update({normalise_question(q): decline.id for q in items})
    return found


@pytest.mark.parametrize("path", EVAL_FILES, ids=lambda p: p.name)
def test_no_evaluation_question_is_a_twin_of_a_knowledge_base_phrasing(path: Path) -> None:
    known = phrasings()
    keys = list(known)
    twins = []
    for item in yaml.safe_load(path.read_text(encoding="utf-8")):
        question = normalise_question(item["q"])
        match = process.extractOne(question, keys, scorer=fuzz.ratio, score_cutoff=TWIN_RATIO)
        if match is not None:
            twins.append(f"{item['q']!r} ~ {match[0]!r} ({known[match[0]]})")
    assert not twins, "evaluation questions that the knowledge base already holds:\n" + "\n".join(
        twins
    )


def test_the_twin_check_can_fail() -> None:
    # The check above is only worth something if a twin is found when there is one.
    keys = list(phrasings())
    some_phrasing = keys[0]
    match = process.extractOne(some_phrasing + " ?", keys, scorer=fuzz.ratio, score_cutoff=90)
    assert match is not None
