"""Settings, read once from the environment into one typed object.

Nothing else in the package reads ``os.environ``, and every default lives here: the other
modules take their values as arguments. :meth:`Settings.from_env` validates everything, so
a bad setting stops the bot at start with one clear line instead of surfacing later (for
example as a query log that quietly stays off).
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from rightsdesk.anonymise import MIN_SECRET_BYTES

DEFAULT_API_URL = "https://api.telegram.org/bot"
# Below three, "several people asked this" could point at one or two people.
MIN_K_ANONYMITY = 3
# What Telegram accepts as a webhook secret token.
WEBHOOK_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
# Plain http is allowed only to this machine, where tests serve updates; anywhere else an
# update must come over https, so that a network in between cannot even see which is fetched.
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
KB_PUBLIC_KEY_BYTES = 32
DEFAULT_KB_CHECK_HOURS = 6.0


class ConfigError(Exception):
    """A setting is missing or malformed; the message is one sentence for the operator."""


def content_root() -> Path:
    """Where ``knowledge_base/`` and ``bot/`` are when no setting says otherwise.

    In a checkout they sit beside ``src/``; ``pip install .`` copies them to
    ``<prefix>/share/rightsdesk``, so an installed command finds them from any folder.
    """
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "knowledge_base").is_dir():
        return checkout
    installed = Path(sys.prefix) / "share" / "rightsdesk"
    if (installed / "knowledge_base").is_dir():
        return installed
    return Path.cwd()


@dataclass(frozen=True)
class Settings:
    """Everything configurable, with its default. Built by :meth:`from_env` or by tests."""

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
    k_anonymity: int = MIN_K_ANONYMITY
    flood_limit: int = 20
    flood_window_s: float = 60.0
    # Updates handled at once (and HTTP connections kept). Measured with
    # tests/bench_telegram.py: 8 beat both 4 and 16, and python-telegram-bot's default of 256
    # spent its time in connection-pool bookkeeping. Re-measured with the analysis worker on
    # a shared, busy 2-core machine (updates/s, runs interleaved): 2: 144-170; 4: 170-258;
    # 8: 152-292. Without it: 1: 113-120, 2: 90-131, 4: 136-192, 8: 100-169. 2 is too few
    # to keep the worker busy; between 4 and 8 the noise decides, so 8 stays.
    concurrent_updates: int = 8
    # How long one reply is retried through 429s, 5xx, timeouts and resets before it is given
    # up (see telegram_bot.Sender for why it is bounded at all).
    send_patience_s: float = 300.0
    # How long Telegram must keep rejecting the token (401 on getUpdates and getMe) before the
    # bot exits non-zero for the service manager: a proxy's hiccup must not end it.
    token_revoked_after_s: float = 30.0
    default_language: str = "en"
    # The Telegram bot analyses questions (emergency recognition, matching) in a worker
    # process, so that a second core works while its own sends replies: in one process the
    # two take turns under one interpreter lock (see rightsdesk.analysis_worker for the
    # figures). RIGHTSDESK_WORKER=0 turns it off: one process, as the console always is.
    # Off costs nothing but capacity; a worker that fails is never waited for anyway.
    analysis_worker: bool = True
    # How long a question waits for the worker before the desk analyses it itself (the
    # worker is then replaced): it normally answers in about a millisecond or two.
    worker_timeout_s: float = 1.0
    # Signed knowledge-base updates (rightsdesk.kb_updates): off while kb_url is None.
    kb_url: str | None = field(default=None, repr=False)
    kb_public_key: bytes | None = None
    kb_check_hours: float = DEFAULT_KB_CHECK_HOURS

    @property
    def emergency_dir(self) -> Path:
        """Emergency words and cards live beside the bot's own words."""
        return self.messages_path.parent / "emergency"

    @property
    def week_key_path(self) -> Path:
        """This week's pseudonym key, replaced (and so destroyed) when the week ends."""
        return self.secret_path.parent / "week.key"

    @property
    def referrals_path(self) -> Path:
        return self.messages_path.parent / "referrals.yaml"

    @property
    def kb_updates_dir(self) -> Path:
        """Where verified update bundles are unpacked, one folder each."""
        return self.db_path.parent / "kb-updates"

    @classmethod
    def defaults(cls, root: Path | None = None) -> Settings:
        """The settings of a bot started with an empty environment."""
        return cls.from_env({}, root=root)

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, root: Path | None = None
    ) -> Settings:
        env = os.environ if env is None else env
        root = root or content_root()
        db_path = Path(env.get("RIGHTSDESK_DB") or root / "data" / "rightsdesk.db")
        return cls(
            kb_dir=Path(env.get("RIGHTSDESK_KB") or root / "knowledge_base"),
            messages_path=Path(env.get("RIGHTSDESK_MESSAGES") or root / "bot" / "messages.yaml"),
            db_path=db_path,
            secret_path=Path(env.get("RIGHTSDESK_SECRET_FILE") or db_path.parent / "secret.key"),
            secret=_secret(env),
            token=_read_token(env),
            api_url=env.get("TELEGRAM_API_URL") or DEFAULT_API_URL,
            webhook_secret=_webhook_secret(env),
            admins=_parse_admins(env.get("RIGHTSDESK_ADMINS", "")),
            retention_days=_positive_int(env, "RIGHTSDESK_RETENTION_DAYS", 180),
            k_anonymity=_positive_int(env, "RIGHTSDESK_K", MIN_K_ANONYMITY, least=MIN_K_ANONYMITY),
            flood_limit=_positive_int(env, "RIGHTSDESK_FLOOD_LIMIT", 20),
            send_patience_s=_positive_int(env, "RIGHTSDESK_SEND_PATIENCE_S", 300),
            token_revoked_after_s=_positive_int(env, "RIGHTSDESK_TOKEN_REVOKED_AFTER_S", 30),
            analysis_worker=_switch(env, "RIGHTSDESK_WORKER", default=True),
            kb_url=_kb_url(env),
            kb_public_key=_kb_public_key(env),
            kb_check_hours=_kb_check_hours(env),
        )


