"""The anonymised query log: the only code that writes user-derived data.

Adapters hand a :class:`QueryEvent` to :meth:`QueryLog.record_query` and get a short key
back at once, to put in a feedback button. A background thread redacts the text, replaces
the user id with a weekly pseudonym and coarsens the time to the hour, as soon as the event
arrives; the user id, the sender's names, message ids and exact times never go further.

Design: the log waits, and cannot take the bot down.

- SQLite runs in a writer process of its own (:func:`rightsdesk.query_log_store.serve`,
  started with the "spawn" method: a threaded process must not fork). A SIGBUS from a
  shrunken ``-shm`` file, a segfault or an abort kills that process, not the bot.
- The bot's process keeps every anonymised row in memory until the writer acknowledges it
  after COMMIT. A writer that dies is counted, started again with backoff (0.1 s doubling
  up to ``max_backoff``) and sent the unacknowledged batch again; inserts are idempotent
  (the random key is the primary key), so a batch committed just before a crash is not
  stored twice. A batch on which the writer dies again and again is sent one row at a time,
  and a row that kills it six times is dropped and counted, so one poison row cannot stall
  the log.
- A locked, full, read-only or unopenable database (at start too) is retried by the writer
  with backoff up to ``max_backoff`` (5 s), for as long as it takes. Only rows past
  ``max_waiting`` (10,000, a few megabytes of anonymised rows: hours of the bot's busiest
  traffic) are dropped and counted. The buffer holds anonymised rows only, and only in
  memory: nothing un-anonymised touches disk, or the pipe to the writer.
- :meth:`QueryLog.health` tells admins (``/stats``) how many rows wait, how many were lost,
  how often the writer restarted and the last fault, as a sentence without user text. A
  warning is logged when rows start waiting and when the log recovers.

The writer is ``python -P -m rightsdesk.query_log_store``, started afresh (never forked from
this threaded process) and fed JSON lines on its stdin: unlike multiprocessing's "spawn" it
does not re-run the bot's main script, which a script without a ``__main__`` guard would
turn into an endless restart loop.

Cost, measured on the 2-core development machine (9,000 events, 3 runs each, before and
after this design): ``record_query`` on the caller's thread is unchanged, 17-19 us median
(it only takes a lock and queues); rows written went from 3,000-5,000/s to 3,400-3,800/s
(anonymising in the bot's process is the limit either way); ``open()`` went from 18-69 ms
to 0.4-0.7 s (starting the writer); the writer process uses 40 MB resident; a killed writer
is replaced and its batch stored in 0.7 s.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import select
import signal
import sqlite3
import string
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from rightsdesk import randomness
from rightsdesk.anonymise import Pseudonymiser, hour_bucket, iso_week, redact
from rightsdesk.decision import Decision
from rightsdesk.query_log_store import (
    Channel,
    Record,
    WriterConfig,
    connect,
    cutoff_hour,
    purge_rows,
)

__all__ = [
    "KEY_LENGTH",
    "MAX_WAITING",
    "NullQueryLog",
    "QueryEvent",
    "QueryLog",
    "QueryLogError",
    "QueryLogHealth",
    "QueryLogReader",
]

log = logging.getLogger("rightsdesk.query_log")

KEY_LENGTH = 10
_KEY_ALPHABET = string.ascii_letters + string.digits
# Rows kept in memory while the database cannot be written: about 500 bytes each.
MAX_WAITING = 10_000
_BATCH = 500
# Deaths of the writer with the same batch in flight before it is sent one row at a time;
# twice as many and that one row is dropped.
_STRIKES = 3
_FIRST_RESTART_S = 0.1
_ANONYMISE_GAP_S = 0.02


class QueryLogError(Exception):
    """The query log cannot be opened or read."""


@dataclass(frozen=True)
class QueryEvent:
    """What was asked and decided, as an adapter knows it.

    ``user_id`` and ``sender_names`` (first name, last name, username as Telegram sent
    them) are used only to redact ``text`` and to derive the weekly pseudonym; they are
    kept out of ``repr`` so that a stray log line or traceback cannot leak them.
    """

    text: str = field(repr=False)
    lang: str
    decision: Decision
    top_id: str | None
    top_score: float | None
    runner_up_ids: tuple[str, ...]
    kb_version: str
    handling_ms: float
    user_id: int = field(repr=False)
    sender_names: tuple[str, ...] = field(repr=False)
    at: datetime

    def __post_init__(self) -> None:
        # Decision("maybe") raises ValueError: a row with an unknown decision is refused here,
        # not by the database's CHECK constraint in the writer thread.
        object.__setattr__(self, "decision", Decision(self.decision))
        if self.at.tzinfo is None or self.at.utcoffset() is None:
            raise ValueError("QueryEvent.at must be an aware datetime (UTC)")


@dataclass(frozen=True)
class QueryLogHealth:
    """How the query log is doing, for admins. Counts and one sentence, never user text."""

    waiting: int  # recorded, not yet committed
    dropped: int  # lost: past ``max_waiting``, recorded on a closed log, unwritten at close
    failed: int  # lost: events that could not be anonymised or that the database refused
    restarts: int  # times the writer process died and was started again
    writable: bool  # the writer's last attempt succeeded
    last_error: str | None  # the most recent fault, e.g. "cannot write ...: database is locked"
    writer_pid: int | None = None

    @property
    def lost(self) -> int:
        return self.dropped + self.failed


def new_key() -> str:
    """A random key for a query: short enough for a 64-byte callback, too many to guess."""
    return randomness.text(_KEY_ALPHABET, KEY_LENGTH)


def _valid_key(key: object) -> bool:
    return isinstance(key, str) and len(key) == KEY_LENGTH and all(c in _KEY_ALPHABET for c in key)


def _clean(value: object) -> str:
    """``value`` as text SQLite can store: a lone surrogate ("\\ud800", which no UTF-8 can
    encode) becomes U+FFFD, and a surrogate pair the character it stands for."""
    text = str(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


# --- recording ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Query:
    key: str
    event: QueryEvent


@dataclass(frozen=True)
class _Feedback:
    key: str
    helpful: bool
    at: datetime


@dataclass(frozen=True)
class _Choice:
    key: str
    chosen_id: str
    at: datetime


_Item = _Query | _Feedback | _Choice
_STOP = object()


@dataclass
class _Writer:
    process: subprocess.Popen[bytes]
    channel: Channel


class QueryLog:
    """An anonymised, append-mostly log of queries, written off the reply path.

    Usage::

        log = QueryLog("data/rightsdesk.db", secret=load_secret(env, path)).open()
        key = log.record_query(event)        # returns at once
        log.record_feedback(key, helpful=True, at=now)
        log.health()                         # waiting, lost, restarts, last fault
        log.close()                          # flushes

    ``open()`` starts the anonymiser thread and the writer process, which creates or
    migrates the schema, deletes rows older than ``retention_days`` and repeats that purge
    every hour.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        secret: bytes,
        keys_path: Path | str | None = None,
        retention_days: int = 180,
        busy_timeout: float = 2.0,
        max_waiting: int = MAX_WAITING,
        max_backoff: float = 5.0,
    ) -> None:
        if retention_days < 1:
            raise ValueError("retention_days must be at least 1")
        if max_waiting < 1:
            raise ValueError("max_waiting must be at least 1")
        if max_backoff <= 0:
            raise ValueError("max_backoff must be positive")
        self.path = Path(path)
        self.retention_days = retention_days
        self.busy_timeout = busy_timeout
        self.max_waiting = max_waiting
        self.max_backoff = max_backoff
        self._pseudonymiser = Pseudonymiser(
            secret, Path(keys_path) if keys_path is not None else None
        )
        # Raw events, each for as long as the anonymiser thread takes to reach it.
        self._inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        # Anonymised rows not yet acknowledged by the writer, oldest first.
        self._waiting: deque[Record] = deque()
        self._changed = threading.Condition()  # guards everything below
        self._pending = 0  # recorded, neither stored nor lost
        self._dropped = 0
        self._failed = 0
        self._restarts = 0
        self._writable = False
        self._last_error: str | None = None
        self._pid: int | None = None
        self._faulty = False  # warned that rows wait, not yet that the log recovered
        self._overflow = 0  # rows dropped past the bound since the last warning
        self._accepting = False
        self._stopping = threading.Event()
        self._reported = threading.Event()  # the first writer said "ok" or "failing"
        self._threads: list[threading.Thread] = []
        self._bell = (-1, -1)

    @classmethod
    def disabled(cls) -> NullQueryLog:
        """A stand-in that records nothing, for when the real log cannot be opened."""
        return NullQueryLog()

    # -- lifecycle

    def open(self, timeout: float = 10.0) -> QueryLog:
        """Start the anonymiser thread and the writer process, and wait (up to ``timeout``
        seconds) until the writer has opened the database or found that it cannot.

        Never fails for the database's sake: a database that cannot be opened yet (a
        missing folder permission, a read-only disk, a lock) is retried in the background
        while rows wait, a warning names the file and the fault, and :meth:`health` says
        it too. Calling it again on an open log does nothing.
        """
        if self._threads:
            return self
        self._stopping.clear()
        self._reported.clear()
        read, write = os.pipe()
        os.set_blocking(read, False)
        os.set_blocking(write, False)
        self._bell = (read, write)
        with self._changed:
            self._accepting = True
        self._threads = [
            threading.Thread(target=self._anonymise, name="rightsdesk-query-log", daemon=True),
            threading.Thread(
                target=self._supervise, name="rightsdesk-query-log-writer", daemon=True
            ),
        ]
        for thread in self._threads:
            thread.start()
        self._reported.wait(timeout)
        return self

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything recorded so far is written or lost. False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._pending, timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Flush (up to ``timeout`` seconds), then stop. Rows still unwritten are counted
        as dropped. Safe to call twice."""
        if not self._threads:
            return
        with self._changed:
            self._accepting = False
        self.flush(timeout)
        self._inbox.put(_STOP)
        anonymiser, supervisor = self._threads
        anonymiser.join(timeout)
        self._stopping.set()
        self._ring()
        supervisor.join(timeout + 5.0)
        self._threads = []
        for fd in self._bell:
            os.close(fd)

    def __enter__(self) -> QueryLog:
        return self.open()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def write_failures(self) -> int:
        """Rows lost: dropped past the bound or at close, or refused as bad events."""
        with self._changed:
            return self._dropped + self._failed

    def health(self) -> QueryLogHealth:
        """Waiting and lost rows, writer restarts, the last fault: for ``/stats``."""
        with self._changed:
            return QueryLogHealth(
                waiting=self._pending,
                dropped=self._dropped,
                failed=self._failed,
                restarts=self._restarts,
                writable=self._writable,
                last_error=self._last_error,
                writer_pid=self._pid,
            )

    # -- recording: never raises, never waits

    def record_query(self, event: QueryEvent) -> str:
        """Enqueue ``event`` and return its key, for linking feedback and choices."""
        key = new_key()
        self._enqueue(_Query(key, event))
        return key

    def record_feedback(self, key: str, helpful: bool, at: datetime) -> None:
        """Record a thumbs up or down; the latest one for a query wins.

        Unknown keys are ignored: callback data comes from the client and may be forged.
        """
        if _valid_key(key):
            self._enqueue(_Feedback(key, bool(helpful), at))

    def record_choice(self, key: str, chosen_id: str, at: datetime) -> None:
        """Record which entry was picked after a clarifying question.

        Stored only if ``chosen_id`` is one of the entries that query offered, so a forged
        callback cannot smuggle free text into the database.
        """
        if _valid_key(key):
            self._enqueue(_Choice(key, str(chosen_id), at))

    def _enqueue(self, item: _Item) -> None:
        # Under the lock, so that close() cannot slip its stop marker in between the check
        # and the put and strand this item behind it.
        with self._changed:
            if self._accepting and self._pending < self.max_waiting:
                self._pending += 1
                self._inbox.put(item)
                return
            self._dropped += 1
            closed = not self._accepting
            self._overflow += not closed
            first = self._overflow == 1
        if closed:
            log.warning("dropped 1 row: the query log is not open")
        elif first:
            log.warning(
                "the query log has %d rows waiting: new rows are dropped until it recovers",
                self.max_waiting,
            )

    def _lose(self, count: int, reason: str, *, failed: bool) -> None:
        with self._changed:
            if failed:
                self._failed += count
            else:
                self._dropped += count
            self._pending -= count
            self._changed.notify_all()
        # One line, and never the user's text.
        log.warning("dropped %d row(s): %s", count, reason)

    # -- retention

    def purge(self, now: datetime | None = None) -> int:
        """Delete queries older than ``retention_days``; see :func:`purge`. (The writer
        purges by itself every hour; this is for admins and tests.)"""
        return purge(self.path, self.retention_days, now=now, busy_timeout=self.busy_timeout)

    # -- the anonymiser thread: raw events in, rows out

    def _anonymise(self) -> None:
        while True:
            items = [self._inbox.get()]
            # Take everything already waiting, then pause: woken for every event, this thread
            # competed with the one answering people for the interpreter lock on each
            # question. A pause of 20 ms delays nothing anyone sees (rows reach the disk a
            # little later) and lets events pile up to be handled in one go.
            with contextlib.suppress(queue.Empty):
                while len(items) < _BATCH:
                    items.append(self._inbox.get_nowait())
            records: list[Record] = []
            for item in items:
                if item is _STOP:
                    self._queue_records(records)
                    return
                try:
                    records.append(self._record(item))
                except Exception as exc:  # a bad event must not stop the log
                    self._lose(
                        1, f"could not anonymise an event: {type(exc).__name__}", failed=True
                    )
            del items, item  # the raw events must not outlive their anonymisation here
            self._queue_records(records)
            if not self._stopping.is_set():
                time.sleep(_ANONYMISE_GAP_S)

    def _queue_records(self, records: list[Record]) -> None:
        if not records:
            return
        with self._changed:
            was_empty = not self._waiting
            self._waiting.extend(records)
        if was_empty:
            self._ring()

    def _record(self, item: _Item) -> Record:
        if isinstance(item, _Query):
            return ("query", self._row(item))
        if isinstance(item, _Feedback):
            return ("feedback", (item.key, hour_bucket(item.at), int(item.helpful)))
        return ("choice", (item.key, hour_bucket(item.at), _clean(item.chosen_id)))

    def _row(self, item: _Query) -> dict[str, Any]:
        """The one place a user's message becomes a storable row."""
        event = item.event
        return {
            "key": item.key,
            "hour": hour_bucket(event.at),
            "week": iso_week(event.at),
            "lang": _clean(event.lang),
            "text": redact(_clean(event.text), names=[_clean(n or "") for n in event.sender_names]),
            "decision": event.decision.value,
            "top_id": None if event.top_id is None else _clean(event.top_id),
            "top_score": None if event.top_score is None else float(event.top_score),
            "runner_up_ids": json.dumps([_clean(i) for i in event.runner_up_ids]),
            "kb_version": _clean(event.kb_version),
            "handling_ms": float(event.handling_ms),
            "asker": self._pseudonymiser.pseudonym(event.user_id, event.at),
        }

    def _ring(self) -> None:
        # BlockingIOError: already rung (the pipe is full); OSError: closed.
        with contextlib.suppress(OSError):
            os.write(self._bell[1], b"\0")

    # -- the supervisor thread: rows to the writer process, acknowledgements back

    def _supervise(self) -> None:
        writer: _Writer | None = None
        in_flight: list[Record] | None = None
        seq = 0
        delay = 0.0  # before the next start of the writer
        strikes = 0  # deaths of the writer since the last batch it stored
        while not self._stopping.is_set():
            try:
                if writer is None:
                    if delay and self._stopping.wait(delay):
                        break
                    writer = self._start_writer()
                if in_flight is None:
                    with self._changed:
                        size = _BATCH if strikes < _STRIKES else 1
                        in_flight = list(islice(self._waiting, size)) or None
                    if in_flight is not None:
                        seq += 1
                        writer.channel.send(["rows", seq, in_flight])
                if not writer.channel.ready():
                    readable, _, _ = select.select([writer.channel.read_fd, self._bell[0]], [], [])
                    if self._bell[0] in readable:
                        self._drain_bell()
                    if writer.channel.read_fd in readable:
                        writer.channel.fill()
                alive = self._receive(writer, seq, in_flight)
                if alive is None:  # stored
                    in_flight, strikes, delay = None, 0, 0.0
                elif not alive:
                    strikes += in_flight is not None
                    self._writer_died(writer, in_flight, strikes)
                    writer, in_flight = None, None
                    delay = min(max(delay * 2, _FIRST_RESTART_S), self.max_backoff)
            except Exception as exc:  # the supervisor must outlive anything the writer does
                log.warning("query log writer: %s: %s", type(exc).__name__, exc)
                if writer is not None:
                    self._stop_writer(writer, 0.0)
                    with self._changed:
                        self._restarts += 1
                writer, in_flight = None, None
                delay = min(max(delay * 2, _FIRST_RESTART_S), self.max_backoff)
        if writer is not None:
            with contextlib.suppress(OSError):
                writer.channel.send(["stop"])
            # The batch in flight may still be stored: wait for its acknowledgement.
            while writer.channel.poll(5.0) and self._receive(writer, seq, in_flight):
                pass
            self._stop_writer(writer, 1.0)
        with self._changed:
            left, self._pid = self._pending, None
        if left:
            self._lose(left, "not written when the query log was closed", failed=False)

    def _start_writer(self) -> _Writer:
        # A process of its own, started afresh (never forked from this threaded one). -P: not
        # the current folder first on sys.path, so no file there can stand in for a module.
        process = subprocess.Popen(
            [sys.executable, "-P", "-m", "rightsdesk.query_log_store"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert process.stdin is not None and process.stdout is not None
        channel = Channel(process.stdout.fileno(), process.stdin.fileno())
        with self._changed:
            self._pid = process.pid
        writer = _Writer(process, channel)
        config = WriterConfig(
            self.path.absolute(), self.busy_timeout, self.retention_days, self.max_backoff
        )
        channel.send(config.to_json())
        return writer

    def _receive(self, writer: _Writer, seq: int, in_flight: list[Record] | None) -> bool | None:
        """Handle what the writer sent. True: it lives; False: it died; None: it stored
        ``in_flight``."""
        stored = False
        try:
            while writer.channel.ready():
                message = writer.channel.recv()
                if message[0] == "stored" and message[1] == seq and in_flight is not None:
                    self._stored(len(in_flight), int(message[2]), message[3])
                    stored = True
                elif message[0] == "ok":
                    self._recovered()
                elif message[0] == "failing":
                    self._failing(str(message[1]))
                self._reported.set()
        except (EOFError, OSError, ValueError):
            return None if stored else False
        return None if stored else True

    def _stored(self, count: int, bad: int, reason: str | None) -> None:
        self._recovered(count)  # first, so that a flush() that returns finds it logged
        if bad:
            log.warning("dropped %d row(s): the database refused them (%s)", bad, reason)
        with self._changed:
            for _ in range(count):
                self._waiting.popleft()
            self._pending -= count
            self._failed += bad
            self._changed.notify_all()

    def _failing(self, sentence: str) -> bool:
        """Note the fault; log it if it starts a fault (returns whether it did)."""
        with self._changed:
            self._writable, self._last_error = False, sentence
            first, self._faulty = not self._faulty, True
            waiting = self._pending
        if first:
            log.warning(
                "%s; %d row(s) wait in memory (at most %d) until it can be written",
                sentence,
                waiting,
                self.max_waiting,
            )
        return first

    def _recovered(self, stored: int = 0) -> None:
        with self._changed:
            self._writable = True
            was_faulty, self._faulty = self._faulty, False
            overflow, self._overflow = self._overflow, 0
            waiting = self._pending - stored
        if was_faulty:
            log.warning(
                "the query log at %s is written again (%d row(s) still waiting, %d dropped "
                "meanwhile)",
                self.path,
                waiting,
                overflow,
            )

    def _writer_died(self, writer: _Writer, in_flight: list[Record] | None, strikes: int) -> None:
        self._stop_writer(writer, 1.0)
        code = writer.process.returncode
        how = (
            f"killed by {signal.Signals(-code).name}"
            if code is not None and code < 0
            else f"exit status {code}"
        )
        sentence = f"the query log's writer process stopped ({how}); starting a new one"
        with self._changed:
            self._restarts += 1
            self._pid = None
        if not self._failing(sentence):
            log.warning("%s", sentence)
        self._reported.set()
        if in_flight is not None and len(in_flight) == 1 and strikes >= 2 * _STRIKES:
            with self._changed:
                self._waiting.popleft()
            self._lose(1, f"the writer process stopped {strikes} times on it", failed=True)

    @staticmethod
    def _stop_writer(writer: _Writer, timeout: float) -> None:
        with contextlib.suppress(OSError):  # already gone
            writer.channel.send(["stop"])
        try:
            writer.process.wait(timeout)
        except subprocess.TimeoutExpired:
            writer.process.kill()
            writer.process.wait()
        for pipe in (writer.process.stdin, writer.process.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()

    def _drain_bell(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(self._bell[0], 4096):
                pass


class NullQueryLog:
    """Records nothing, with the same methods as :class:`QueryLog`.

    For when the log is off (no secret): the bot keeps answering, and the operator has
    already been told why logging is off.
    """

    write_failures = 0

    def open(self) -> NullQueryLog:
        return self

    def record_query(self, event: QueryEvent) -> str:
        return new_key()

    def record_feedback(self, key: str, helpful: bool, at: datetime) -> None:
        pass

    def record_choice(self, key: str, chosen_id: str, at: datetime) -> None:
        pass

    def flush(self, timeout: float = 5.0) -> bool:
        return True

    def close(self, timeout: float = 5.0) -> None:
        pass

    def purge(self, now: datetime | None = None) -> int:
        return 0

    def health(self) -> QueryLogHealth:
        return QueryLogHealth(0, 0, 0, 0, False, "the query log is off: nothing is recorded")

    def __enter__(self) -> NullQueryLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass


def purge(
    path: Path | str, retention_days: int, *, now: datetime | None = None, busy_timeout: float = 2.0
) -> int:
    """Delete queries older than ``retention_days``, with their feedback and choices.

    Returns how many queries were deleted. Needs no pseudonym secret and works whether or
    not a bot has the log open. Raises :class:`QueryLogError` if it fails: this is an
    admin's command, and a silent failure would keep data past its time.
    """
    path = Path(path)
    if not path.is_file():
        raise QueryLogError(f"no query log at {path}")
    try:
        db = connect(path, busy_timeout)
        try:
            return purge_rows(db, cutoff_hour(retention_days, now))
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise QueryLogError(f"cannot purge the query log at {path}: {exc}") from exc


# --- reading ------------------------------------------------------------------------------


class QueryLogReader:
    """Read-only access to the log, for reports.

    Opens the file with ``mode=ro``, so a report can never write, even by mistake, and can
    run while the bot is writing.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise QueryLogError(f"no query log at {self.path} (has the bot run yet?)")
        uri = self.path.resolve().as_uri() + "?mode=ro"
        try:
            self._db = Database(sqlite3.connect(uri, uri=True))
            missing = {"queries", "feedback", "clarify_choices"} - set(self._db.table_names())
        except sqlite3.Error as exc:
            raise QueryLogError(f"cannot read the query log at {self.path}: {exc}") from exc
        if missing:
            self._db.close()
            raise QueryLogError(
                f"{self.path} is not a Rights Desk query log (missing {sorted(missing)})"
            )

    def queries(self, *, since: datetime | None = None) -> Iterator[dict[str, Any]]:
        """Queries from the hour of ``since`` on, oldest first, with ``helpful``
        (True, False or None if unrated) and ``runner_up_ids`` as a list."""
        sql = (
            "SELECT q.*, f.helpful FROM queries q "
            "LEFT JOIN feedback f ON f.query_key = q.key "
            "WHERE q.hour >= ? ORDER BY q.hour, q.key"
        )
        for row in self._db.query(sql, [_since_hour(since)]):
            row["runner_up_ids"] = json.loads(row["runner_up_ids"] or "[]")
            if row["helpful"] is not None:
                row["helpful"] = bool(row["helpful"])
            yield row

    def choices(self, *, since: datetime | None = None) -> Iterator[dict[str, Any]]:
        """Clarification choices from the hour of ``since`` on: query_key, hour, chosen_id."""
        sql = "SELECT * FROM clarify_choices WHERE hour >= ? ORDER BY hour, query_key"
        yield from self._db.query(sql, [_since_hour(since)])

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> QueryLogReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _since_hour(since: datetime | None) -> str:
    return hour_bucket(since) if since is not None else ""
