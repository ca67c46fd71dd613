"""Timing the matcher: index build, per-query latency, memory, today and at 10 times the size.

A benchmark prints numbers; it is not a timed unit test, whose verdict would depend on
whatever else the machine was doing.
"""

from __future__ import annotations

import random
import resource
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from rightsdesk.knowledge_base import Entry, KnowledgeBase
from rightsdesk.localized import Localized
from rightsdesk.matching import Matcher
from rightsdesk.scope_model import ScopeModel

# With all seven languages loaded. The memory target is the bot's own: measured once the
# matcher for today's knowledge base is built, before the ten-fold copy is made.
TARGETS = {"build_s": 3.0, "p99_ms": 5.0, "p99_ms_10x": 30.0, "peak_rss_mb": 300.0}


def scaled(kb: KnowledgeBase, factor: int, *, seed: int = 7) -> KnowledgeBase:
    """The base replicated ``factor`` times, each copy's phrasings perturbed with typos."""
    rng = random.Random(seed)
    entries: list[Entry] = list(kb.entries)
    for copy in range(1, factor):
        for entry in kb.entries:
            questions = Localized(
                {
                    lang: tuple(_perturb(q, rng) for q in items)
                    for lang, items in entry.questions.values.items()
                }
            )
            title = Localized({lang: _perturb(t, rng) for lang, t in entry.title.values.items()})
            entries.append(
                replace(
                    entry,
                    id=f"{entry.id}-copy{copy}",
                    ref=None,
                    title=title,
                    questions=questions,
                    related=(),
                )
            )
    return KnowledgeBase(
        tuple(entries),
        kb.synonyms,
        f"{kb.version}-x{factor}",
        kb.root,
        declines=kb.declines,
        rights_words=kb.rights_words,
        words=kb.words,
    )


def _perturb(text: str, rng: random.Random) -> str:
    words = text.split()
    if len(words) > 2:
        i = rng.randrange(len(words))
        word = words[i]
        if len(word) > 3:
            j = rng.randrange(len(word) - 1)
            words[i] = word[:j] + word[j + 1] + word[j] + word[j + 2 :]
    if len(words) > 3 and rng.random() < 0.5:
        a, b = rng.sample(range(len(words)), 2)
        words[a], words[b] = words[b], words[a]
    return " ".join(words)


def _percentile(samples: Sequence[float], share: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def measure(
    kb: KnowledgeBase,
    questions: Sequence[str],
    *,
    rounds: int = 5,
    scope: ScopeModel | None = None,
) -> dict[str, float]:
    started = time.perf_counter()
    matcher = Matcher(kb, scope=scope)
    build_s = time.perf_counter() - started
    for q in questions[:20]:  # warm caches as a running bot would have them
        matcher.match(q)
    latencies: list[float] = []
    total_started = time.perf_counter()
    for _ in range(rounds):
        for q in questions:
            t0 = time.perf_counter()
            matcher.match(q)
            latencies.append((time.perf_counter() - t0) * 1000.0)
    total = time.perf_counter() - total_started
    return {
        "entries": len(kb),
        "build_s": round(build_s, 4),
        "queries": len(latencies),
        "p50_ms": round(_percentile(latencies, 0.50), 3),
        "p99_ms": round(_percentile(latencies, 0.99), 3),
        "max_ms": round(max(latencies), 3),
        "qps": round(len(latencies) / total, 1),
    }


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports kilobytes, macOS bytes.
    return round(peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024, 1)


def run(
    kb: KnowledgeBase, questions: Sequence[str], *, scope: ScopeModel | None = None
) -> dict[str, Any]:
    """The matcher timed as the bot runs it: with the scope model when there is one (it is
    read before, and its memory counts in the peak)."""
    today = measure(kb, questions, scope=scope)
    rss = peak_rss_mb()
    tenfold = measure(scaled(kb, 10), questions, rounds=2, scope=scope)
    checks = {
        "build_s": today["build_s"] < TARGETS["build_s"],
        "p99_ms": today["p99_ms"] < TARGETS["p99_ms"],
        "p99_ms_10x": tenfold["p99_ms"] < TARGETS["p99_ms_10x"],
        "peak_rss_mb": rss < TARGETS["peak_rss_mb"],
    }
    return {
        "today": today,
        "tenfold": tenfold,
        "peak_rss_mb": rss,
        "peak_rss_mb_with_tenfold": peak_rss_mb(),
        "targets": TARGETS,
        "met": checks,
        "note": "single thread (one core); latency per matcher.match call",
    }
