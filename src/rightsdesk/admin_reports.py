"""What admins see: counts, gaps in the knowledge base, exports.

Everything here reads the query log through :class:`~rightsdesk.query_log.QueryLogReader`
and applies two rules: a theme is shown only once at least ``k`` different people asked
it, and a question's words are shown only once at least ``k`` different people sent those
same words (after masking), so that a rare question cannot point at the one person who
asked it, even inside a large theme.

Counting people: pseudonyms rotate every ISO week, so the same person in two weeks looks
like two people. Across weeks we therefore count the *largest number of distinct askers
in any single week* - a lower bound on the true number of people. It may hide a theme
that several people raised in different weeks; it never shows one that only one person
raised.
"""

from __future__ import annotations

import csv
import io
import json
import textwrap
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from rapidfuzz import fuzz, process

from rightsdesk.anonymise import hour_bucket
from rightsdesk.query_log import QueryLogReader

__all__ = [
    "Gap",
    "GapReport",
    "Rating",
    "Stats",
    "export",
    "format_gaps",
    "format_stats",
    "gaps",
    "stats",
]

OTHER = "(other)"
_GAP_KINDS = ("unanswered", "not helpful", "low score")
Row = dict[str, Any]


@dataclass(frozen=True)
class Rating:
    helpful: int
    rated: int
    share: float


@dataclass(frozen=True)
class Stats:
    """Counts for a period. Languages and entries fewer than ``k`` people asked about are
    folded into ``"(other)"``; ``folded_*`` say how many were."""

    since: str | None
    k: int
    total: int
    by_decision: Mapping[str, int]
    by_language: Mapping[str, int]
    by_entry: Mapping[str, int]
    helpful: Mapping[str, Rating]
    askers_per_week: Mapping[str, int]
    folded_languages: int
    folded_entries: int

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["folded"] = {
            "languages": data.pop("folded_languages"),
            "entries": data.pop("folded_entries"),
        }
        return data


@dataclass(frozen=True)
class Gap:
    """A group of similar questions the knowledge base handles badly."""

    kind: str  # the most common of "unanswered", "not helpful", "low score"
    kinds: Mapping[str, int]
    count: int
    askers: int
    closest_entry: str | None
    examples: tuple[str, ...]
    # The language each example was asked in (the most common one, when the k or more
    # people who sent it did not all use the same): where a new phrasing of it belongs.
    example_languages: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GapReport:
    """What :func:`gaps` may show, biggest group first, and how many groups it withheld."""

    groups: tuple[Gap, ...]
    withheld: int

    def to_dict(self) -> dict[str, Any]:
        return {"groups": [asdict(g) for g in self.groups], "withheld": self.withheld}


# --- shared helpers -------------------------------------------------------------------------


def _load(db_path: Path | str, since: timedelta | None, now: datetime | None) -> list[Row]:
    cutoff = _cutoff(since, now)
    with QueryLogReader(db_path) as reader:
        return list(reader.queries(since=cutoff))


def _cutoff(since: timedelta | None, now: datetime | None) -> datetime | None:
    if since is None:
        return None
    return (now or datetime.now(UTC)) - since


def _askers(rows: Iterable[Row]) -> int:
    """People behind ``rows``, at least: the most distinct pseudonyms in any one week."""
    per_week: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        per_week[row["week"]].add(row["asker"])
    return max((len(s) for s in per_week.values()), default=0)


def _normalise(text: str) -> str:
    # Not rapidfuzz's default_process: it strips Thai vowel and tone marks (category M),
    # after which unrelated Thai questions look identical. Only punctuation, symbols and
    # separators become spaces.
    text = unicodedata.normalize("NFC", text).casefold()
    text = "".join(" " if unicodedata.category(ch)[0] in "PSZ" else ch for ch in text)
    return " ".join(text.split())


