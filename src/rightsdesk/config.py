"""Settings, read once from the environment into one typed object.

Nothing else in the package reads ``os.environ``: every part gets what it needs from here,
which keeps configuration explicit and tests free of environment leaks.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_API_URL = "https://api.telegram.org/bot"


class ConfigError(Exception):
    """A setting is missing or malformed; the message is one sentence for the operator."""


def _project_root() -> Path:
    # In a checkout the content sits beside src/; an installed package finds it from the cwd.
    here = Path(__file__).resolve().parents[2]
    return here if (here / "knowledge_base").is_dir() else Path.cwd()


@dataclass(frozen=True)
class Settings:
    kb_dir: Path
    messages_path: Path
    db_path: Path
    secret_path: Path
    secret: bytes | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    api_url: str = DEFAULT_API_URL
    webhook_secret: str | None = field(default=None, repr=False)
    admins: frozenset[int] = frozenset()
    retention_days: int = 180
    k_anonymity: int = 3
    flood_limit: int = 20
    flood_window_s: float = 60.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        root = _project_root()
        db_path = Path(env.get("RIGHTSDESK_DB") or root / "data" / "rightsdesk.db")
        secret = env.get("RIGHTSDESK_SECRET")
        return cls(
            kb_dir=Path(env.get("RIGHTSDESK_KB") or root / "knowledge_base"),
            messages_path=Path(env.get("RIGHTSDESK_MESSAGES") or root / "bot" / "messages.yaml"),
            db_path=db_path,
            secret_path=Path(env.get("RIGHTSDESK_SECRET_FILE") or db_path.parent / "secret.key"),
            secret=secret.encode() if secret else None,
            token=_read_token(env),
            api_url=env.get("TELEGRAM_API_URL") or DEFAULT_API_URL,
            webhook_secret=env.get("RIGHTSDESK_WEBHOOK_SECRET") or None,
            admins=_parse_admins(env.get("RIGHTSDESK_ADMINS", "")),
            retention_days=_positive_int(env, "RIGHTSDESK_RETENTION_DAYS", 180),
            k_anonymity=_positive_int(env, "RIGHTSDESK_K", 3),
            flood_limit=_positive_int(env, "RIGHTSDESK_FLOOD_LIMIT", 20),
        )


def _read_token(env: Mapping[str, str]) -> str | None:
    token = env.get("TELEGRAM_BOT_TOKEN", "").strip()
    if token:
        return token
    token_file = env.get("TELEGRAM_BOT_TOKEN_FILE", "").strip()
    if not token_file:
        return None
    try:
        token = Path(token_file).read_text(encoding="utf-8").strip()
    except OSError as error:
        raise ConfigError(
            f"Cannot read TELEGRAM_BOT_TOKEN_FILE {token_file}: {error.strerror}."
        ) from error
    if not token:
        raise ConfigError(f"TELEGRAM_BOT_TOKEN_FILE {token_file} is empty.")
    return token


def _parse_admins(value: str) -> frozenset[int]:
    admins: set[int] = set()
    for part in value.replace(" ", "").split(","):
        if not part:
            continue
        if not part.lstrip("-").isdigit():
            raise ConfigError(
                f"RIGHTSDESK_ADMINS must be Telegram user ids separated by commas, not '{part}'."
            )
        admins.add(int(part))
    return frozenset(admins)


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"{name} must be a whole number above 0, not '{value}'.")
    return int(value)
