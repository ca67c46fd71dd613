"""A bad pseudonym secret stops the bot at start; `--no-log` runs without a log on purpose."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from fake_bot_api import FakeBotAPI
from rightsdesk.anonymise import SecretError
from rightsdesk.config import Settings
from rightsdesk.desk import open_query_log
from rightsdesk.query_log import QueryLog
from telegram_harness import USER

ROOT = Path(__file__).resolve().parents[1]


def _command(
    fake: FakeBotAPI, tmp_path: Path, *args: str, stdin: str | None = None
) -> subprocess.Popen[str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("RIGHTSDESK_", "TELEGRAM_"))
    }
    env |= {
        "TELEGRAM_BOT_TOKEN": fake.token,
        "TELEGRAM_API_URL": fake.base_url,
        "RIGHTSDESK_DB": str(tmp_path / "data" / "bot.db"),
        "NO_PROXY": "127.0.0.1,localhost",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "rightsdesk.cli", *args],
        env=env,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def _public_secret(tmp_path: Path) -> Path:
    secret = tmp_path / "data" / "secret.key"
    secret.parent.mkdir()
    secret.write_bytes(os.urandom(32))
    os.chmod(secret, 0o644)
    return secret


def test_run_with_a_public_secret_stops_before_calling_telegram(
    fake_bot_api: FakeBotAPI, tmp_path: Path
) -> None:
    secret = _public_secret(tmp_path)
    process = _command(fake_bot_api, tmp_path, "run")
    _, err = process.communicate(timeout=60)
    assert process.returncode == 1
    assert f"the secret file {secret} is accessible to group or others" in err
    assert f"chmod 600 {secret}" in err
    assert "Traceback" not in err
    assert fake_bot_api.calls() == []  # not even getMe
    assert not (tmp_path / "data" / "bot.db").exists()


def test_chat_with_a_log_and_an_empty_secret_stops(
    fake_bot_api: FakeBotAPI, tmp_path: Path
) -> None:
    secret = tmp_path / "data" / "secret.key"
    secret.parent.mkdir()
    secret.touch(mode=0o600)
    process = _command(fake_bot_api, tmp_path, "chat", "--log", stdin="")
    _, err = process.communicate("", timeout=60)
    assert process.returncode == 1
    assert f"the secret file {secret} is empty" in err and "Traceback" not in err


def test_run_no_log_answers_without_a_log_and_says_so(
    fake_bot_api: FakeBotAPI, tmp_path: Path
) -> None:
    _public_secret(tmp_path)  # still bad, and not read at all
    process = _command(fake_bot_api, tmp_path, "run", "--no-log")
    try:
        fake_bot_api.send_text(USER, "can police detain someone just for using drugs")
        [reply] = fake_bot_api.wait_for("sendMessage", timeout=30)
        assert "Guidelines II.7" in reply.params["text"]
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "running without a query log (--no-log)" in err
    assert not (tmp_path / "data" / "bot.db").exists()


def test_chat_no_log_says_so(fake_bot_api: FakeBotAPI, tmp_path: Path) -> None:
    _public_secret(tmp_path)
    process = _command(fake_bot_api, tmp_path, "chat", "--no-log", stdin="")
    out, err = process.communicate("/help\n", timeout=60)
    assert process.returncode == 0, err
    assert "No query log (--no-log)" in err and "/topics" in out


def test_a_secret_file_not_there_yet_is_still_created(tmp_path: Path) -> None:
    settings = Settings.from_env({"RIGHTSDESK_DB": str(tmp_path / "state" / "bot.db")})
    log = open_query_log(settings)
    try:
        assert isinstance(log, QueryLog)
        assert stat.S_IMODE(settings.secret_path.stat().st_mode) == 0o600
    finally:
        log.close()


def test_a_directory_in_place_of_the_secret_raises_before_the_database_is_touched(
    tmp_path: Path,
) -> None:
    settings = Settings.from_env({"RIGHTSDESK_DB": str(tmp_path / "bot.db")})
    settings.secret_path.mkdir(mode=0o700)
    with pytest.raises(SecretError, match=r"secret\.key is not a file but a directory"):
        open_query_log(settings)
    assert not settings.db_path.exists()
