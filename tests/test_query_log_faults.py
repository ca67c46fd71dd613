"""The query log under real faults: a held lock, a full disk, a read-only disk, a crashing
writer, a database that cannot be opened yet. Rows wait and then all arrive; the bot's
process lives on; only rows past the bound are dropped, and counted.

The disk tests mount a small tmpfs of their own (they need root, and are skipped without
it). Everything else runs on ordinary files in tmp_path.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import ROOT, SECRET, make_desk, make_event
from rightsdesk.config import Settings
from rightsdesk.desk import Asker
from rightsdesk.query_log import MAX_WAITING, QueryLog
from rightsdesk.query_log_store import open_store, store

QUICK = {"busy_timeout": 0.2, "max_backoff": 0.5}


def keys_in(db: Path) -> list[str]:
    conn = sqlite3.connect(db, timeout=5)
    try:
        return [k for (k,) in conn.execute("SELECT key FROM queries")]
    finally:
        conn.close()


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return check()


def record_many(log: QueryLog, count: int, threads: int = 4) -> tuple[set[str], float]:
    """``count`` events from ``threads`` threads; the keys, and the slowest call in seconds."""
    keys: set[str] = set()
    slowest = 0.0
    lock = threading.Lock()

    def ask(thread: int) -> None:
        nonlocal slowest
        for i in range(count // threads):
            event = make_event(f"question {i} from {thread}, call 0812 3456 7890", user_id=thread)
            started = time.perf_counter()
            key = log.record_query(event)
            took = time.perf_counter() - started
            with lock:
                keys.add(key)
                slowest = max(slowest, took)

    workers = [threading.Thread(target=ask, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return keys, slowest


def mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, check=False)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 8 MB filesystem (tmpfs) of the test's own."""
    point = tmp_path / "disk"
    point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    done = mount("-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", str(point))
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield point
    finally:
        mount("-o", "remount,rw", str(point))
        subprocess.run(["umount", "-l", str(point)], check=False)


# --- a lock held for 30 s -------------------------------------------------------------------


