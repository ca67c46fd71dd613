"""The query log's SQLite side: schema, idempotent writes, retention, and the writer process.

:class:`rightsdesk.query_log.QueryLog` runs :func:`main` as a child process of its own
(``python -P -m rightsdesk.query_log_store``), so that whatever SQLite does to its process
(a SIGBUS from a shrunken ``-shm`` file, a crash) cannot take the bot down with it. The
child receives only finished rows: the anonymiser has already run in the bot's process, and
no user id, name or raw text ever reaches this module.

Schema (see ``MIGRATIONS``)::

    queries          key PK, hour, week, lang, text (redacted), decision, top_id,
                     top_score, runner_up_ids (JSON), kb_version, handling_ms, asker
    feedback         query_key PK -> queries.key, hour, helpful (0/1)
    clarify_choices  (query_key -> queries.key, chosen_id) PK, hour

Every write is idempotent (a query whose key is already stored is skipped, feedback
replaces, a choice is stored once), so a batch sent again after the writer died between
COMMIT and its acknowledgement is not stored twice.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import select
import signal
import sqlite3
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlite_utils import Database, Migrations

from rightsdesk.anonymise import hour_bucket

# The parent sends, one JSON line each: the WriterConfig, then ["rows", seq, records] or
# ["stop"]. A record is ["query", {column: value}], ["feedback", [key, hour, helpful]] or
# ["choice", [key, hour, chosen_id]]. The writer answers ["ok"] once the database is usable,
# ["failing", sentence] after each failed attempt, ["stored", seq, bad, reason] after COMMIT.
Record = tuple[str, Any]

PURGE_EVERY_S = 3600.0
# An idle writer closes the database: SQLite then checkpoints and removes the WAL, so the
# redacted text does not linger in it, and the file is not held open between bursts.
IDLE_CLOSE_S = 2.0
FIRST_RETRY_S = 0.05

# A bad row, not a bad database: retrying would fail the same way for ever.
_ROW_ERRORS = (
    sqlite3.IntegrityError,
    sqlite3.InterfaceError,
    sqlite3.ProgrammingError,
    sqlite3.DataError,
    sqlite3.NotSupportedError,
    ValueError,
    TypeError,
    OverflowError,
)

MIGRATIONS = Migrations("rightsdesk.query_log")


@MIGRATIONS(name="m001_create_tables")
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


def connect(path: Path, busy_timeout: float) -> Database:
    conn = sqlite3.connect(str(path), timeout=busy_timeout)
    db = Database(conn)
    db.execute("PRAGMA foreign_keys = ON")
    # Deleted rows are overwritten, so purged queries do not linger in free pages.
    db.execute("PRAGMA secure_delete = ON")
    return db


def open_store(path: Path, busy_timeout: float) -> Database:
    """Create (0600, in a 0700 folder) or migrate the database, in WAL mode."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    _create_private_file(path)
    db = connect(path, busy_timeout)
    try:
        db.enable_wal()
        MIGRATIONS.apply(db)
    except BaseException:
        db.close()
        raise
    return db