def redact_url(url: str) -> str:
    """``url`` without what may hold a credential (user, password, query, fragment)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def kb_url_problem(url: str) -> str | None:
    """Why ``url`` may not serve updates (a sentence naming it, redacted), or None if it may."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        return f"'{redact_url(url)}' is not a valid URL."
    if not host:
        return f"'{redact_url(url)}' is not a full URL (https://host/path)."
    if parts.scheme == "https" or (parts.scheme == "http" and host in LOCAL_HOSTS):
        return None
    return (
        f"'{redact_url(url)}' must use https:// (http:// is allowed only for 127.0.0.1 or"
        " localhost)."
    )


def _kb_url(env: Mapping[str, str]) -> str | None:
    url = env.get("RIGHTSDESK_KB_URL", "").strip()
    if not url:
        return None
    problem = kb_url_problem(url)
    if problem:
        raise ConfigError(f"RIGHTSDESK_KB_URL {problem}")
    if not (env.get("RIGHTSDESK_KB_PUBLIC_KEY") or env.get("RIGHTSDESK_KB_PUBLIC_KEY_FILE")):
        raise ConfigError(
            "RIGHTSDESK_KB_URL is set but RIGHTSDESK_KB_PUBLIC_KEY (or _FILE) is not: updates"
            " cannot be checked without the organisation's public key."
        )
    return url


def _kb_public_key(env: Mapping[str, str]) -> bytes | None:
    name = "RIGHTSDESK_KB_PUBLIC_KEY"
    text = env.get(name, "").strip()
    key_file = env.get(f"{name}_FILE", "").strip()
    if not text and key_file:
        name = f"{name}_FILE {key_file}"
        try:
            text = Path(key_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) else "not text"
            raise ConfigError(
                f"Cannot read RIGHTSDESK_KB_PUBLIC_KEY_FILE {key_file}: {reason}."
            ) from error
        if not text:
            raise ConfigError(f"RIGHTSDESK_KB_PUBLIC_KEY_FILE {key_file} is empty.")
    if not text:
        return None
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KB_PUBLIC_KEY_BYTES:
        raise ConfigError(
            f"{name} must be the one-line public key `rightsdesk kb keygen` wrote"
            " (kb-signing.pub: 44 characters of base64)."
        )
    return key


def _kb_check_hours(env: Mapping[str, str]) -> float:
    value = env.get("RIGHTSDESK_KB_CHECK_HOURS", "").strip()
    if not value:
        return DEFAULT_KB_CHECK_HOURS
    try:
        hours = float(value)
    except ValueError:
        hours = 0.0
    # At most a month: a longer gap means corrections never arrive; 0 or less would spin.
    if not 0 < hours <= 24 * 31:
        raise ConfigError(
            f"RIGHTSDESK_KB_CHECK_HOURS must be a number of hours above 0 and at most 744,"
            f" not '{value}'."
        )
    return hours


def _secret(env: Mapping[str, str]) -> bytes | None:
    value = env.get("RIGHTSDESK_SECRET", "")
    if not value:
        return None
    secret = value.encode("utf-8")
    if len(secret) < MIN_SECRET_BYTES:
        raise ConfigError(
            f"RIGHTSDESK_SECRET is {len(secret)} bytes; at least {MIN_SECRET_BYTES} are needed"
            " (make one with: python -c 'import secrets; print(secrets.token_hex(32))')."
        )
    return secret


def _webhook_secret(env: Mapping[str, str]) -> str | None:
    value = env.get("RIGHTSDESK_WEBHOOK_SECRET", "")
    if not value:
        return None
    if not WEBHOOK_SECRET.match(value):
        raise ConfigError(
            "RIGHTSDESK_WEBHOOK_SECRET may hold only A-Z, a-z, 0-9, _ and -, at most 256 of them."
        )
    return value


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


def _switch(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    value = env.get(name, "").strip().casefold()
    if not value:
        return default
    if value in ("1", "on", "yes", "true"):
        return True
    if value in ("0", "off", "no", "false"):
        return False
    raise ConfigError(f"{name} must be 1 or 0 (on or off), not '{value}'.")


def _positive_int(env: Mapping[str, str], name: str, default: int, *, least: int = 1) -> int:
    value = env.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit() or int(value) < least:
        raise ConfigError(f"{name} must be a whole number of at least {least}, not '{value}'.")
    return int(value)