def test_a_30_second_lock_loses_nothing_and_never_blocks_the_caller(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    log = QueryLog(db, secret=SECRET).open()  # the defaults: 2 s busy timeout, 5 s backoff
    try:
        assert log.health().writable
        locker = sqlite3.connect(db, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        locked_at = time.monotonic()
        try:
            keys, slowest = record_many(log, 200)
            assert slowest < 0.05  # typically 20 us; never the lock's time
            time.sleep(max(0.0, 30.0 - (time.monotonic() - locked_at)))
            health = log.health()
            assert (health.waiting, health.dropped, health.writable) == (200, 0, False)
            assert "database is locked" in (health.last_error or "")
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        assert log.flush(timeout=15)
        assert sorted(keys_in(db)) == sorted(keys)
        assert log.write_failures == 0 and log.health().writable
    finally:
        log.close()


# --- the disk: full, read-only --------------------------------------------------------------


@contextlib.contextmanager
def full(disk: Path) -> Iterator[None]:
    """Keep ``disk`` full: whatever SQLite frees (it deletes its WAL when the writer closes
    the database after a failure) is taken again within milliseconds."""
    stop = threading.Event()
    filled = threading.Event()
    filler = disk / "filler"

    def top_up() -> None:
        with filler.open("ab", buffering=0) as f:
            while not stop.is_set():
                for chunk in (1 << 20, 1 << 12, 1):
                    with contextlib.suppress(OSError):  # ENOSPC: this size no longer fits
                        while f.write(b"\0" * chunk):
                            pass
                filled.set()
                time.sleep(0.002)

    thread = threading.Thread(target=top_up)
    thread.start()
    filled.wait()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        filler.unlink()


def test_a_full_disk_makes_rows_wait_until_there_is_space(small_disk: Path) -> None:
    db = small_disk / "q.db"
    log = QueryLog(db, secret=SECRET, **QUICK).open()
    try:
        first, _ = record_many(log, 8)
        assert log.flush()
        with full(small_disk):
            keys, _ = record_many(log, 100)
            assert eventually(lambda: "disk is full" in (log.health().last_error or ""))
            assert not log.flush(timeout=1) and log.health().waiting > 0
            assert log.health().dropped == 0
        assert log.flush(timeout=10)
        assert sorted(keys_in(db)) == sorted(first | keys)
        assert log.write_failures == 0
    finally:
        log.close()


def test_a_disk_gone_read_only_under_load_gets_every_row_once_it_is_writable(
    small_disk: Path,
) -> None:
    db = small_disk / "q.db"
    log = QueryLog(db, secret=SECRET, **QUICK).open()
    try:
        first, _ = record_many(log, 8)
        assert log.flush()
        # Linux refuses a read-only remount while a file is open for writing: it succeeds
        # once the idle writer has closed the database (after 2 s).
        assert eventually(lambda: mount("-o", "remount,ro", str(small_disk)).returncode == 0)
        try:
            keys, slowest = record_many(log, 200)
            assert slowest < 0.05
            assert eventually(lambda: not log.health().writable)
            assert not log.flush(timeout=1)
        finally:
            assert mount("-o", "remount,rw", str(small_disk)).returncode == 0
        assert log.flush(timeout=10)
        assert sorted(keys_in(db)) == sorted(first | keys)
        assert log.write_failures == 0
    finally:
        log.close()


# --- the writer process crashes -------------------------------------------------------------


def test_a_sigbus_from_a_truncated_shm_kills_only_the_writer(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    log = QueryLog(db, secret=SECRET, **QUICK).open()
    try:
        before, _ = record_many(log, 20)
        assert log.flush()
        pid = log.health().writer_pid
        # The writer has the WAL index mapped; past the end of a file, the next access to
        # the mapping raises SIGBUS.
        os.truncate(f"{db}-shm", 0)
        after, _ = record_many(log, 20)
        assert log.flush(timeout=15)
        health = log.health()
        assert health.restarts >= 1 and health.writer_pid not in (None, pid)
        assert "SIGBUS" in (health.last_error or "")
        stored = keys_in(db)
        assert sorted(stored) == sorted(before | after)  # each once
        assert log.write_failures == 0
    finally:
        log.close()


def test_a_writer_killed_under_load_is_restarted_and_every_row_arrives_once(
    tmp_path: Path,
) -> None:
    db = tmp_path / "q.db"
    log = QueryLog(db, secret=SECRET, **QUICK).open()
    try:
        keys: set[str] = set()
        loader = threading.Thread(target=lambda: keys.update(record_many(log, 2000, 4)[0]))
        loader.start()
        for sig in (signal.SIGSEGV, signal.SIGABRT):
            assert eventually(lambda: log.health().writer_pid is not None)
            pid = log.health().writer_pid
            assert pid is not None
            os.kill(pid, sig)
            assert eventually(lambda pid=pid: log.health().writer_pid not in (None, pid))
        loader.join()
        assert log.flush(timeout=20)
        # INSERT ... ON CONFLICT DO NOTHING: a batch resent after a crash is not refused as
        # a duplicate (which would count as failures) nor stored twice.
        assert log.health().restarts == 2 and log.write_failures == 0
        stored = keys_in(db)
        assert len(stored) == len(set(stored)) == len(keys) == 2000
        assert set(stored) == keys
    finally:
        log.close()


# --- the bound ------------------------------------------------------------------------------


def test_rows_past_the_bound_are_dropped_counted_and_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert QueryLog(tmp_path / "x.db", secret=SECRET).max_waiting == MAX_WAITING == 10_000
    db = tmp_path / "q.db"
    log = QueryLog(db, secret=SECRET, max_waiting=300, **QUICK).open()
    try:
        locker = sqlite3.connect(db, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        try:
            kept = {log.record_query(make_event(f"question {i}")) for i in range(300)}
            lost = {log.record_query(make_event(f"question {i}")) for i in range(300, 350)}
            health = log.health()
            assert (health.waiting, health.dropped, health.lost) == (300, 50, 50)
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        assert log.flush(timeout=10)
        assert set(keys_in(db)) == kept and not lost & kept
        assert log.write_failures == 50
        drops = [r.getMessage() for r in caplog.records if "dropped until" in r.getMessage()]
        assert len(drops) == 1  # one line for the episode, not one per row
    finally:
        log.close()


# --- a database that cannot be opened at start ----------------------------------------------


def test_a_database_that_cannot_be_opened_at_start_is_retried(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    db.mkdir()  # a folder where the database should be
    started = time.perf_counter()
    log = QueryLog(db, secret=SECRET, **QUICK).open()
    try:
        assert time.perf_counter() - started < 5
        health = log.health()
        assert not health.writable and str(db) in (health.last_error or "")
        keys, _ = record_many(log, 40)
        assert not log.flush(timeout=1)
        db.rmdir()
        assert log.flush(timeout=10)
        assert sorted(keys_in(db)) == sorted(keys)
        assert log.health().writable and log.write_failures == 0
    finally:
        log.close()


# --- odd text -------------------------------------------------------------------------------


def test_a_lone_surrogate_does_not_stop_the_writer(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    with QueryLog(db, secret=SECRET) as log:
        odd = log.record_query(make_event("police took \ud800 my phone", names=("\udc00x",)))
        normal = log.record_query(make_event("can police take my phone"))
        assert log.flush()
        assert log.write_failures == 0
    conn = sqlite3.connect(db)
    stored = dict(conn.execute("SELECT key, text FROM queries"))
    conn.close()
    assert stored == {odd: "police took \ufffd my phone", normal: "can police take my phone"}


def test_the_store_is_idempotent_and_skips_only_a_bad_row(tmp_path: Path) -> None:
    db = open_store(tmp_path / "q.db", 1.0)
    row = {
        "key": "abcdefghij", "hour": "2026-11-26T15:00:00+00:00", "week": "2026-W48",
        "lang": "en", "text": "t", "decision": "answer", "top_id": "x", "top_score": 1.0,
        "runner_up_ids": "[]", "kb_version": "v", "handling_ms": 1.0, "asker": "a",
    }  # fmt: skip
    batch = [("query", row), ("feedback", ("abcdefghij", row["hour"], 1))]
    assert store(db, batch) == (0, None)
    assert store(db, batch) == (0, None)  # sent again after a crash: no error, no copy
    bad = {**row, "key": "klmnopqrst", "decision": "maybe"}
    good = {**row, "key": "uvwxyzABCD"}
    assert store(db, [("query", bad), ("query", good)]) == (1, "IntegrityError")
    assert sorted(k for (k,) in db.execute("SELECT key FROM queries")) == [
        "abcdefghij",
        "uvwxyzABCD",
    ]
    assert db.execute("SELECT count(*) FROM feedback").fetchone() == (1,)
    db.close()


# --- what admins see ------------------------------------------------------------------------


def test_stats_tells_admins_rows_wait_and_why_in_their_language(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"RIGHTSDESK_DB": str(tmp_path / "q.db"), "RIGHTSDESK_ADMINS": "7"}, root=ROOT
    )
    log = QueryLog(settings.db_path, secret=SECRET, **QUICK).open()
    desk = make_desk(settings, log)
    admin = Asker(id=7)
    try:
        locker = sqlite3.connect(settings.db_path, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        try:
            desk.ask("can police take my phone", Asker(id=8))
            assert eventually(lambda: not log.health().writable)
            text = desk.command("stats", admin).blocks[0].text
            assert "Query log: 1 rows waiting to be written, 0 lost" in text
            assert "cannot be written now" in text and "database is locked" in text
            desk.choose_language(admin, "id")
            assert "Log pertanyaan: 1 baris menunggu" in desk.command("stats", admin).blocks[0].text
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        assert log.flush(timeout=10)
        desk.choose_language(admin, "en")
        text = desk.command("stats", admin).blocks[0].text
        assert "Query log: 0 rows waiting to be written, 0 lost, writer restarted 0 times." in text
        assert "cannot be written" not in text
    finally:
        log.close()


def test_the_null_log_reports_that_it_is_off() -> None:
    health = make_desk().query_log.health()
    assert not health.writable and "off" in (health.last_error or "")
    assert (health.waiting, health.lost, health.restarts) == (0, 0, 0)
