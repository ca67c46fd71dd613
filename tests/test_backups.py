"""`rightsdesk logs backup`: a consistent copy while the bot writes, and a restore drill."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conftest import SECRET, make_event
from rightsdesk.backups import BackupError, backup
from rightsdesk.cli import main
from rightsdesk.query_log import QueryLog, QueryLogReader


def _keys(path: Path) -> set[str]:
    with QueryLogReader(path) as reader:
        return {row["key"] for row in reader.queries()}


@pytest.fixture
def data(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir(mode=0o700)
    (folder / "secret.key").write_bytes(SECRET)
    os.chmod(folder / "secret.key", 0o600)
    return folder


def test_restore_drill_a_backup_taken_while_the_log_writes_has_every_earlier_row(
    data: Path, tmp_path: Path
) -> None:
    db, keys = data / "rightsdesk.db", (data / "secret.key", data / "week.key")
    log = QueryLog(db, secret=SECRET, keys_path=data / "week.key").open()
    stop = threading.Event()

    def ask() -> None:
        n = 0
        while not stop.is_set():
            log.record_query(make_event(f"question {n}", user_id=1000 + n % 50))
            n += 1
            time.sleep(0.0005)

    writer = threading.Thread(target=ask)
    writer.start()
    try:
        while not db.exists() or len(_keys(db)) < 500:
            time.sleep(0.05)
        before = _keys(db)  # committed before the backup began
        made = backup(db, tmp_path / "backups", keep=3, key_files=keys)
        time.sleep(0.2)  # the writer goes on after the copy
    finally:
        stop.set()
        writer.join()
        log.close()
    assert made.rows >= len(before)
    assert len(_keys(db)) > made.rows  # rows kept arriving while and after it was taken

    with sqlite3.connect(made.path) as check:
        assert check.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    restored = tmp_path / "restored" / "rightsdesk.db"
    restored.parent.mkdir()
    shutil.copyfile(made.path, restored)
    got = _keys(restored)
    assert before <= got and len(got) == made.rows
    with QueryLog(restored, secret=SECRET, keys_path=tmp_path / "restored" / "week.key") as bot:
        bot.record_query(make_event("the first question after the restore"))
    assert len(_keys(restored)) == made.rows + 1  # the bot carries on with the copy

    folder = made.path.parent
    assert [p.name for p in folder.iterdir()] == [made.path.name]  # the .db and nothing else
    assert stat.S_IMODE(made.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def _log_with(db: Path, count: int) -> None:
    with QueryLog(db, secret=SECRET) as log:
        for n in range(count):
            log.record_query(make_event(f"question {n}"))


def test_keep_prunes_the_oldest_backups_and_nothing_else(data: Path, tmp_path: Path) -> None:
    db = data / "rightsdesk.db"
    _log_with(db, 3)
    folder = tmp_path / "backups"
    folder.mkdir()
    older = [folder / f"rightsdesk-2026110{day}T0800Z.db" for day in (1, 2, 3, 4)]
    for path in older:
        path.write_bytes(b"an older backup")
    (folder / "notes.txt").write_text("the operator's own file")
    made = backup(db, folder, keep=3, now=datetime(2026, 12, 2, 8, 0, tzinfo=UTC))
    assert made.path == folder / "rightsdesk-20261202T0800Z.db" and made.rows == 3
    assert made.deleted == tuple(older[:2])
    assert sorted(p.name for p in folder.iterdir()) == [
        "notes.txt",
        older[2].name,
        older[3].name,
        made.path.name,
    ]


@pytest.mark.parametrize("where", ["the key folder", "a folder above it"])
def test_a_folder_holding_the_keys_is_refused(data: Path, where: str) -> None:
    db = data / "rightsdesk.db"
    _log_with(db, 1)
    target = data if where == "the key folder" else data.parent
    before = sorted(target.rglob("*"))
    with pytest.raises(BackupError, match=r"holds the key file .*secret\.key"):
        backup(db, target, key_files=(data / "secret.key", data / "week.key"))
    assert sorted(target.rglob("*")) == before  # nothing written


def test_the_command_prints_the_path_and_rows_and_fails_in_one_sentence(
    data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = data / "rightsdesk.db"
    monkeypatch.setenv("RIGHTSDESK_DB", str(db))
    monkeypatch.delenv("RIGHTSDESK_SECRET_FILE", raising=False)
    folder = tmp_path / "backups"
    assert main(["logs", "backup", str(folder)]) == 1
    err = capsys.readouterr().err
    assert err == f"rightsdesk: there is no query log at {db} to back up.\n"
    assert not folder.exists()

    _log_with(db, 7)
    assert main(["logs", "backup", str(folder), "--keep", "2"]) == 0
    out = capsys.readouterr().out
    [made] = folder.iterdir()
    assert out.startswith(f"{made}: 7 queries, copied in ")
    assert main(["logs", "backup", str(data)]) == 1  # the secret lives there
    assert "holds the key file" in capsys.readouterr().err
