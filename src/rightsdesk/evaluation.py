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


# -- emergency cards ------------------------------------------------------------------------
#
# An emergency file is a YAML list of ``{q, lang, emergency}``: ``emergency`` is the kind of
# card that must come first, or null for a look-alike that must get none.


@dataclass(frozen=True)
class EmergencyQuestion:
    q: str
    lang: str
    emergency: str | None
    line: int


@dataclass(frozen=True)
class EmergencyMetrics:
    """``recall``: share of urgent messages that got a card; ``right_kind``: of those, the
    right kind; ``false_cards``: share of look-alikes that got a card."""

    urgent: int
    recall: float
    right_kind: float
    lookalikes: int
    false_cards: float


def is_emergency_file(path: Path) -> bool:
    try:
        data = load_yaml(path).data
    except (YamlSyntaxError, OSError):
        return False
    return (
        isinstance(data, list)
        and bool(data)
        and isinstance(data[0], dict)
        and ("emergency" in data[0])
    )


def load_emergency_questions(path: Path) -> list[EmergencyQuestion]:
    try:
        doc = load_yaml(path)
    except (YamlSyntaxError, OSError) as error:
        raise EvalFileError(str(error)) from error
    if not isinstance(doc.data, list):
        raise EvalFileError(f"{path}:1: expected a list of {{q, lang, emergency}} items")
    out = []
    for i, item in enumerate(doc.data):
        line = doc.line_of(i)
        if not isinstance(item, dict) or not isinstance(item.get("q"), str):
            raise EvalFileError(f"{path}:{line}: each item needs a text 'q'")
        if "emergency" not in item:
            raise EvalFileError(f"{path}:{line}: each item needs 'emergency' (a kind or null)")
        kind = item["emergency"]
        out.append(
            EmergencyQuestion(
                item["q"], str(item.get("lang", "en")), str(kind) if kind else None, line
            )
        )
    return out


EmergencyOutcome = tuple[EmergencyQuestion, str | None]


def evaluate_emergencies(
    questions: Sequence[EmergencyQuestion], detect: Callable[[str], str | None]
) -> list[EmergencyOutcome]:
    return [(q, detect(q.q)) for q in questions]


def summarise_emergencies(
    outcomes: Sequence[EmergencyOutcome],
) -> tuple[EmergencyMetrics, dict[str, EmergencyMetrics]]:
    by_lang: dict[str, list[EmergencyOutcome]] = defaultdict(list)
    for outcome in outcomes:
        by_lang[outcome[0].lang].append(outcome)
    return _emergency_metrics(outcomes), {
        lang: _emergency_metrics(items) for lang, items in sorted(by_lang.items())
    }


def _emergency_metrics(outcomes: Sequence[EmergencyOutcome]) -> EmergencyMetrics:
    urgent = [(q, got) for q, got in outcomes if q.emergency]
    lookalikes = [(q, got) for q, got in outcomes if not q.emergency]
    carded = [(q, got) for q, got in urgent if got]
    return EmergencyMetrics(
        urgent=len(urgent),
        recall=round(len(carded) / len(urgent), 4) if urgent else 0.0,
        right_kind=round(sum(q.emergency == got for q, got in carded) / len(carded), 4)
        if carded
        else 0.0,
        lookalikes=len(lookalikes),
        false_cards=round(sum(bool(got) for _, got in lookalikes) / len(lookalikes), 4)
        if lookalikes
        else 0.0,
    )
