"""Per-person flood control: at most ``limit`` updates per ``window_s``, in memory only.

Counts are keyed by the Telegram id, which is never written down. Pure Python, so the
Telegram adapter's gate and its tests share one rule.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable
from enum import Enum

# Above this many people in memory, the quiet ones are forgotten, so memory stays flat on a
# bot that meets many people.
USERS_KEPT = 10_000


class Verdict(Enum):
    ALLOW = "allow"  # handle the update
    WARN = "warn"  # over the limit: tell the person once, then drop
    DROP = "drop"  # over the limit and already told: drop quietly


class FloodGate:
    def __init__(
        self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.clock = clock
        self._seen: dict[int, deque[float]] = defaultdict(deque)
        self._warned: dict[int, float] = {}

    def check(self, user_id: int) -> Verdict:
        now = self.clock()
        if len(self._seen) > USERS_KEPT:
            self._forget_quiet_users(now)
        seen = self._seen[user_id]
        while seen and now - seen[0] > self.window_s:
            seen.popleft()
        if len(seen) < self.limit:
            seen.append(now)
            self._warned.pop(user_id, None)
            return Verdict.ALLOW
        if now - self._warned.get(user_id, -self.window_s - 1) > self.window_s:
            self._warned[user_id] = now
            return Verdict.WARN
        return Verdict.DROP

    def _forget_quiet_users(self, now: float) -> None:
        quiet = [u for u, seen in self._seen.items() if not seen or now - seen[-1] > self.window_s]
        for user_id in quiet:
            del self._seen[user_id]
            self._warned.pop(user_id, None)
