"""The query log: what reaches the disk, and how it behaves when the disk misbehaves.

These tests use real SQLite files and read their raw bytes, because a seized server gives
an adversary the files, not our API.
"""

from __future__ import annotations

import re
import sqlite3
import stat
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from conftest import SECRET
from rightsdesk.query_log import (
    KEY_LENGTH,
    NullQueryLog,
    QueryEvent,
    QueryLog,
    QueryLogError,
    QueryLogReader,
)

NOW = datetime(2026, 11, 26, 15, 47, 33, 123456, tzinfo=UTC)
CORPUS = yaml.safe_load((Path(__file__).parent / "data" / "pii_corpus.yaml").read_text("utf-8"))


def event(
    text: str = "can police take my phone",
    *,
    user_id: int = 5_123_456_789,
    names: tuple[str, ...] = ("Rina", "Wulandari", "rina_lbh"),
    at: datetime = NOW,
    decision: str = "answer",
    top_id: str | None = "ii-5-search-seizure",
    runner_up_ids: tuple[str, ...] = ("ii-3-arbitrary-detention",),
) -> QueryEvent:
    return QueryEvent(
        text=text,
        lang="en",
        decision=decision,  # type: ignore[arg-type]
        top_id=top_id,
        top_score=87.5 if top_id else None,
        runner_up_ids=runner_up_ids,
        kb_version="2026.11.1",
        handling_ms=4.2,
        user_id=user_id,
        sender_names=names,
        at=at,
    )


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "rightsdesk.db"


@pytest.fixture
def log(db_path: Path):
    with QueryLog(db_path, secret=SECRET) as log:
        yield log


def rows(db_path: Path, sql: str = "SELECT * FROM queries") -> list[sqlite3.Row]:
    conn = sqlite3.connect(db_path)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def raw_bytes(db_path: Path) -> bytes:
    """Everything SQLite keeps on disk for this database."""
    files = [db_path, *(db_path.with_name(db_path.name + s) for s in ("-wal", "-shm"))]
    return b"".join(f.read_bytes() for f in files if f.exists())


# --- what is stored -----------------------------------------------------------------------------


def test_a_query_is_stored_redacted_pseudonymous_and_coarse(log: QueryLog, db_path: Path) -> None:
    key = log.record_query(event("I am Rina, call me on 0812 3456 7890"))
    assert log.flush()

    [row] = rows(db_path)
    assert row["key"] == key and len(key) == KEY_LENGTH
    assert row["text"] == "I am [name], call me on [phone]"
    assert row["hour"] == "2026-11-26T15:00:00+00:00"
    assert row["week"] == "2026-W48"
    assert re.fullmatch(r"[0-9a-f]{16}", row["asker"])
    assert row["runner_up_ids"] == '["ii-3-arbitrary-detention"]'


def test_the_schema_has_no_column_for_identities_or_exact_times(
    log: QueryLog, db_path: Path
) -> None:
    columns = {
        table: {r["name"] for r in rows(db_path, f"PRAGMA table_info({table})")}
        for table in ("queries", "feedback", "clarify_choices")
    }
    assert columns == {
        "queries": {
            "key", "hour", "week", "lang", "text", "decision", "top_id", "top_score",
            "runner_up_ids", "kb_version", "handling_ms", "asker",
        },
        "feedback": {"query_key", "hour", "helpful"},
        "clarify_choices": {"query_key", "hour", "chosen_id"},
    }  # fmt: skip


def test_the_event_repr_hides_text_user_and_names() -> None:
    shown = repr(event("call 0812 3456 7890", user_id=777_000_111))
    assert "0812" not in shown and "777000111" not in shown and "Rina" not in shown


