"""`rightsdesk doctor`: a healthy installation passes, and each broken part is named."""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import SECRET, free_port
from fake_bot_api import FakeBotAPI
from rightsdesk.anonymise import load_secret
from rightsdesk.cli import main
from rightsdesk.config import Settings
from rightsdesk.doctor import (
    Result,
    Status,
    check_database,
    check_disk,
    check_secret,
    check_token,
    diagnose,
)
from rightsdesk.query_log import QueryLog

ROOT = Path(__file__).resolve().parents[1]
NOBODY = 65534
SERVICE = """    services:
      - name: "Test legal aid"
        kind: legal_aid
        contact: "+62 21 555 0100"
        source: "a letter from the service"
        checked: 2026-12-01
"""


@pytest.fixture
def env(fake_bot_api: FakeBotAPI, tmp_path: Path) -> dict[str, str]:
    """The environment of a healthy installation, in tmp_path, on the fake Bot API."""
    data = tmp_path / "data"
    db = data / "rightsdesk.db"
    load_secret(data / "secret.key")
    QueryLog(db, secret=SECRET).open().close()
    bot = tmp_path / "bot"
    shutil.copytree(ROOT / "bot", bot)
    referrals = bot / "referrals.yaml"
    text = referrals.read_text(encoding="utf-8")
    referrals.write_text(text.replace("    services: []\n", SERVICE, 1), encoding="utf-8")
    return {
        "TELEGRAM_BOT_TOKEN": fake_bot_api.token,
        "TELEGRAM_API_URL": fake_bot_api.base_url,
        "RIGHTSDESK_DB": str(db),
        "RIGHTSDESK_MESSAGES": str(bot / "messages.yaml"),
        "RIGHTSDESK_KB": str(ROOT / "knowledge_base"),
        "RIGHTSDESK_ADMINS": "42",
    }


def settings_of(env: dict[str, str]) -> Settings:
    return Settings.from_env(env, root=ROOT)


def doctor(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, dict[str, str]]:
    """Run `rightsdesk doctor` in this process: its exit code and its line per check."""
    for name in [n for n in os.environ if n.startswith(("RIGHTSDESK_", "TELEGRAM_"))]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code = main(["doctor"])
    lines = capsys.readouterr().out.splitlines()
    return code, {line.split()[1]: line for line in lines[:-1]}


def test_a_healthy_installation_passes_as_the_real_command(
    env: dict[str, str], fake_bot_api: FakeBotAPI
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "rightsdesk.cli", "doctor"],
        env={**os.environ, **env, "NO_PROXY": "127.0.0.1,localhost"},
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == "7 checks: 7 ok, 0 warning(s), 0 failed."
    assert [line.split()[:2] for line in lines[:-1]] == [
        ["OK", name]
        for name in ("token", "database", "secret", "content", "admins", "disk", "referrals")
    ]
    assert "@rightsdesk_test_bot" in lines[0]
    assert "1 service(s)" in lines[6]
    assert len(fake_bot_api.calls("getMe")) == 1
    assert fake_bot_api.token not in done.stdout + done.stderr