def _create_private_file(path: Path) -> None:
    """Create ``path`` as 0600 if it does not exist; SQLite gives -wal and -shm its mode."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def purge_rows(db: Database, cutoff_hour: str) -> int:
    """Delete queries from before ``cutoff_hour``, with their feedback and choices."""
    with db.atomic():
        # Children first, so the purge does not depend on foreign_keys being on.
        old = "SELECT key FROM queries WHERE hour < ?"
        db.execute(f"DELETE FROM feedback WHERE query_key IN ({old})", [cutoff_hour])
        db.execute(f"DELETE FROM clarify_choices WHERE query_key IN ({old})", [cutoff_hour])
        deleted = db.execute("DELETE FROM queries WHERE hour < ?", [cutoff_hour]).rowcount
    # Move the zeroed pages out of the WAL and empty it, so the deleted text is gone from
    # disk now rather than at the next checkpoint. Best effort: a reader may hold it.
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return int(deleted)


def cutoff_hour(retention_days: int, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return hour_bucket(now - timedelta(days=retention_days))


def store(db: Database, records: Sequence[Record]) -> tuple[int, str | None]:
    """Write ``records`` in one transaction; returns how many were refused, and why.

    A record the database refuses (a broken value) is skipped and counted, so that one bad
    row cannot hold back the rest for ever. Faults of the database itself (locked, full,
    read-only, I/O) raise, and nothing of the batch is kept.
    """
    try:
        with db.atomic():
            for record in records:
                _insert(db, record)
        return 0, None
    except _ROW_ERRORS:
        pass
    bad, reason = 0, None
    with db.atomic():
        for record in records:
            try:
                with db.atomic():  # a savepoint: only this record is undone
                    _insert(db, record)
            except _ROW_ERRORS as error:
                bad, reason = bad + 1, type(error).__name__
    return bad, reason


def _insert(db: Database, record: Record) -> None:
    kind, values = record
    if kind == "query":
        columns = list(values)
        db.execute(
            f"INSERT INTO queries ({', '.join(columns)}) "
            f"VALUES ({', '.join(':' + c for c in columns)}) "
            "ON CONFLICT (key) DO NOTHING",
            values,
        )
    elif kind == "feedback":
        key, hour, helpful = values
        db.execute(
            "INSERT OR REPLACE INTO feedback (query_key, hour, helpful) "
            "SELECT key, ?, ? FROM queries WHERE key = ?",
            [hour, helpful, key],
        )
    elif kind == "choice":
        key, hour, chosen_id = values
        # Stored only if the query offered that entry, so a forged callback cannot smuggle
        # free text into the database.
        db.execute(
            "INSERT OR IGNORE INTO clarify_choices (query_key, hour, chosen_id) "
            "SELECT key, ?, ? FROM queries WHERE key = ? AND (top_id = ? OR EXISTS "
            "(SELECT 1 FROM json_each(queries.runner_up_ids) WHERE value = ?))",
            [hour, chosen_id, key, chosen_id, chosen_id],
        )
    else:
        raise ValueError(f"unknown record kind {kind!r}")


def describe(error: BaseException, path: Path) -> str:
    """One line for the operator: the fault and the file, never a bound value."""
    # sqlite3 and OSError messages name the problem and the file, not the row's values.
    message = str(error).splitlines()[0] if str(error) else "no details"
    return f"cannot write the query log at {path}: {message} ({type(error).__name__})"


# --- the writer process ---------------------------------------------------------------------


class Channel:
    """JSON lines over a pair of pipes, with a poll that honours lines already buffered."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self.read_fd = read_fd
        self.write_fd = write_fd
        self._buffer = b""
        self._eof = False

    def send(self, message: Any) -> None:
        data = (json.dumps(message, separators=(",", ":")) + "\n").encode("utf-8")
        view = memoryview(data)
        while view:
            view = view[os.write(self.write_fd, view) :]

    def ready(self) -> bool:
        """A whole message (or the end of the pipe) is waiting."""
        return self._eof or b"\n" in self._buffer

    def poll(self, timeout: float | None) -> bool:
        """Wait up to ``timeout`` seconds (None: for ever) for a message or the end."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.ready():
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            readable, _, _ = select.select([self.read_fd], [], [], left)
            if readable:
                self.fill()
            elif deadline is not None and time.monotonic() >= deadline:
                return False
        return True

    def fill(self) -> None:
        """Read what the pipe holds now (call when select says it is readable)."""
        chunk = os.read(self.read_fd, 1 << 16)
        if chunk:
            self._buffer += chunk
        else:
            self._eof = True

    def recv(self) -> Any:
        """The next message; EOFError once the other end is gone."""
        if b"\n" not in self._buffer:
            if self._eof:
                raise EOFError("the other end of the query log's pipe closed")
            self.poll(None)
            if b"\n" not in self._buffer:
                raise EOFError("the other end of the query log's pipe closed")
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)


@dataclass(frozen=True)
class WriterConfig:
    path: Path
    busy_timeout: float
    retention_days: int
    max_backoff: float

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "path": str(self.path)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WriterConfig:
        return cls(
            Path(data["path"]),
            float(data["busy_timeout"]),
            int(data["retention_days"]),
            float(data["max_backoff"]),
        )


class _Writer:
    def __init__(self, config: WriterConfig) -> None:
        self.config = config
        self.db: Database | None = None
        self.next_purge = 0.0  # at the first open

    def ready(self) -> Database:
        if self.db is None:
            self.db = open_store(self.config.path, self.config.busy_timeout)
        if time.monotonic() >= self.next_purge:
            self.next_purge = time.monotonic() + PURGE_EVERY_S
            # Retention must not depend on someone remembering a cron job. A failed purge
            # raises like a failed write and is tried again with it.
            purge_rows(self.db, cutoff_hour(self.config.retention_days))
        return self.db

    def close(self) -> None:
        if self.db is not None:
            with contextlib.suppress(sqlite3.Error):
                self.db.close()
            self.db = None


def serve(channel: Channel, config: WriterConfig) -> None:
    """The writer process: store each batch the parent sends, acknowledge it after COMMIT.

    Database faults are retried with backoff (up to ``max_backoff`` seconds) for as long as
    it takes; the parent holds the rows meanwhile. Returns on ["stop"] or when the parent
    is gone (its end of the pipe closed).
    """
    writer = _Writer(config)
    batch: tuple[int, list[Record]] | None = None
    opening = True  # open at once, so that a bad path is reported at start, and purge
    failing = False
    delay = 0.0
    try:
        while True:
            if opening or batch is not None or time.monotonic() >= writer.next_purge:
                try:
                    db = writer.ready()
                    if batch is not None:
                        bad, reason = store(db, batch[1])
                        channel.send(["stored", batch[0], bad, reason])
                        batch = None
                    elif failing or opening:
                        channel.send(["ok"])
                    opening = failing = False
                    delay = 0.0
                except Exception as error:  # locked, full, read-only, I/O, or unforeseen
                    if isinstance(error, OSError) and error.errno == errno.EPIPE:
                        raise
                    writer.close()  # a fresh connection recovers from a replaced file
                    channel.send(["failing", describe(error, config.path)])
                    failing = True
                    delay = min(max(delay * 2, FIRST_RETRY_S), config.max_backoff)
            if delay:
                wait = delay
            elif writer.db is not None:
                wait = IDLE_CLOSE_S
            else:
                wait = max(writer.next_purge - time.monotonic(), 0.0)
            if channel.poll(wait):
                message = channel.recv()
                if message[0] == "stop":
                    return
                batch = (int(message[1]), [(kind, values) for kind, values in message[2]])
            elif not delay:
                writer.close()
    except (EOFError, BrokenPipeError):
        return  # the parent is gone; what it did not see acknowledged it did not count
    finally:
        writer.close()


def main() -> None:
    """``python -P -m rightsdesk.query_log_store``: the configuration, then batches, on
    stdin; answers on stdout."""
    # Ctrl-C in a terminal reaches the whole process group: the parent decides when the
    # writer stops, after its last rows are written.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    channel = Channel(sys.stdin.fileno(), sys.stdout.fileno())
    try:
        config = WriterConfig.from_json(channel.recv())
    except EOFError:
        return
    serve(channel, config)


if __name__ == "__main__":
    main()
