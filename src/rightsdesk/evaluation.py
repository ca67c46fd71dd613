"""Measuring the matcher on questions written apart from the knowledge base.

An evaluation file is a YAML list of ``{q, lang, expect}``; ``expect`` holds the ids or refs
that are a right first answer, and ``expect: []`` marks a question the bot should decline.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from rightsdesk.decision import Decision
from rightsdesk.knowledge_base import KnowledgeBase
from rightsdesk.matching import Matcher, normalise
from rightsdesk.yaml_source import YamlSyntaxError, load_yaml


class EvalFileError(Exception):
    pass


@dataclass(frozen=True)
class EvalQuestion:
    q: str
    lang: str
    expect: frozenset[str]
    line: int


@dataclass(frozen=True)
class Outcome:
    question: EvalQuestion
    decision: Decision
    ranked: tuple[tuple[str, str | None], ...]  # (id, ref) best first

    def rank(self) -> int | None:
        """1-based position of the first right match, or None."""
        for position, (entry_id, ref) in enumerate(self.ranked, start=1):
            if entry_id in self.question.expect or (ref and ref in self.question.expect):
                return position
        return None


def load_questions(path: Path) -> list[EvalQuestion]:
    try:
        doc = load_yaml(path)
    except (YamlSyntaxError, OSError) as error:
        raise EvalFileError(str(error)) from error
    if not isinstance(doc.data, list):
        raise EvalFileError(f"{path}:1: expected a list of {{q, lang, expect}} items")
    questions = []
    for i, item in enumerate(doc.data):
        line = doc.line_of(i)
        if not isinstance(item, dict) or not isinstance(item.get("q"), str):
            raise EvalFileError(f"{path}:{line}: each item needs a text 'q'")
        expect = item.get("expect", [])
        if not isinstance(expect, list):
            raise EvalFileError(f"{path}:{line}: 'expect' must be a list")
        questions.append(
            EvalQuestion(item["q"], str(item.get("lang", "en")), frozenset(map(str, expect)), line)
        )
    return questions


Ranker = Callable[[str], tuple[Decision, Sequence[tuple[str, str | None]]]]


@dataclass(frozen=True)
class Metrics:
    """Quality on a set of questions. ``top1`` etc. are shares of in-scope questions."""

    n: int
    top1: float
    top3: float
    mrr: float
    oos_n: int
    oos_rejected: float
    wrong_answer_rate: float


METRICS: tuple[str, ...] = tuple(f.name for f in fields(Metrics))


@dataclass(frozen=True)
class Report:
    overall: Metrics
    by_lang: Mapping[str, Metrics]

    def to_dict(self) -> dict[str, Any]:
        return {
            "overall": asdict(self.overall),
            "by_lang": {lang: asdict(m) for lang, m in self.by_lang.items()},
        }


def matcher_ranker(matcher: Matcher) -> Ranker:
    def rank(question: str) -> tuple[Decision, Sequence[tuple[str, str | None]]]:
        result = matcher.match(question)
        return result.decision, [(m.entry.id, m.entry.ref) for m in result.matches]

    return rank


def ranking_only(ranker: Ranker) -> Ranker:
    """The same ranking with every decision turned into an answer: ranking quality alone."""

    def rank(question: str) -> tuple[Decision, Sequence[tuple[str, str | None]]]:
        return Decision.ANSWER, ranker(question)[1]

    return rank


def bm25_ranker(kb: KnowledgeBase, *, min_score: float = 0.0) -> Ranker:
    """Plain BM25 over each entry's text: the baseline our matcher has to beat.

    It answers whenever any word matches, since BM25 has no notion of "no answer"; that is
    the behaviour users of such systems complain about.
    """
    import bm25s  # type: ignore[import-untyped]  # the eval extra, imported only when used

    def text_of(entry_id: str) -> str:
        e = kb.get(entry_id)
        assert e is not None
        # The same texts our matcher reads, every language, so the comparison is fair.
        parts = [*e.title.all(), *e.summary.all()]
        parts += [text for items in (*e.questions.all(), *e.keywords.all()) for text in items]
        return normalise(" ".join(parts))

    ids = [e.id for e in kb.entries]
    retriever = bm25s.BM25()
    retriever.index(
        bm25s.tokenize([text_of(i) for i in ids], stopwords="en", show_progress=False),
        show_progress=False,
    )

    def rank(question: str) -> tuple[Decision, Sequence[tuple[str, str | None]]]:
        tokens = bm25s.tokenize([normalise(question)], stopwords="en", show_progress=False)
        if not tokens.vocab or all(len(t) == 0 for t in tokens.ids):
            return Decision.NONE, []
        docs, scores = retriever.retrieve(tokens, k=min(5, len(ids)), show_progress=False)
        ranked = [
            (ids[int(d)], kb.get(ids[int(d)]).ref)  # type: ignore[union-attr]
            for d, s in zip(docs[0], scores[0], strict=True)
            if s > min_score
        ]
        return (Decision.ANSWER if ranked else Decision.NONE), ranked

    return rank


def evaluate(questions: Sequence[EvalQuestion], ranker: Ranker) -> list[Outcome]:
    outcomes = []
    for question in questions:
        decision, ranked = ranker(question.q)
        outcomes.append(Outcome(question, decision, tuple(ranked)))
    return outcomes


def summarise(outcomes: Sequence[Outcome]) -> Report:
    by_lang: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        by_lang[outcome.question.lang].append(outcome)
    return Report(
        overall=_metrics(outcomes),
        by_lang={lang: _metrics(items) for lang, items in sorted(by_lang.items())},
    )


def _metrics(outcomes: Sequence[Outcome]) -> Metrics:
    in_scope = [o for o in outcomes if o.question.expect]
    out_scope = [o for o in outcomes if not o.question.expect]
    n = len(in_scope)
    top1 = top3 = reciprocal = wrong = 0.0
    for o in in_scope:
        rank = o.rank()
        if o.decision != Decision.NONE and rank is not None:
            top1 += rank == 1
            top3 += rank <= 3
            reciprocal += 1.0 / rank
        if o.decision == Decision.ANSWER and rank != 1:
            wrong += 1
    rejected = sum(o.decision == Decision.NONE for o in out_scope)
    return Metrics(
        n=n,
        top1=round(top1 / n, 4) if n else 0.0,
        top3=round(top3 / n, 4) if n else 0.0,
        mrr=round(reciprocal / n, 4) if n else 0.0,
        oos_n=len(out_scope),
        oos_rejected=round(rejected / len(out_scope), 4) if out_scope else 0.0,
        wrong_answer_rate=round(wrong / n, 4) if n else 0.0,
    )


def misses(outcomes: Sequence[Outcome]) -> list[Outcome]:
    """In-scope questions not answered right first, and out-of-scope ones not declined."""
    result = []
    for o in outcomes:
        if o.question.expect:
            if o.decision == Decision.NONE or o.rank() != 1:
                result.append(o)
        elif o.decision != Decision.NONE:
            result.append(o)
    return result


def reply_language_share(questions: Sequence[EvalQuestion], matcher: Matcher) -> dict[str, float]:
    """Per language, the share of questions the bot would answer in the question's language
    (with no /lang choice and no app language to go on)."""
    from rightsdesk.languages import reply_language

    hits: dict[str, list[bool]] = defaultdict(list)
    available = matcher.kb.entries[0].languages if matcher.kb.entries else ()
    for question in questions:
        result = matcher.match(question.q)
        lang = reply_language(
            available=available,
            script=result.script,
            identified=result.identified,
            phrasing=result.phrasing_language,
        )
        hits[question.lang].append(lang == question.lang)
    return {lang: round(sum(h) / len(h), 4) for lang, h in sorted(hits.items())}
