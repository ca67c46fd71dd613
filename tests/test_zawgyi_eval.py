"""The Burmese evaluation sets have Zawgyi twins, and the bot does as well on both."""

from __future__ import annotations

import functools
import importlib.machinery
import importlib.util

import pytest

from conftest import ROOT, shipped_kb
from rightsdesk.evaluation import evaluate, load_questions, matcher_ranker, summarise
from rightsdesk.matching import Matcher

EVAL = ROOT / "tests" / "eval"


def _script():  # type: ignore[no-untyped-def]
    path = str(ROOT / "scripts" / "zawgyi-eval")
    loader = importlib.machinery.SourceFileLoader("zawgyi_eval", path)
    spec = importlib.util.spec_from_loader("zawgyi_eval", loader)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", _script().burmese_sets())
def test_the_zawgyi_twins_are_up_to_date(name: str) -> None:
    twin = _script().twin(EVAL / f"{name}.yaml")
    assert (EVAL / f"{name}-zawgyi.yaml").read_text(encoding="utf-8") == twin
    # And they really are Zawgyi: the same questions, other code points.
    unicode_questions = [q.q for q in load_questions(EVAL / f"{name}.yaml")]
    zawgyi_questions = [q.q for q in load_questions(EVAL / f"{name}-zawgyi.yaml")]
    differ = sum(u != z for u, z in zip(unicode_questions, zawgyi_questions, strict=True))
    assert differ >= 0.9 * len(unicode_questions)


@functools.cache
def _matcher() -> Matcher:
    return Matcher(shipped_kb())


def test_zawgyi_questions_score_within_005_of_their_unicode_forms() -> None:
    ranker = matcher_ranker(_matcher())
    sets = EVAL / "lang"
    unicode = summarise(evaluate(load_questions(sets / "my-dev.yaml"), ranker)).overall
    zawgyi = summarise(evaluate(load_questions(sets / "my-dev-zawgyi.yaml"), ranker)).overall
    for metric in ("top1", "top3", "oos_rejected", "wrong_answer_rate"):
        assert abs(getattr(unicode, metric) - getattr(zawgyi, metric)) <= 0.05, metric
