"""Fetching updates from Telegram, and confirming each one only once it has been handled.

Telegram keeps an update until a ``getUpdates`` call asks for an offset above its id.
python-telegram-bot's own updater asks for that offset as soon as it has *fetched* an update,
so a bot killed with 500 questions fetched and 250 answered leaves 250 people with no answer.
Here the offset passes an update only once its handlers have finished (the reply was sent, or
the update was deliberately dropped), so a crash at any moment means Telegram delivers every
unfinished update again after the restart.

What is kept to do this: update ids, in memory, and nothing else. Nothing goes to disk: after
a crash Telegram itself is the store, and a file of pending updates would be a file of people's
questions and ids on a phone-seizure-prone server. The cost is that updates handled but not yet
confirmed when the process dies are handled again after the restart: a duplicate answer, which
is better than none. The poller confirms often (every poll while anything is in flight), so
there are few.

Telegram answers ``getUpdates`` at once while unconfirmed updates exist, so the poller sees
the in-flight ones again on every poll; :class:`Ledger` tells new from seen.

The HTTP side is httpx, not python-telegram-bot's request layer, because the poller must tell a
revoked token (401, and again on ``getMe``) from a broken proxy (404, 502, HTML pages, garbage)
and parse updates one by one, so that one update the library cannot read is dropped instead of
being fetched again for ever.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from telegram import Bot, Update

log = logging.getLogger("rightsdesk.telegram.delivery")

# Telegram returns at most 100 updates per call.
_LIMIT = 100
# While updates are in flight, at most one poll per this many seconds: each poll fetches and
# reads the in-flight ones again. Also the longest a new update waits for a busy bot to see it.
_BUSY_POLL_GAP_S = 0.025
# While more updates wait for a handler than there are handlers, polling again fetches nothing
# new to do: the next poll waits until this many have finished (so that it confirms them and
# makes room in Telegram's window of 100), the queue runs short, or _CONFIRM_EVERY_S passes.
# Polling after every finished update instead read each update about 23 times in a burst of
# 2,000 (472 polls), in the same process that answers.
_FINISHED_PER_POLL = _LIMIT // 4
# The longest finished updates wait to be confirmed while the bot is busy: what a crash then
# would hand out a second time.
_CONFIRM_EVERY_S = 1.0


class TokenRevoked(Exception):
    """Telegram keeps rejecting the token (getUpdates and getMe both 401): nothing will pass."""


class _Transient(Exception):
    """A poll failed in a way that waiting may fix; the message never holds the URL."""


class _Unauthorized(Exception):
    pass


class Ledger:
    """Which fetched updates are still being handled, and so how far Telegram may forget.

    Memory only; see the module docstring for why.
    """

    def __init__(self) -> None:
        self._in_flight: set[int] = set()
        self._done: set[int] = set()
        self._next = 0  # every id below this is confirmed, or may be

    def is_new(self, update_id: int) -> bool:
        return (
            update_id >= self._next
            and update_id not in self._in_flight
            and update_id not in self._done
        )

    def start(self, update_id: int) -> None:
        self._in_flight.add(update_id)

    def finish(self, update_id: int) -> None:
        self._in_flight.discard(update_id)
        self._done.add(update_id)

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def offset(self) -> int | None:
        """The offset to confirm with: just past every finished update below the first
        unfinished one. None before anything was fetched (Telegram then keeps everything)."""
        if not self._in_flight and not self._done:
            return self._next or None
        floor = min(self._in_flight) if self._in_flight else max(self._done) + 1
        self._next = max(self._next, floor)
        self._done = {i for i in self._done if i >= self._next}
        return self._next


@dataclass
class DeliveryStats:
    fetched: int = 0
    handled: int = 0
    unreadable: int = 0  # updates the library could not parse: dropped, counted
    poll_failures: int = 0


Handle = Callable[[Update], Awaitable[None]]


class Poller:
    """Long polling with confirmation after handling.

    ``handle`` is called once per new update (normally ``Application.process_update``), at
    most ``concurrency`` at a time. :meth:`run` polls until :meth:`stop` is called, then lets
    handlers in flight finish (up to ``grace_s``), confirms what they finished and returns;
    it raises :class:`TokenRevoked` if Telegram keeps rejecting the token.
    """

    def __init__(
        self,
        bot: Bot,
        handle: Handle,
        *,
        concurrency: int = 8,
        poll_timeout: float = 10.0,
        allowed_updates: list[str] | None = None,
        revoked_after_s: float = 30.0,
        max_backoff_s: float = 30.0,
        grace_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._bot = bot
        self._handle = handle
        self._slots = asyncio.Semaphore(concurrency)
        self._concurrency = concurrency
        self._queued = 0  # fetched updates waiting for a free handler
        self._finished_since_poll = 0
        self.poll_timeout = poll_timeout
        self.allowed_updates = allowed_updates if allowed_updates is not None else Update.ALL_TYPES
        self.revoked_after_s = revoked_after_s
        self.max_backoff_s = max_backoff_s
        self.grace_s = grace_s
        self.ledger = Ledger()
        self.stats = DeliveryStats()
        self._progress = asyncio.Event()
        self._stopping = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._client = httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(5.0, read=poll_timeout + 10.0),
            follow_redirects=False,
        )
        self._first_rejection: float | None = None

    # -- running

    async def run(self) -> None:
        failures = 0
        try:
            while not self._stopping.is_set():
                polled = time.monotonic()
                try:
                    batch = await self._until_stopped(self._poll())
                except _Transient as error:
                    failures += 1
                    self.stats.poll_failures += 1
                    delay = self._backoff(failures)
                    log.warning("getUpdates failed (%s); retrying in %.1f s", error, delay)
                    await self._sleep(delay)
                    continue
                except _Unauthorized:
                    failures += 1
                    self.stats.poll_failures += 1
                    await self._check_token()
                    await self._sleep(self._until_revoked(self._backoff(failures)))
                    continue
                if batch is None:  # stopping
                    break
                failures = 0
                self._first_rejection = None
                fresh = self._dispatch(batch)
                if self.ledger.in_flight and (not fresh or self._queued >= self._concurrency):
                    await self._until_worth_polling(polled)
                self._finished_since_poll = 0
                self._progress.clear()
        finally:
            await self._drain()

    async def _until_worth_polling(self, polled: float) -> None:
        """Telegram keeps answering at once with the updates in flight: instead of fetching
        and reading them again straight away, wait until one finishes (or a moment passes),
        or, while a queue waits for handlers, until many have finished; then a little longer,
        so that one poll confirms many replies rather than one."""
        deadline = polled + _CONFIRM_EVERY_S
        while (remaining := deadline - time.monotonic()) > 0:
            if self._finished_since_poll and (
                self._queued < self._concurrency or self._finished_since_poll >= _FINISHED_PER_POLL
            ):
                break
            self._progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), remaining)
            if self._stopping.is_set():
                return
        await self._sleep(_BUSY_POLL_GAP_S - (time.monotonic() - polled))

    def stop(self) -> None:
        """Ask :meth:`run` to stop (safe from a signal handler)."""
        self._stopping.set()

    async def _drain(self) -> None:
        """Let handlers in flight finish, confirm what they finished, and leave the rest
        unconfirmed so that Telegram delivers them again after the restart."""
        self._stopping.set()
        try:
            if self._tasks:
                _, pending = await asyncio.wait(set(self._tasks), timeout=self.grace_s)
                for task in pending:
                    task.cancel()
                if pending:
                    await asyncio.wait(pending, timeout=2.0)
            with contextlib.suppress(Exception):
                await self._confirm()
        finally:
            await self._client.aclose()

    # -- one poll

    async def _poll(self) -> list[Any]:
        params: dict[str, Any] = {
            "timeout": 0 if self.ledger.in_flight else int(self.poll_timeout),
            "limit": _LIMIT,
            "allowed_updates": self.allowed_updates,
        }
        offset = self.ledger.offset()
        if offset is not None:
            params["offset"] = offset
        result = await self._call("getUpdates", params)
        if not isinstance(result, list):
            raise _Transient("the answer was not a list of updates")
        return result

    async def _confirm(self) -> None:
        offset = self.ledger.offset()
        if offset is not None:
            await self._call("getUpdates", {"offset": offset, "timeout": 0, "limit": 1})

    async def _call(self, method: str, params: dict[str, Any]) -> Any:
        url = f"{self._bot.base_url}/{method}"
        try:
            response = await self._client.post(url, json=params)
        except httpx.TimeoutException as error:
            raise _Transient(f"timed out: {type(error).__name__}") from None
        except httpx.HTTPError as error:
            raise _Transient(f"network: {type(error).__name__}") from None
        if response.status_code == 401:
            raise _Unauthorized
        try:
            body = response.json()
        except ValueError:
            raise _Transient(f"HTTP {response.status_code}, not JSON") from None
        if response.status_code == 429 and isinstance(body, dict):
            retry_after = (body.get("parameters") or {}).get("retry_after")
            if isinstance(retry_after, int | float) and 0 < retry_after <= 3600:
                await self._sleep(float(retry_after))
            raise _Transient("HTTP 429, flood control")
        if response.status_code != 200 or not isinstance(body, dict) or body.get("ok") is not True:
            raise _Transient(f"HTTP {response.status_code}")
        return body.get("result")

    def _dispatch(self, batch: list[Any]) -> int:
        fresh = 0
        for raw in batch:
            update_id = raw.get("update_id") if isinstance(raw, dict) else None
            if not isinstance(update_id, int) or isinstance(update_id, bool):
                continue  # later ids confirm it; it cannot be confirmed on its own
            if not self.ledger.is_new(update_id):
                continue
            fresh += 1
            self.stats.fetched += 1
            try:
                update = Update.de_json(raw, self._bot)
            except Exception as error:
                # Never log the update: it holds the sender's id, name and text.
                self.stats.unreadable += 1
                log.warning("update %d could not be read (%s); dropped", update_id, _kind(error))
                self.ledger.finish(update_id)
                continue
            self.ledger.start(update_id)
            self._queued += 1
            task = asyncio.create_task(self._run_handler(update_id, update))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return fresh

    async def _run_handler(self, update_id: int, update: Update) -> None:
        try:
            await self._slots.acquire()
        finally:
            self._queued -= 1
        try:
            try:
                await self._handle(update)
            except asyncio.CancelledError:
                # Shutting down mid-reply: leave it unconfirmed, so it is delivered again.
                log.info("update %d left for after the restart", update_id)
                raise
            except Exception as error:
                log.error("update %d: handling raised %s", update_id, _kind(error))
        finally:
            self._slots.release()
        self.stats.handled += 1
        self.ledger.finish(update_id)
        self._finished_since_poll += 1
        self._progress.set()

    # -- the token

    async def _check_token(self) -> None:
        """A 401 on getUpdates: ask getMe. Only a rejection that lasts ``revoked_after_s``
        ends the process; a proxy or a Telegram hiccup must not."""
        now = time.monotonic()
        try:
            await self._call("getMe", {})
        except _Unauthorized:
            if self._first_rejection is None:
                self._first_rejection = now
            elif now - self._first_rejection >= self.revoked_after_s:
                raise TokenRevoked from None
            log.warning("Telegram rejected the token (401); checking again before giving up")
            return
        except _Transient:
            return
        self._first_rejection = None

    # -- waiting

    def _until_revoked(self, delay: float) -> float:
        """``delay``, cut short so that the check after it falls when ``revoked_after_s`` is
        up: doubling backoff alone overshot it by up to half again."""
        if self._first_rejection is None:
            return delay
        left = self._first_rejection + self.revoked_after_s - time.monotonic()
        return min(delay, max(0.05, left))

    def _backoff(self, failures: int) -> float:
        base: float = min(self.max_backoff_s, 0.25 * 2.0 ** min(failures, 10))
        return base * random.uniform(0.8, 1.2)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _until_stopped(self, call: Awaitable[list[Any]]) -> list[Any] | None:
        """``call``'s result, or None if stop() came first (the poll is then abandoned)."""
        poll = asyncio.ensure_future(call)
        stopping = asyncio.ensure_future(self._stopping.wait())
        done, _ = await asyncio.wait({poll, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if poll in done:
            stopping.cancel()
            return poll.result()
        poll.cancel()
        with contextlib.suppress(BaseException):
            await poll
        return None


def _kind(error: BaseException) -> str:
    """An exception's type, without its message: messages can quote the update."""
    return type(error).__name__


class WebhookReceiver:
    """Webhook mode with the same promise: Telegram gets its 200 only once the update has been
    handled, so an update whose handling a crash cut short is sent again by Telegram.

    A second delivery of an update still being handled (Telegram retries when the first one
    takes long) waits for the first instead of answering twice.
    """

    def __init__(
        self,
        bot: Bot,
        handle: Handle,
        *,
        secret_token: str,
        path: str,
        concurrency: int = 8,
        grace_s: float = 10.0,
    ) -> None:
        self._bot = bot
        self._handle = handle
        self._secret = secret_token
        self.path = "/" + path.strip("/")
        self._slots = asyncio.Semaphore(concurrency)
        self.grace_s = grace_s
        self.stats = DeliveryStats()
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        self._server: Any = None
        self._stopping = asyncio.Event()

    async def receive(self, secret: str | None, body: bytes) -> int:
        """Handle one POST from Telegram; returns the HTTP status to answer with."""
        if secret != self._secret:
            return 403
        if self._stopping.is_set():
            return 503  # Telegram will deliver it again, to the next process
        try:
            raw = json.loads(body)
            update_id = raw["update_id"]
            if not isinstance(update_id, int):
                raise TypeError("update_id")
        except Exception:
            return 400
        task = self._in_flight.get(update_id)
        if task is None:
            self.stats.fetched += 1
            try:
                update = Update.de_json(raw, self._bot)
            except Exception as error:
                self.stats.unreadable += 1
                log.warning("update %d could not be read (%s); dropped", update_id, _kind(error))
                return 200  # sending it again would not make it readable
            task = asyncio.create_task(self._run_handler(update))
            self._in_flight[update_id] = task
            task.add_done_callback(lambda _: self._in_flight.pop(update_id, None))
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            return 503
        except Exception:
            return 200  # handled: the error handler has told the person
        return 200

    async def _run_handler(self, update: Update) -> None:
        async with self._slots:
            await self._handle(update)
        self.stats.handled += 1

    async def serve(self, listen: str, port: int) -> None:
        """Listen until :meth:`stop`; then let handlers in flight finish (up to ``grace_s``)."""
        import tornado.httpserver
        import tornado.web

        receiver = self

        class _Handler(tornado.web.RequestHandler):
            async def post(self) -> None:
                status = await receiver.receive(
                    self.request.headers.get("X-Telegram-Bot-Api-Secret-Token"),
                    self.request.body,
                )
                self.set_status(status)

            def log_exception(self, *args: Any) -> None:
                log.error("webhook request failed")  # tornado's own line quotes the request

        app = tornado.web.Application([(self.path, _Handler)], log_function=lambda _: None)
        server = tornado.httpserver.HTTPServer(app, xheaders=True)
        server.listen(port, listen)
        try:
            await self._stopping.wait()
        finally:
            server.stop()
            if self._in_flight:
                await asyncio.wait(set(self._in_flight.values()), timeout=self.grace_s)
            await server.close_all_connections()

    def stop(self) -> None:
        self._stopping.set()
