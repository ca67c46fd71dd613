"""What is computed from a question's text alone: the emergency it may be about, and the
entries it matches.

This is the pure, CPU-heavy half of answering (about 1 ms of a question's 2): no person, no
conversation, no log. So it can run in another process (:mod:`rightsdesk.analysis_worker`)
and cross a pipe as plain data, while the desk keeps everything stateful. The wire form holds
entry ids and scores, never an object, and the :func:`version` of the content it was computed
from: the desk rebuilds the result from its own knowledge base, and only when the versions
are equal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rightsdesk.decision import Decision
from rightsdesk.emergency import Emergencies, Found
from rightsdesk.knowledge_base import KnowledgeBase
from rightsdesk.matching import Match, Matcher, MatchResult
from rightsdesk.scope_model import ScopeModel


@dataclass(frozen=True)
class Analysis:
    """A question's emergency (checked before matching, and whatever matching finds) and
    what the matcher found."""

    found: Found | None
    result: MatchResult


def version(
    kb: KnowledgeBase, emergencies: Emergencies | None, scope: ScopeModel | None = None
) -> str:
    """Everything an analysis depends on: the knowledge base, the emergency words and the
    scope model."""
    scoped = f"+scope-{scope.trained_on[:12]}" if scope is not None else ""
    return f"{kb.version}+{emergencies.version if emergencies else 'none'}{scoped}"


def analyse(text: str, matcher: Matcher, emergencies: Emergencies | None) -> Analysis:
    """``text`` as :func:`rightsdesk.desk.question_text` made it."""
    # Before matching, and whatever it finds: an emergency card must not depend on it.
    found = emergencies.detect(text) if emergencies else None
    return Analysis(found, matcher.match(text))


def to_wire(analysis: Analysis) -> dict[str, Any]:
    """Plain JSON data: ids, scores and language codes."""
    result, found = analysis.result, analysis.found
    return {
        "found": None if found is None else [found.kind, found.lang, found.strong, found.by_model],
        "decision": result.decision.value,
        "matches": [[m.entry.id, m.score] for m in result.matches],
        "choices": [[m.entry.id, m.score] for m in result.choices],
        "declined": result.declined.id if result.declined else None,
        "script": result.script,
        "encoding": result.encoding,
        "identified": result.identified,
        "phrasing": result.phrasing_language,
        "out_of_scope": result.out_of_scope,
    }


def from_wire(data: dict[str, Any], kb: KnowledgeBase) -> Analysis:
    """The analysis again, with ``kb``'s own entries; ValueError if anything is amiss (an
    id ``kb`` does not have, a field of the wrong type)."""
    try:
        found = data["found"]
        declined_id = data["declined"]
        declined = None
        if declined_id is not None:
            declined = next(d for d in kb.declines if d.id == declined_id)
        result = MatchResult(
            Decision(data["decision"]),
            _matches(data["matches"], kb),
            declined=declined,
            choices=_matches(data["choices"], kb),
            script=_optional(data["script"]) or "none",  # type: ignore[arg-type]
            encoding=_optional(data["encoding"]),  # type: ignore[arg-type]
            identified=_optional(data["identified"]),
            phrasing_language=_optional(data["phrasing"]),
            out_of_scope=_probability(data["out_of_scope"]),
        )
        if found is not None:
            kind, lang, strong, by_model = found
            found = Found(str(kind), str(lang), bool(strong), bool(by_model))
        return Analysis(found, result)
    except (KeyError, TypeError, ValueError, StopIteration) as error:
        raise ValueError(f"malformed analysis: {type(error).__name__}") from error


def _matches(pairs: list[list[Any]], kb: KnowledgeBase) -> tuple[Match, ...]:
    matches = []
    for entry_id, score in pairs:
        entry = kb.get(entry_id)
        if entry is None or not isinstance(score, (int, float)):
            raise ValueError("unknown entry")
        matches.append(Match(entry, float(score)))
    return tuple(matches)


def _optional(value: object) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError("expected a string")
    return value


def _probability(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError("expected a probability")
    return float(value)