def test_database_files_are_private(log: QueryLog, db_path: Path) -> None:
    log.record_query(event())
    log.flush()
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(db_path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(Path(f"{db_path}-wal").stat().st_mode) == 0o600


def digits_only(value: str) -> str:
    return re.sub(r"[\s().+-]", "", value)


def test_no_planted_identifier_reaches_the_disk(db_path: Path) -> None:
    users = {i: 7_000_000_000 + i * 7919 for i in range(len(CORPUS))}
    log = QueryLog(db_path, secret=SECRET).open()
    keys: list[str] = []
    for i, message in enumerate(CORPUS):
        sender = message["sender"]
        names = tuple(sender.get(f) or "" for f in ("first_name", "last_name", "username"))
        key = log.record_query(event(message["text"], user_id=users[i], names=names))
        log.record_feedback(key, helpful=i % 2 == 0, at=NOW)
        keys.append(key)
    assert log.flush()

    def assert_clean(data: bytes) -> None:
        # Query keys are random letters and digits, so one may hold "Ben" by chance ("vBengP6vv1"
        # did, in one CI run): they are taken out before looking for what was planted.
        for key in keys:
            data = data.replace(key.encode(), b"")
        for i, message in enumerate(CORPUS):
            for planted in map(str, message["planted"]):
                assert planted.encode() not in data, planted
                if sum(ch.isdigit() for ch in planted) >= 7:
                    assert digits_only(planted).encode() not in data, planted
            assert str(users[i]).encode() not in data
            username = message["sender"].get("username")
            if username:
                assert username.encode() not in data, username

    assert len(rows(db_path)) == len(CORPUS)
    assert_clean(raw_bytes(db_path))  # while the WAL is live
    log.close()
    assert_clean(raw_bytes(db_path))  # after the final checkpoint


# --- schema and migrations ---------------------------------------------------------------------


def test_reopening_runs_no_migration_twice_and_keeps_data(db_path: Path) -> None:
    with QueryLog(db_path, secret=SECRET) as log:
        log.record_query(event())
    schema = rows(db_path, "SELECT sql FROM sqlite_master ORDER BY name")
    with QueryLog(db_path, secret=SECRET):
        pass
    assert rows(db_path, "SELECT sql FROM sqlite_master ORDER BY name") == schema
    assert [r["name"] for r in rows(db_path, "SELECT name FROM _sqlite_migrations")] == [
        "m001_create_tables"
    ]
    assert len(rows(db_path)) == 1
    assert rows(db_path, "PRAGMA journal_mode")[0][0] == "wal"


def test_an_unusable_path_is_named_and_retried_not_raised(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    log = QueryLog(blocker / "rightsdesk.db", secret=SECRET).open()
    try:
        health = log.health()
        assert not health.writable
        assert health.last_error is not None and "\n" not in health.last_error
        assert re.match(
            r"cannot write the query log at .*not-a-dir/rightsdesk\.db: ", health.last_error
        )
    finally:
        log.close(timeout=0.5)


def test_a_disabled_log_lets_the_bot_carry_on() -> None:
    log = QueryLog.disabled()
    assert isinstance(log, NullQueryLog)
    with log:
        key = log.record_query(event())
        log.record_feedback(key, helpful=True, at=NOW)
        log.record_choice(key, "ii-5-search-seizure", at=NOW)
        assert log.flush() and log.purge() == 0 and log.write_failures == 0


# --- feedback and choices ------------------------------------------------------------------------


def test_feedback_and_choices_are_linked_by_key(log: QueryLog, db_path: Path) -> None:
    key = log.record_query(event(decision="clarify"))
    log.record_feedback(key, helpful=True, at=NOW + timedelta(minutes=3))
    log.record_feedback(key, helpful=False, at=NOW + timedelta(minutes=4))  # changed mind
    log.record_choice(key, "ii-3-arbitrary-detention", at=NOW + timedelta(minutes=1))
    log.flush()

    assert [tuple(r) for r in rows(db_path, "SELECT * FROM feedback")] == [
        (key, "2026-11-26T15:00:00+00:00", 0)
    ]
    assert [tuple(r) for r in rows(db_path, "SELECT * FROM clarify_choices")] == [
        (key, "2026-11-26T15:00:00+00:00", "ii-3-arbitrary-detention")
    ]


def test_forged_callbacks_store_nothing(log: QueryLog, db_path: Path) -> None:
    key = log.record_query(event())
    log.record_feedback("AAAAAAAAAA", helpful=True, at=NOW)  # no such query
    log.record_feedback("call me 0812 3456 7890", helpful=True, at=NOW)  # not a key
    log.record_choice(key, "my name is Budi, 0812 3456 7890", at=NOW)  # not an offered entry
    log.flush()
    assert rows(db_path, "SELECT * FROM feedback") == []
    assert rows(db_path, "SELECT * FROM clarify_choices") == []
    assert log.write_failures == 0


def test_reader_returns_queries_with_their_rating(log: QueryLog, db_path: Path) -> None:
    rated = log.record_query(event("can police take my phone"))
    log.record_query(event("where is methadone in Hanoi", at=NOW - timedelta(days=3)))
    log.record_feedback(rated, helpful=True, at=NOW)
    log.record_choice(rated, "ii-3-arbitrary-detention", at=NOW)
    log.flush()

    with QueryLogReader(db_path) as reader:
        recent = list(reader.queries(since=NOW - timedelta(days=1)))
        choices = list(reader.choices())
    assert [(r["text"], r["helpful"], r["runner_up_ids"]) for r in recent] == [
        ("can police take my phone", True, ["ii-3-arbitrary-detention"])
    ]
    assert [c["query_key"] for c in choices] == [rated]


def test_reader_refuses_a_missing_database(tmp_path: Path) -> None:
    with pytest.raises(QueryLogError, match="no query log"):
        QueryLogReader(tmp_path / "nope.db")


# --- concurrency and failure ---------------------------------------------------------------------


def test_twenty_threads_lose_no_row(log: QueryLog, db_path: Path) -> None:
    keys: list[str] = []
    lock = threading.Lock()

    def ask(thread: int) -> None:
        for i in range(50):
            key = log.record_query(event(f"question {i} from thread {thread}", user_id=thread))
            with lock:
                keys.append(key)

    threads = [threading.Thread(target=ask, args=(t,)) for t in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert log.flush(timeout=30)

    assert len(set(keys)) == 1000
    assert {r["key"] for r in rows(db_path)} == set(keys)
    assert log.write_failures == 0


def test_a_locked_database_makes_rows_wait_never_a_reply(
    db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = QueryLog(db_path, secret=SECRET, busy_timeout=0.1, max_backoff=0.2).open()
    locker = sqlite3.connect(db_path, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        started = time.perf_counter()
        log.record_query(event("my client Budi, 0812 3456 7890, was arrested"))
        assert time.perf_counter() - started < 0.01  # well under 100 ms: nothing waits

        assert not log.flush(timeout=1)  # it waits...
        assert log.health().waiting == 1 and not log.health().writable
        assert log.write_failures == 0  # ...and is not dropped
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert log.flush(timeout=5)

    [waiting, recovered] = [
        r.getMessage() for r in caplog.records if r.name == "rightsdesk.query_log"
    ]
    for line in (waiting, recovered):
        assert "\n" not in line
        assert "Budi" not in line and "0812" not in line and "arrested" not in line
    assert "locked" in waiting and "1 row(s) wait" in waiting
    assert "written again" in recovered

    log.record_query(event("and now?"))
    log.close()
    assert sorted(r["text"] for r in rows(db_path)) == [
        "and now?",
        "my client [name], [phone], was arrested",
    ]


def test_recording_on_a_closed_log_is_counted_not_raised(db_path: Path) -> None:
    log = QueryLog(db_path, secret=SECRET).open()
    log.close()
    log.record_query(event())
    assert log.write_failures == 1


def test_a_bad_event_is_dropped_without_stopping_the_writer(
    log: QueryLog, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log.record_feedback(log.record_query(event()), helpful=True, at=datetime(2026, 1, 1))  # naive
    log.record_query(event("still logging"))
    log.flush()
    assert log.write_failures == 1
    assert "could not anonymise" in caplog.text
    assert len(rows(db_path)) == 2


# --- retention ------------------------------------------------------------------------------------


def test_purge_deletes_old_queries_with_their_feedback_and_keeps_new_ones(db_path: Path) -> None:
    with QueryLog(db_path, secret=SECRET, retention_days=30) as log:
        old = log.record_query(event("old question", at=NOW - timedelta(days=31)))
        new = log.record_query(event("new question", at=NOW - timedelta(days=29)))
        for key in (old, new):
            log.record_feedback(key, helpful=True, at=NOW)
            log.record_choice(key, "ii-3-arbitrary-detention", at=NOW)
        log.flush()

        assert log.purge(now=NOW) == 1

    assert [r["key"] for r in rows(db_path)] == [new]
    assert [r["query_key"] for r in rows(db_path, "SELECT * FROM feedback")] == [new]
    assert [r["query_key"] for r in rows(db_path, "SELECT * FROM clarify_choices")] == [new]
    assert b"old question" not in raw_bytes(db_path)  # overwritten, not just unlinked


def test_the_log_purges_expired_rows_when_it_opens(db_path: Path) -> None:
    with QueryLog(db_path, secret=SECRET, retention_days=180) as log:
        log.record_query(event("ancient", at=datetime.now(UTC) - timedelta(days=400)))
        log.record_query(event("recent", at=datetime.now(UTC)))
    with QueryLog(db_path, secret=SECRET, retention_days=180):
        pass
    assert [r["text"] for r in rows(db_path)] == ["recent"]
