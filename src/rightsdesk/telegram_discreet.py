"""Discreet chats: deleting both sides of a Telegram chat after a delay, or at once.

A phone taken at a police station shows every question and answer. With ``/discreet`` the
bot deletes the person's messages and its own a few minutes after each is sent; ``/wipe``
deletes at once everything it still can. Telegram lets a bot delete any message of a private
chat for 48 hours, so the shredder remembers, per chat, the messages of the last 48 hours.

Everything here lives in memory only: which chats are discreet, their message ids and the
deletions still to come are never written down. The price is that a restart forgets them;
``stop()`` therefore carries out every pending deletion before the bot exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterable

log = logging.getLogger("rightsdesk.discreet")

DELETE_WINDOW_S = 48 * 3600.0  # Telegram's limit for bots in private chats
MESSAGES_KEPT = 500  # per chat: /wipe deletes at most this many of the latest
CHATS_KEPT = 100_000
DELETE_TIMEOUT_S = 10.0

Delete = Callable[[int, int], Awaitable[bool]]


class Shredder:
    """Which chats are discreet, the messages of each, and the deletions to come."""

    def __init__(self, delete: Delete, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._delete = delete
        self.clock = clock  # public so that tests can move time on
        self._delays: dict[int, float] = {}  # chat id -> seconds
        self._seen: OrderedDict[int, deque[tuple[float, int]]] = OrderedDict()
        self._due: list[tuple[float, int, int]] = []  # (when, chat id, message id), a heap
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.deleted = 0

    # -- what handlers tell it ------------------------------------------------------------

    def set_delay(self, chat_id: int, minutes: int) -> None:
        """Delete this chat's messages ``minutes`` after they are sent from now on; 0 stops."""
        if minutes:
            delay = self._delays[chat_id] = minutes * 60.0
            # What is already in the chat goes too: "delete this chat" means all of it.
            due = self.clock() + delay
            queued = {m for _, c, m in self._due if c == chat_id}
            for _, message_id in self._seen.get(chat_id, ()):
                if message_id not in queued:
                    heapq.heappush(self._due, (due, chat_id, message_id))
            self._wake.set()
        else:
            self._delays.pop(chat_id, None)
            self._due = [d for d in self._due if d[1] != chat_id]
            heapq.heapify(self._due)

    @property
    def pending(self) -> int:
        """How many deletions are waiting."""
        return len(self._due)

    def saw(self, chat_id: int, message_ids: Iterable[int]) -> None:
        """Messages of either side that now exist in the chat."""
        now = self.clock()
        seen = self._seen.setdefault(chat_id, deque(maxlen=MESSAGES_KEPT))
        self._seen.move_to_end(chat_id)
        while len(self._seen) > CHATS_KEPT:
            self._seen.popitem(last=False)
        delay = self._delays.get(chat_id)
        for message_id in message_ids:
            seen.append((now, message_id))
            if delay is not None:
                heapq.heappush(self._due, (now + delay, chat_id, message_id))
        if delay is not None:
            self._wake.set()

    async def wipe(self, chat_id: int) -> int:
        """Delete now every message of the chat the bot may still delete; how many went."""
        seen = self._seen.pop(chat_id, deque())
        self._due = [d for d in self._due if d[1] != chat_id]
        heapq.heapify(self._due)
        oldest = self.clock() - DELETE_WINDOW_S
        count = 0
        for sent, message_id in seen:
            if sent >= oldest and await self._delete(chat_id, message_id):
                count += 1
        self.deleted += count
        return count

    # -- the deleting loop ----------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop the loop and carry out every deletion still pending, due or not."""
        task, self._task = self._task, None
        if task is not None:
            # A flag first, cancel() only as a last resort: in Python 3.11 asyncio.wait_for
            # can swallow a cancellation that arrives just as its inner call finishes, and
            # the loop then ran on for ever (a CI run hung here).
            self._stopping = True
            self._wake.set()
            done, _ = await asyncio.wait({task}, timeout=DELETE_TIMEOUT_S + 1)
            if not done:
                task.cancel()
                await asyncio.wait({task}, timeout=1)
            self._stopping = False
        pending, self._due = self._due, []
        for _, chat_id, message_id in sorted(pending):
            await self._delete_quietly(chat_id, message_id)

    async def run_due(self) -> int:
        """Delete what is due now; how many deletions were attempted."""
        now = self.clock()
        done = 0
        while self._due and self._due[0][0] <= now:
            _, chat_id, message_id = heapq.heappop(self._due)
            await self._delete_quietly(chat_id, message_id)
            done += 1
        return done

    async def _run(self) -> None:
        while not self._stopping:
            await self.run_due()
            if self._stopping:
                return
            wait = self._due[0][0] - self.clock() if self._due else None
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def _delete_quietly(self, chat_id: int, message_id: int) -> None:
        try:
            # Bounded: a request that hangs must not hold up the others, or shutdown.
            if await asyncio.wait_for(self._delete(chat_id, message_id), DELETE_TIMEOUT_S):
                self.deleted += 1
        except Exception as error:  # one failed deletion must not stop the others
            log.warning("a scheduled deletion failed: %s", type(error).__name__)
        seen = self._seen.get(chat_id)
        if seen:
            remaining = [(t, m) for t, m in seen if m != message_id]
            self._seen[chat_id] = deque(remaining, maxlen=MESSAGES_KEPT)
