"""Settings come from the environment, once, with one clear sentence when something is off."""

from __future__ import annotations

from pathlib import Path

import pytest

from rightsdesk.cli import main
from rightsdesk.config import ConfigError, Settings


def test_defaults_point_at_the_shipped_content() -> None:
    settings = Settings.from_env({})
    assert (settings.kb_dir / "README.md").exists()
    assert settings.messages_path.name == "messages.yaml"
    assert settings.token is None and settings.admins == frozenset()
    assert settings.retention_days == 180 and settings.k_anonymity == 3


def test_the_token_can_come_from_a_file(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("123:ABC\n")
    assert Settings.from_env({"TELEGRAM_BOT_TOKEN_FILE": str(token_file)}).token == "123:ABC"


def test_the_token_never_shows_in_the_settings_repr() -> None:
    settings = Settings.from_env(
        {"TELEGRAM_BOT_TOKEN": "123:SECRET", "RIGHTSDESK_SECRET": "k" * 32}
    )
    assert "SECRET" not in repr(settings) and "kkkk" not in repr(settings)


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"RIGHTSDESK_ADMINS": "12, bob"}, "RIGHTSDESK_ADMINS must be Telegram user ids"),
        ({"RIGHTSDESK_RETENTION_DAYS": "soon"}, "RIGHTSDESK_RETENTION_DAYS must be a whole"),
        ({"TELEGRAM_BOT_TOKEN_FILE": "/nonexistent/token"}, "Cannot read TELEGRAM_BOT_TOKEN_FILE"),
    ],
)
def test_bad_settings_are_one_sentence(env: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        Settings.from_env(env)


def test_admins_are_parsed() -> None:
    assert Settings.from_env({"RIGHTSDESK_ADMINS": "12, 34"}).admins == frozenset({12, 34})


def test_run_without_a_token_says_so_in_one_sentence(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN_FILE", raising=False)
    assert main(["run"]) == 1
    err = capsys.readouterr().err
    assert "no Telegram token" in err and "Traceback" not in err
