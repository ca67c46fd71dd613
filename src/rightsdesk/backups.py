"""Consistent copies of the query log, taken while the bot writes.

SQLite's online backup API copies the database as one snapshot: in WAL mode the bot's writer
is not blocked while it runs, and every row committed before the copy began is in it. Only
the database is copied, never the pseudonym secret or the week key: with them, the log
re-identifies askers within a week, so a folder that holds them is refused as a target.

Each backup is ``rightsdesk-YYYYMMDDTHHMMZ.db`` (UTC), mode 600, in a folder created 700; the
newest ``keep`` of them are kept and older ones deleted. Files of any other name are left
alone.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["DEFAULT_KEEP", "Backup", "BackupError", "backup"]

DEFAULT_KEEP = 14
_NAME = re.compile(r"rightsdesk-\d{8}T\d{4}Z\.db")
_PARTIAL = re.compile(r"\.rightsdesk-\d{8}T\d{4}Z\.db\.partial(?:-journal|-wal|-shm)?")


class BackupError(Exception):
    """The backup was not made; the message is one sentence for the operator."""


@dataclass(frozen=True)
class Backup:
    path: Path
    rows: int  # queries in the copy
    seconds: float
    deleted: tuple[Path, ...]  # older backups removed to keep the newest ``keep``


def backup(
    db_path: Path,
    folder: Path,
    *,
    keep: int = DEFAULT_KEEP,
    key_files: Iterable[Path] = (),
    now: datetime | None = None,
) -> Backup:
    """Copy the query log at ``db_path`` into ``folder`` and prune old copies.

    ``key_files`` (the pseudonym secret and the week key) must not lie in ``folder`` or
    below it. Raises :class:`BackupError` on any failure, leaving no partial file behind.
    """
    if keep < 1:
        raise BackupError(f"--keep must be at least 1, not {keep}.")
    db_path, folder = Path(db_path), Path(folder)
    if not db_path.is_file():
        raise BackupError(f"there is no query log at {db_path} to back up.")
    _refuse_key_folder(folder, key_files)
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as error:
        raise BackupError(
            f"cannot create the backup folder {folder} ({error.strerror})."
        ) from error
    if not folder.is_dir():
        raise BackupError(f"{folder} is not a folder.")
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%MZ")
    target = folder / f"rightsdesk-{stamp}.db"
    partial = folder / f".{target.name}.partial"
    started = time.perf_counter()
    try:
        _remove(partial)
        rows = _copy(db_path, partial)
        os.replace(partial, target)
        _fsync_folder(folder)
    except (sqlite3.Error, OSError) as error:
        for leftover in _with_journals(partial):
            _remove(leftover)
        raise BackupError(f"cannot back up {db_path} to {target} ({error}).") from error
    seconds = time.perf_counter() - started
    return Backup(target, rows, seconds, _prune(folder, keep))


def _refuse_key_folder(folder: Path, key_files: Iterable[Path]) -> None:
    where = folder.resolve()
    for key in key_files:
        if key.resolve().is_relative_to(where):
            raise BackupError(
                f"{folder} holds the key file {key}; a backup must not travel with the key,"
                " so choose a folder outside it."
            )


def _copy(source: Path, partial: Path) -> int:
    # Created 0600 before SQLite opens it, so the copy is never readable by others.
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    # Read-only: a mistyped path or a broken log is never created or changed here.
    src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True, timeout=10.0)
    try:
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst)  # every page in one step: one consistent snapshot
            # The copy carries the log's WAL flag; as a rollback-journal file, reading it
            # later leaves no -wal and -shm files beside it.
            dst.execute("PRAGMA journal_mode = DELETE")
            check = dst.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError(f"the copy failed its check: {check}")
            rows = int(dst.execute("SELECT count(*) FROM queries").fetchone()[0])
        finally:
            dst.close()
    finally:
        src.close()
    with open(partial, "rb") as f:
        os.fsync(f.fileno())
    return rows


def _prune(folder: Path, keep: int) -> tuple[Path, ...]:
    backups = sorted(p for p in folder.iterdir() if _NAME.fullmatch(p.name))
    old = backups[:-keep]
    for path in old:
        _remove(path)
    # Leftovers of a backup that was killed halfway.
    for path in folder.iterdir():
        if _PARTIAL.fullmatch(path.name):
            _remove(path)
    return tuple(old)


def _with_journals(path: Path) -> list[Path]:
    return [path, *(path.with_name(path.name + s) for s in ("-journal", "-wal", "-shm"))]


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
