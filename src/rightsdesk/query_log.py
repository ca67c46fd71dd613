"""The anonymised query log: the only code that writes user-derived data.

Adapters hand a :class:`QueryEvent` to :meth:`QueryLog.record_query` and get a short key
back at once, to put in a feedback button. A single background thread redacts the text,
replaces the user id with a weekly pseudonym, coarsens the time to the hour and writes the
row. The user id, the sender's names, message ids and exact times never reach the database.

Logging is best effort by design: a locked, read-only or full database costs a row, never
a reply. Failures are counted in :attr:`QueryLog.write_failures` and reported on stderr
without the user's text.

Schema (see ``_MIGRATIONS``)::

    queries          key PK, hour, week, lang, text (redacted), decision, top_id,
                     top_score, runner_up_ids (JSON), kb_version, handling_ms, asker
    feedback         query_key PK -> queries.key, hour, helpful (0/1)
    clarify_choices  (query_key -> queries.key, chosen_id) PK, hour
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import secrets
import sqlite3
import string
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlite_utils import Database, Migrations

from rightsdesk.anonymise import Pseudonymiser, hour_bucket, iso_week, redact
from rightsdesk.decision import Decision

__all__ = [
    "KEY_LENGTH",
    "NullQueryLog",
    "QueryEvent",
    "QueryLog",
    "QueryLogError",
    "QueryLogReader",
]

log = logging.getLogger("rightsdesk.query_log")

KEY_LENGTH = 10
_KEY_ALPHABET = string.ascii_letters + string.digits
# Bounds memory if the database stays locked while people keep asking.
_MAX_PENDING = 10_000
_BATCH = 200
_PURGE_EVERY_S = 3600.0


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


# --- schema -------------------------------------------------------------------------------

_MIGRATIONS = Migrations("rightsdesk.query_log")


@_MIGRATIONS(name="m001_create_tables")
def _create_tables(db: Database) -> None:
    # WITHOUT ROWID: rows are stored in order of their random key, so neither a rowid nor
    # the file layout reveals the order in which people wrote within an hour.
    db.executescript(
        """
        CREATE TABLE queries (
            key TEXT PRIMARY KEY NOT NULL,
            hour TEXT NOT NULL,
            week TEXT NOT NULL,
            lang TEXT,
            text TEXT NOT NULL,
            decision TEXT NOT NULL CHECK (decision IN ('answer', 'clarify', 'none')),
            top_id TEXT,
            top_score REAL,
            runner_up_ids TEXT NOT NULL DEFAULT '[]',
            kb_version TEXT,
            handling_ms REAL,
            asker TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX queries_hour ON queries (hour);
        CREATE INDEX queries_week_asker ON queries (week, asker);
        CREATE TABLE feedback (
            query_key TEXT PRIMARY KEY NOT NULL
                REFERENCES queries (key) ON DELETE CASCADE,
            hour TEXT NOT NULL,
            helpful INTEGER NOT NULL CHECK (helpful IN (0, 1))
        ) WITHOUT ROWID;
        CREATE TABLE clarify_choices (
            query_key TEXT NOT NULL REFERENCES queries (key) ON DELETE CASCADE,
            hour TEXT NOT NULL,
            chosen_id TEXT NOT NULL,
            PRIMARY KEY (query_key, chosen_id)
        ) WITHOUT ROWID;
        """
    )


def _connect(path: Path, busy_timeout: float) -> Database:
    conn = sqlite3.connect(str(path), timeout=busy_timeout)
    db = Database(conn)
    db.execute("PRAGMA foreign_keys = ON")
    # Deleted rows are overwritten, so purged queries do not linger in free pages.
    db.execute("PRAGMA secure_delete = ON")
    return db


def _create_private_file(path: Path) -> None:
    """Create ``path`` as 0600 if it does not exist; SQLite gives -wal and -shm its mode."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def new_key() -> str:
    """A random key for a query: short enough for a 64-byte callback, too many to guess."""
    return "".join(secrets.choice(_KEY_ALPHABET) for _ in range(KEY_LENGTH))


def _valid_key(key: object) -> bool:
    return isinstance(key, str) and len(key) == KEY_LENGTH and all(c in _KEY_ALPHABET for c in key)


def _purge(db: Database, cutoff_hour: str) -> int:
    with db.atomic():
        # Children first, so the purge does not depend on foreign_keys being on.
        old = "SELECT key FROM queries WHERE hour < ?"
        db.execute(f"DELETE FROM feedback WHERE query_key IN ({old})", [cutoff_hour])
        db.execute(f"DELETE FROM clarify_choices WHERE query_key IN ({old})", [cutoff_hour])
        deleted = db.execute("DELETE FROM queries WHERE hour < ?", [cutoff_hour]).rowcount
    # Move the zeroed pages out of the WAL and empty it, so the deleted text is gone from
    # disk now rather than at the next checkpoint. Best effort: a reader may hold it.
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return deleted


# --- writing ------------------------------------------------------------------------------


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


class QueryLog:
    """An anonymised, append-mostly log of queries, written off the reply path.

    Usage::

        log = QueryLog("data/rightsdesk.db", secret=load_secret(env, path)).open()
        key = log.record_query(event)        # returns at once
        log.record_feedback(key, helpful=True, at=now)
        log.close()                          # flushes

    ``open()`` creates or migrates the schema, deletes rows older than ``retention_days``
    and starts one writer thread, which repeats that purge every hour.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        secret: bytes,
        keys_path: Path | str | None = None,
        retention_days: int = 180,
        busy_timeout: float = 2.0,
        attempts: int = 3,
    ) -> None:
        if retention_days < 1:
            raise ValueError("retention_days must be at least 1")
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.path = Path(path)
        self.retention_days = retention_days
        self.busy_timeout = busy_timeout
        self.attempts = attempts
        self._pseudonymiser = Pseudonymiser(
            secret, Path(keys_path) if keys_path is not None else None
        )
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=_MAX_PENDING)
        self._pending = 0
        self._pending_changed = threading.Condition()
        self._failures = 0
        self._failures_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._accepting = False

    @classmethod
    def disabled(cls) -> NullQueryLog:
        """A stand-in that records nothing, for when the real log cannot be opened."""
        return NullQueryLog()

    # -- lifecycle

    def open(self) -> QueryLog:
        """Create or migrate the database and start the writer thread.

        Raises :class:`QueryLogError` with the path and the reason if the database cannot
        be created or written. Calling it again on an open log does nothing.
        """
        if self._thread is not None:
            return self
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            _create_private_file(self.path)
            db = _connect(self.path, self.busy_timeout)
            try:
                db.enable_wal()
                _MIGRATIONS.apply(db)
                self._auto_purge(db)
            finally:
                db.close()
        except (sqlite3.Error, OSError) as exc:
            raise QueryLogError(f"cannot open the query log at {self.path}: {exc}") from exc
        self._accepting = True
        self._thread = threading.Thread(target=self._run, name="rightsdesk-query-log", daemon=True)
        self._thread.start()
        return self

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything recorded so far is written or dropped. False on timeout."""
        deadline = time.monotonic() + timeout
        with self._pending_changed:
            while self._pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._pending_changed.wait(remaining)
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Flush, then stop the writer thread. Safe to call twice."""
        if self._thread is None:
            return
        with self._pending_changed:
            self._accepting = False
        self.flush(timeout)
        with contextlib.suppress(queue.Full):
            self._queue.put(_STOP, timeout=timeout)
        self._thread.join(timeout)
        self._thread = None

    def __enter__(self) -> QueryLog:
        return self.open()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def write_failures(self) -> int:
        """Rows dropped because they could not be written."""
        with self._failures_lock:
            return self._failures

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
        with self._pending_changed:
            if not self._accepting:
                reason = "the query log is not open"
            else:
                try:
                    self._queue.put_nowait(item)
                except queue.Full:
                    reason = f"more than {_MAX_PENDING} rows are waiting to be written"
                else:
                    self._pending += 1
                    return
        self._fail(1, reason)

    def _done(self, count: int) -> None:
        with self._pending_changed:
            self._pending -= count
            self._pending_changed.notify_all()

    def _fail(self, count: int, reason: str) -> None:
        with self._failures_lock:
            self._failures += count
        # One line, and never the user's text: sqlite3 and OSError messages name the
        # problem and the file, not the bound values.
        log.warning("dropped %d row(s): %s", count, reason)

    # -- retention

    def purge(self, now: datetime | None = None) -> int:
        """Delete queries older than ``retention_days``; see :func:`purge`."""
        return purge(self.path, self.retention_days, now=now, busy_timeout=self.busy_timeout)

    def _cutoff(self, now: datetime | None) -> str:
        return _cutoff_hour(self.retention_days, now)

    # -- the writer thread

    def _run(self) -> None:
        db: Database | None = None
        next_purge = time.monotonic() + _PURGE_EVERY_S
        try:
            while True:
                if time.monotonic() >= next_purge:
                    db = self._auto_purge(db)
                    next_purge = time.monotonic() + _PURGE_EVERY_S
                try:
                    first = self._queue.get(timeout=_PURGE_EVERY_S)
                except queue.Empty:
                    continue
                if first is _STOP:
                    return
                batch = [first]
                stop = False
                while len(batch) < _BATCH:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is _STOP:
                        stop = True
                        break
                    batch.append(item)
                db = self._write(db, batch)
                self._done(len(batch))
                if stop:
                    return
        finally:
            if db is not None:
                db.close()

    def _auto_purge(self, db: Database | None) -> Database | None:
        # Retention must not depend on someone remembering a cron job; but a failed purge
        # (say, a lock held by a long export) must not stop the bot either.
        try:
            db = db or _connect(self.path, self.busy_timeout)
            _purge(db, self._cutoff(None))
        except (sqlite3.Error, OSError) as exc:
            log.warning("retention purge failed: %s", exc)
        return db

    def _write(self, db: Database | None, batch: list[_Item]) -> Database | None:
        rows, feedback, choices = [], [], []
        for item in batch:
            try:
                if isinstance(item, _Query):
                    rows.append(self._row(item))
                elif isinstance(item, _Feedback):
                    feedback.append((item.key, hour_bucket(item.at), int(item.helpful)))
                else:
                    choices.append((item.key, hour_bucket(item.at), item.chosen_id))
            except Exception as exc:  # a bad event must not stop the writer
                self._fail(1, f"could not anonymise an event: {type(exc).__name__}")
        count = len(rows) + len(feedback) + len(choices)
        if not count:
            return db
        error: Exception | None = None
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(min(0.05 * 2**attempt, 1.0))
            try:
                db = db or _connect(self.path, self.busy_timeout)
                with db.atomic():
                    self._insert(db, rows, feedback, choices)
                return db
            except (sqlite3.Error, OSError) as exc:
                error = exc
        self._fail(count, f"{type(error).__name__}: {error} (after {self.attempts} attempts)")
        return db

    def _row(self, item: _Query) -> dict[str, Any]:
        """The one place a user's message becomes a storable row."""
        event = item.event
        return {
            "key": item.key,
            "hour": hour_bucket(event.at),
            "week": iso_week(event.at),
            "lang": event.lang,
            "text": redact(event.text, names=event.sender_names),
            "decision": event.decision.value,
            "top_id": event.top_id,
            "top_score": event.top_score,
            "runner_up_ids": json.dumps(list(event.runner_up_ids)),
            "kb_version": event.kb_version,
            "handling_ms": event.handling_ms,
            "asker": self._pseudonymiser.pseudonym(event.user_id, event.at),
        }

    @staticmethod
    def _insert(
        db: Database,
        rows: list[dict[str, Any]],
        feedback: list[tuple[str, str, int]],
        choices: list[tuple[str, str, str]],
    ) -> None:
        if rows:
            columns = list(rows[0])
            db.conn.executemany(
                f"INSERT INTO queries ({', '.join(columns)}) "
                f"VALUES ({', '.join(':' + c for c in columns)})",
                rows,
            )
        for key, hour, helpful in feedback:
            db.execute(
                "INSERT OR REPLACE INTO feedback (query_key, hour, helpful) "
                "SELECT key, ?, ? FROM queries WHERE key = ?",
                [hour, helpful, key],
            )
        for key, hour, chosen_id in choices:
            db.execute(
                "INSERT OR IGNORE INTO clarify_choices (query_key, hour, chosen_id) "
                "SELECT key, ?, ? FROM queries WHERE key = ? AND (top_id = ? OR EXISTS "
                "(SELECT 1 FROM json_each(queries.runner_up_ids) WHERE value = ?))",
                [hour, chosen_id, key, chosen_id, chosen_id],
            )


class NullQueryLog:
    """Records nothing, with the same methods as :class:`QueryLog`.

    For when the database cannot be opened: the bot keeps answering, and the operator has
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
        db = _connect(path, busy_timeout)
        try:
            return _purge(db, _cutoff_hour(retention_days, now))
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise QueryLogError(f"cannot purge the query log at {path}: {exc}") from exc


def _cutoff_hour(retention_days: int, now: datetime | None) -> str:
    now = now or datetime.now(UTC)
    return hour_bucket(now - timedelta(days=retention_days))


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