def test_a_rejected_token_fails_and_says_so(
    env: dict[str, str],
    fake_bot_api: FakeBotAPI,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake_bot_api.reject_token()
    code, lines = doctor(env, monkeypatch, capsys)
    assert code == 1
    assert lines["token"].startswith("FAIL token")
    assert "rejected the token (401)" in lines["token"]
    assert all(lines[name].startswith("OK") for name in ("database", "secret", "content"))


def test_an_unreachable_api_is_not_called_a_bad_token(env: dict[str, str]) -> None:
    env["TELEGRAM_API_URL"] = f"http://127.0.0.1:{free_port()}/bot"  # nobody listens
    result = check_token(settings_of(env), timeout=2)
    assert result.status is Status.FAIL
    assert result.message.startswith("cannot reach the Telegram Bot API")
    assert "rejected" not in result.message and env["TELEGRAM_BOT_TOKEN"] not in result.message


def test_no_token_is_console_mode_a_warning(env: dict[str, str]) -> None:
    del env["TELEGRAM_BOT_TOKEN"]
    result = check_token(settings_of(env))
    assert result.status is Status.WARN and "no token set (console mode)" in result.message


def test_httpx_does_not_log_the_url_with_the_token(
    env: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    for name in ("", "httpx", "httpcore"):  # as verbose as an operator could make it
        caplog.set_level(logging.DEBUG, logger=name)
    assert check_token(settings_of(env)).status is Status.OK
    assert env["TELEGRAM_BOT_TOKEN"] not in caplog.text
    assert logging.getLogger("httpx").level == logging.DEBUG  # put back as it was


def _wrong_mode(path: Path) -> None:
    os.chmod(path, 0o640)


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _directory(path: Path) -> None:
    path.unlink()
    path.mkdir(mode=0o700)


def _too_short(path: Path) -> None:
    path.write_bytes(b"short")


@pytest.mark.parametrize(
    ("spoil", "said"),
    [
        (
            _wrong_mode,
            "accessible to group or others (mode -rw-r-----); restrict it with: chmod 600",
        ),
        (_empty, "is empty; remove it"),
        (_directory, "is not a file but a directory"),
        (_too_short, "holds a pseudonym secret of 5 bytes; at least 32 are needed"),
    ],
    ids=["wrong-mode", "empty", "directory", "too-short"],
)
def test_a_bad_secret_fails_with_the_file_and_the_fix(
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    spoil: object,
    said: str,
) -> None:
    secret = settings_of(env).secret_path
    spoil(secret)  # type: ignore[operator]
    code, lines = doctor(env, monkeypatch, capsys)
    assert code == 1
    assert lines["secret"].startswith("FAIL secret")
    assert said in lines["secret"] and str(secret) in lines["secret"]
    assert lines["token"].startswith("OK")  # only the secret is named


def test_a_missing_secret_file_is_a_warning_as_the_bot_creates_it(env: dict[str, str]) -> None:
    settings = settings_of(env)
    settings.secret_path.unlink()
    result = check_secret(settings)
    assert result.status is Status.WARN and "creates it (mode 600)" in result.message
    assert not settings.secret_path.exists()  # doctor looks, and changes nothing


def test_a_corrupt_database_fails(env: dict[str, str]) -> None:
    db = Path(env["RIGHTSDESK_DB"])
    db.write_bytes(b"this is not a database, it is a shopping list" * 100)
    result = check_database(settings_of(env))
    assert result.status is Status.FAIL
    assert result.message.startswith(f"{db} cannot be read as a SQLite database")
    assert "restore the last backup" in result.message


def test_a_database_folder_that_cannot_be_created_fails(
    env: dict[str, str], tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("a file where a folder should be")
    env["RIGHTSDESK_DB"] = str(blocker / "rightsdesk.db")
    env["RIGHTSDESK_SECRET"] = SECRET.decode()
    result = check_database(settings_of(env))
    assert result.status is Status.FAIL and "cannot be created" in result.message


def test_a_database_open_to_others_fails(env: dict[str, str]) -> None:
    os.chmod(env["RIGHTSDESK_DB"], 0o644)
    result = check_database(settings_of(env))
    assert result.status is Status.FAIL and "chmod 600" in result.message


def test_a_database_this_user_cannot_write_fails() -> None:
    # Root ignores file modes, so as root the check runs in a child that became nobody. The
    # folder lies outside pytest's tmp_path, whose parents only root may enter.
    folder = Path(tempfile.mkdtemp(prefix="rightsdesk-doctor-"))
    db = folder / "rightsdesk.db"
    try:
        QueryLog(db, secret=SECRET).open().close()
        os.chmod(db, 0o400)
        if os.geteuid() == 0:
            os.chown(folder, NOBODY, NOBODY)
            os.chown(db, NOBODY, NOBODY)
        os.chmod(folder, 0o500)
        settings = Settings.from_env({"RIGHTSDESK_DB": str(db)}, root=ROOT)
        said = _as_nobody_if_root(lambda: str(check_database(settings)))
    finally:
        os.chmod(folder, 0o700)
        shutil.rmtree(folder)
    assert said.startswith("FAIL database")
    assert "is not writable by this user" in said


def _as_nobody_if_root(run: Callable[[], str]) -> str:
    if os.geteuid() != 0:
        return run()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.close(read)
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            os.write(write, run().encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as said:
        text = said.read()
    os.waitpid(pid, 0)
    return text


def test_a_broken_knowledge_base_file_is_named_with_its_line(
    env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    kb = tmp_path / "kb"
    shutil.copytree(ROOT / "knowledge_base", kb)
    broken = kb / "topics" / "topic-broken.yaml"
    broken.write_text('id: topic-broken\ntitle:\n  en: "never closed\nsummary: x\n')
    env["RIGHTSDESK_KB"] = str(kb)
    code, lines = doctor(env, monkeypatch, capsys)
    assert code == 1
    assert lines["content"].startswith(f"FAIL content    {broken}:3: invalid YAML")


def test_no_admins_is_a_warning_and_does_not_fail(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    del env["RIGHTSDESK_ADMINS"]
    code, lines = doctor(env, monkeypatch, capsys)
    assert code == 0
    assert lines["admins"].startswith("WARN admins")
    assert "nobody can use /stats" in lines["admins"]


def test_disk_space_warns_then_fails_and_says_how_much(env: dict[str, str]) -> None:
    settings = settings_of(env)
    free = shutil.disk_usage(settings.db_path.parent).free
    plenty = check_disk(settings)
    assert plenty.status is Status.OK and "MB free in" in plenty.message
    low = check_disk(settings, warn_below=free * 2, fail_below=1)
    assert low.status is Status.WARN and f"under {free * 2 / 1e6:,.0f} MB" in low.message
    full = check_disk(settings, warn_below=free * 4, fail_below=free * 2)
    assert full.status is Status.FAIL and f"under {free * 2 / 1e6:,.0f} MB" in full.message


def test_a_check_that_crashes_is_reported_and_the_rest_still_run(env: dict[str, str]) -> None:
    def check_broken(settings: Settings) -> Result:
        raise RuntimeError("a bug")

    results = diagnose(settings_of(env), [check_broken, check_secret])
    assert [(r.name, r.status) for r in results] == [
        ("broken", Status.FAIL),
        ("secret", Status.OK),
    ]
    assert "RuntimeError" in results[0].message


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def test_a_database_held_by_another_writer_warns(env: dict[str, str]) -> None:
    holder = sqlite3.connect(env["RIGHTSDESK_DB"])
    holder.execute("BEGIN IMMEDIATE")
    try:
        result = check_database(settings_of(env))
    finally:
        holder.rollback()
        holder.close()
    assert result.status is Status.WARN and "held by another program" in result.message
