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
        ({"RIGHTSDESK_SECRET": "k" * 31}, "RIGHTSDESK_SECRET is 31 bytes; at least 32"),
        ({"RIGHTSDESK_K": "1"}, "RIGHTSDESK_K must be a whole number of at least 3"),
        ({"RIGHTSDESK_WEBHOOK_SECRET": "has space"}, "RIGHTSDESK_WEBHOOK_SECRET may hold only"),
        ({"RIGHTSDESK_WEBHOOK_SECRET": "x" * 257}, "RIGHTSDESK_WEBHOOK_SECRET may hold only"),
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


def test_a_short_secret_stops_the_bot_at_start_instead_of_turning_the_log_off(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Regression: a short RIGHTSDESK_SECRET once let the bot run with its query log silently off.
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:ABC")
    monkeypatch.setenv("RIGHTSDESK_SECRET", "too-short")
    assert main(["run"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "RIGHTSDESK_SECRET is 9 bytes" in err


def test_every_setting_is_documented_in_the_readme_and_the_env_example() -> None:
    import re

    root = Path(__file__).resolve().parents[1]
    source = (root / "src" / "rightsdesk" / "config.py").read_text()
    names = set(re.findall(r"\b((?:RIGHTSDESK|TELEGRAM)_[A-Z_]+)\b", source))
    assert {"RIGHTSDESK_SECRET", "RIGHTSDESK_K", "TELEGRAM_BOT_TOKEN"} <= names
    readme = (root / "README.md").read_text()
    example = (root / "deploy" / "rightsdesk.env.example").read_text()
    assert not {n for n in names if n not in readme}, "undocumented in README.md"
    assert not {n for n in names if n not in example}, "missing from the env example"


def test_an_installed_package_finds_its_content_from_any_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from rightsdesk import config

    share = tmp_path / "share" / "rightsdesk"
    (share / "knowledge_base").mkdir(parents=True)
    monkeypatch.setattr(config, "__file__", str(tmp_path / "site" / "rightsdesk" / "config.py"))
    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    monkeypatch.chdir(tmp_path / "share")
    assert config.content_root() == share
    assert Settings.from_env({}).kb_dir == share / "knowledge_base"


def test_every_content_folder_is_installed_with_the_package() -> None:
    import tomllib

    root = Path(__file__).resolve().parents[1]
    data_files = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"][
        "data-files"
    ]
    listed = {Path(pattern).parent for patterns in data_files.values() for pattern in patterns}
    folders = {
        p.parent.relative_to(root)
        for top in ("knowledge_base", "bot")
        for p in (root / top).rglob("*")
        if p.suffix in (".yaml", ".md", ".tsv")
    }
    assert folders <= listed, f"add to [tool.setuptools.data-files]: {sorted(folders - listed)}"