def _cluster(texts: Sequence[str], threshold: int) -> list[list[int]]:
    """Single-link clusters of ``texts``, as lists of indexes.

    Two texts are linked when their similarity (:func:`_similarity`) reaches ``threshold``;
    a cluster is everything linked directly or through others, so the result does not
    depend on the order of the texts. Texts of one or two words are compared with plain
    ``ratio`` and only with each other: a bare "police" would otherwise link every
    question that mentions police. Cost is quadratic in the number of distinct texts;
    rapidfuzz does the inner loop.
    """
    by_norm: dict[str, list[int]] = defaultdict(list)
    for i, text in enumerate(texts):
        by_norm[_normalise(text)].append(i)
    norms = sorted(by_norm)
    parent = list(range(len(norms)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for short in (True, False):
        ids = [i for i, n in enumerate(norms) if (len(n.split()) < 3) == short]
        pool = [norms[i] for i in ids]
        scorer = fuzz.ratio if short else fuzz.token_set_ratio
        for pos, i in enumerate(ids):
            # token_set_ratio is the larger half of _similarity, so it finds every
            # candidate quickly; the exact score is then checked for those few.
            for other, _, j in process.extract(
                norms[i],
                pool[pos + 1 :],
                scorer=scorer,
                processor=None,
                score_cutoff=threshold,
                limit=None,
            ):
                if short or _similarity(norms[i], other) >= threshold:
                    parent[root(ids[pos + 1 + j])] = root(i)

    clusters: dict[int, list[int]] = defaultdict(list)
    for i, norm in enumerate(norms):
        clusters[root(i)].extend(by_norm[norm])
    return list(clusters.values())


def _similarity(a: str, b: str) -> float:
    """0-100. token_set_ratio alone scores any subset as 100, so "can the police take my
    phone" would match "can the police force me to take a urine test"; averaging with
    token_sort_ratio charges for the words that differ."""
    return (
        fuzz.token_set_ratio(a, b, processor=None) + fuzz.token_sort_ratio(a, b, processor=None)
    ) / 2


def _shared_texts(rows: Iterable[Row], k: int) -> set[str]:
    """The texts (normalised) at least ``k`` different people sent, counted as in
    :func:`_askers`: the only texts any report or export may show."""
    by_text: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_text[_normalise(row["text"])].append(row)
    return {text for text, group in by_text.items() if _askers(group) >= k}


def _examples(texts: list[str], limit: int = 3) -> list[str]:
    """The most central distinct phrasings: typical wording, not the odd one out."""
    counts = Counter(texts)
    # The 200 most frequent are plenty to find the typical ones, and keep this cheap.
    distinct = [text for text, _ in counts.most_common(200)]
    if len(distinct) <= limit:
        return distinct
    norms = [_normalise(t) for t in distinct]
    centrality = [sum(_similarity(n, m) for m in norms) for n in norms]
    ranked = sorted(range(len(distinct)), key=lambda i: (-centrality[i], distinct[i]))
    return [distinct[i] for i in ranked[:limit]]


# --- stats ----------------------------------------------------------------------------------


def stats(
    db_path: Path | str,
    *,
    since: timedelta | None = None,
    k: int = 3,
    now: datetime | None = None,
) -> Stats:
    """Counts for the period: totals, decisions, languages, entries, feedback, askers.

    Totals and decision counts are not folded, as they say nothing about what anyone asked.
    """
    rows = _load(db_path, since, now)
    by_lang: dict[str, list[Row]] = defaultdict(list)
    by_entry: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_lang[row["lang"] or "?"].append(row)
        if row["decision"] == "answer" and row["top_id"]:
            by_entry[row["top_id"]].append(row)

    languages, folded_langs = _fold(by_lang, k)
    entries, folded_entries = _fold(by_entry, k)
    helpful = {}
    for entry, entry_rows in by_entry.items():
        if entry not in entries:
            continue
        rated = [r["helpful"] for r in entry_rows if r["helpful"] is not None]
        if rated:
            helpful[entry] = Rating(sum(rated), len(rated), round(sum(rated) / len(rated), 2))
    weeks: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        weeks[row["week"]].add(row["asker"])
    decisions = Counter(row["decision"] for row in rows)
    cutoff = _cutoff(since, now)
    return Stats(
        since=hour_bucket(cutoff) if cutoff else None,
        k=k,
        total=len(rows),
        by_decision={d: decisions.get(d, 0) for d in ("answer", "clarify", "none")},
        by_language=languages,
        by_entry=entries,
        helpful=helpful,
        askers_per_week={week: len(weeks[week]) for week in sorted(weeks)},
        folded_languages=folded_langs,
        folded_entries=folded_entries,
    )


def _fold(groups: dict[str, list[Row]], k: int) -> tuple[dict[str, int], int]:
    shown: dict[str, int] = {}
    other, folded = 0, 0
    for name, rows in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        if _askers(rows) >= k:
            shown[name] = len(rows)
        else:
            other += len(rows)
            folded += 1
    if other:
        shown[OTHER] = other
    return shown, folded


def format_stats(d: Stats) -> str:
    """``stats()`` as plain text in short lines, for a terminal or a Telegram message."""
    dec = d.by_decision
    lines = [
        f"Queries: {d.total}" + (f" since {d.since[:10]}" if d.since else ""),
        f"Answered {dec['answer']}, clarified {dec['clarify']}, no answer {dec['none']}",
    ]
    if d.by_language:
        lines += ["", "Languages:"]
        lines += [f"  {lang}: {n}" for lang, n in d.by_language.items()]
    if d.by_entry:
        lines += ["", "Answers given:"]
        for entry, n in d.by_entry.items():
            rating = d.helpful.get(entry)
            note = f" (helpful {rating.helpful}/{rating.rated})" if rating else ""
            lines.append(f"  {entry}: {n}{note}")
    if d.askers_per_week:
        lines += ["", "People asking, per week:"]
        lines += [f"  {week}: {n}" for week, n in d.askers_per_week.items()]
    if d.folded_languages + d.folded_entries:
        lines += ["", f"{OTHER}: asked by fewer than {d.k} people"]
    return "\n".join(lines)


# --- gaps -----------------------------------------------------------------------------------


def _gap_kind(row: Row, low_score: float) -> str | None:
    if row["decision"] == "none":
        return "unanswered"
    if row["helpful"] is False:
        return "not helpful"
    if row["top_score"] is not None and row["top_score"] < low_score:
        return "low score"
    return None


def gaps(
    db_path: Path | str,
    *,
    since: timedelta | None = None,
    k: int = 3,
    threshold: int = 80,
    low_score: float = 50,
    now: datetime | None = None,
) -> GapReport:
    """Questions the knowledge base handles badly, grouped by similar wording.

    Candidates are queries left unanswered, rated not helpful, or matched with a score
    below ``low_score``. Similar texts (``threshold``, 0-100) form a group; each group
    has ``kind`` (its most common kind), ``kinds``, ``count``, ``askers``,
    ``closest_entry`` (its most common top match, or None) and up to three ``examples``.
    Groups asked by fewer than ``k`` people are withheld, and only counted.
    """
    candidates = []
    for row in _load(db_path, since, now):
        kind = _gap_kind(row, low_score)
        if kind:
            candidates.append({**row, "kind": kind})
    shown: list[Gap] = []
    withheld = 0
    shareable = _shared_texts(candidates, k)
    for members in _cluster([c["text"] for c in candidates], threshold):
        rows = [candidates[i] for i in members]
        people = _askers(rows)
        if people < k:
            withheld += 1
            continue
        kinds = Counter(r["kind"] for r in rows)
        entries = Counter(r["top_id"] for r in rows if r["top_id"])
        examples = _examples([r["text"] for r in rows if _normalise(r["text"]) in shareable])
        shown.append(
            Gap(
                kind=min(kinds, key=lambda kd: (-kinds[kd], _GAP_KINDS.index(kd))),
                kinds={kd: kinds[kd] for kd in _GAP_KINDS if kinds[kd]},
                count=len(rows),
                askers=people,
                closest_entry=entries.most_common(1)[0][0] if entries else None,
                examples=tuple(examples),
                example_languages=_languages(examples, rows),
            )
        )
    shown.sort(key=lambda g: (-g.count, -g.askers, g.examples[:1]))
    return GapReport(tuple(shown), withheld)


def _languages(examples: Sequence[str], rows: Sequence[Row]) -> dict[str, str]:
    by_text: dict[str, Counter[str]] = defaultdict(Counter)
    for row in rows:
        by_text[row["text"]][row["lang"] or ""] += 1
    return {
        text: min(by_text[text], key=lambda lang: (-by_text[text][lang], lang)) for text in examples
    }


def format_gaps(report: GapReport) -> str:
    """``gaps()`` as plain text in short lines, for a terminal or a Telegram message."""
    lines = [f"Gaps: {len(report.groups)} group(s)"]
    for n, group in enumerate(report.groups, 1):
        lines += ["", f"{n}. {group.kind}: {group.count} queries, {group.askers}+ people"]
        if group.closest_entry:
            lines.append(f"   closest: {group.closest_entry}")
        for example in group.examples:
            lines.append("   - " + textwrap.shorten(example, width=70, placeholder="..."))
        if not group.examples:
            lines.append("   (no wording sent by enough people to show)")
    if report.withheld:
        lines += ["", f"{report.withheld} smaller group(s) withheld: too few people asked."]
    return "\n".join(lines)


# --- export ---------------------------------------------------------------------------------

_AGGREGATE_FIELDS = ("week", "lang", "decision", "top_id", "queries", "askers")
_ROW_FIELDS = (
    "hour", "week", "lang", "text", "decision", "top_id", "top_score", "runner_up_ids",
    "kb_version", "helpful",
)  # fmt: skip


def export(
    db_path: Path | str,
    *,
    fmt: Literal["csv", "json"],
    rows: bool = False,
    k: int = 3,
    since: timedelta | None = None,
    threshold: int = 80,
    now: datetime | None = None,
) -> str:
    """Data for use outside the server, as CSV or JSON text.

    By default, aggregates: one cell per week x language x decision x top entry, with
    ``queries`` and ``askers``. Pseudonyms are exact within a week, so a cell's askers
    count is exact; cells with fewer than ``k`` askers are left out. ``since`` is widened
    to the start of its ISO week, so every cell covers a whole week and two exports with
    different ``since`` cannot be subtracted to isolate a few queries.

    With ``rows=True``: one line per query, without its key and without the asker
    pseudonym (it links a person's questions within a week); hour and masked text are
    kept. Only queries whose exact (masked) text at least ``k`` people sent are included;
    ``threshold`` is accepted for compatibility and no longer widens that.

    JSON is an object with the settings, the number of cells or rows withheld, and the
    data; CSV is the data alone.
    """
    if fmt not in ("csv", "json"):
        raise ValueError(f"fmt must be 'csv' or 'json', not {fmt!r}")
    cutoff = _cutoff(since, now)
    fields: tuple[str, ...]
    if rows:
        data, withheld = _export_rows(db_path, cutoff, k, threshold)
        fields = _ROW_FIELDS
    else:
        cutoff = _week_start(cutoff) if cutoff else None
        data, withheld = _export_cells(db_path, cutoff, k)
        fields = _AGGREGATE_FIELDS
    if fmt == "json":
        document = {
            "kind": "rows" if rows else "aggregates",
            "k": k,
            "since": hour_bucket(cutoff) if cutoff else None,
            "withheld": withheld,
            "data": data,
        }
        return json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for item in data:
        if "runner_up_ids" in item:
            item = {**item, "runner_up_ids": json.dumps(item["runner_up_ids"])}
        writer.writerow(item)
    return out.getvalue()


def _week_start(when: datetime) -> datetime:
    """Monday 00:00 UTC of the ISO week of ``when``, the weeks the log is kept in."""
    when = when.astimezone(UTC)
    monday = when - timedelta(days=when.isocalendar().weekday - 1)
    return monday.replace(hour=0, minute=0, second=0, microsecond=0)


def _export_cells(
    db_path: Path | str, since: datetime | None, k: int
) -> tuple[list[dict[str, Any]], int]:
    with QueryLogReader(db_path) as reader:
        all_rows = list(reader.queries(since=since))
    cells: dict[tuple[str, ...], list[Row]] = defaultdict(list)
    for row in all_rows:
        cells[(row["week"], row["lang"], row["decision"], row["top_id"])].append(row)
    data, withheld = [], 0
    for (week, lang, decision, top_id), cell in sorted(cells.items(), key=_cell_order):
        people = len({r["asker"] for r in cell})
        if people < k:
            withheld += 1
            continue
        data.append(
            {
                "week": week,
                "lang": lang,
                "decision": decision,
                "top_id": top_id,
                "queries": len(cell),
                "askers": people,
            }
        )
    return data, withheld


def _cell_order(item: tuple[tuple[str, ...], list[Row]]) -> tuple[str, ...]:
    week, lang, decision, top_id = item[0]
    return (week, lang or "", decision, top_id or "")


def _export_rows(
    db_path: Path | str, cutoff: datetime | None, k: int, threshold: int
) -> tuple[list[dict[str, Any]], int]:
    with QueryLogReader(db_path) as reader:
        all_rows = list(reader.queries(since=cutoff))
    shareable = _shared_texts(all_rows, k)
    keep = [r for r in all_rows if _normalise(r["text"]) in shareable]
    keep.sort(key=lambda r: (r["hour"], r["lang"] or "", r["text"]))
    data = [{name: row[name] for name in _ROW_FIELDS} for row in keep]
    return data, len(all_rows) - len(keep)
