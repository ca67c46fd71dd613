"""`rightsdesk doctor`: is this installation fit to run, in one plain line per check.

Written for an operator with no developer at hand: every line says what was found and, when
something is wrong, what to do. A check never raises and never changes anything it looks at
(the database check's write test is rolled back). Run it as the user the bot runs as: files
are checked with that user's rights, and a database opened by another user would leave
files behind that the bot could not open.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
import shutil
import sqlite3
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from rightsdesk.anonymise import SecretError, read_secret
from rightsdesk.config import Settings
from rightsdesk.content import check_content
from rightsdesk.localized import LANGUAGES
from rightsdesk.referrals import check_referrals

__all__ = ["CHECKS", "Result", "Status", "diagnose"]

MB = 1_000_000
DISK_WARN_BYTES = 500 * MB
DISK_FAIL_BYTES = 50 * MB
TOKEN_TIMEOUT_S = 5.0


class Status(enum.Enum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Result:
    """What one check found: ``message`` is one sentence for the operator."""

    name: str
    status: Status
    message: str

    def __str__(self) -> str:
        return f"{self.status.value.upper():<5}{self.name:<11}{self.message}"


Check = Callable[[Settings], Result]


def check_token(settings: Settings, *, timeout: float = TOKEN_TIMEOUT_S) -> Result:
    """Asks Telegram who the bot is (``getMe``), without ever showing the token."""
    token = settings.token
    if token is None:
        return Result(
            "token",
            Status.WARN,
            "no token set (console mode): set TELEGRAM_BOT_TOKEN or TELEGRAM_BOT_TOKEN_FILE"
            " to run on Telegram.",
        )
    try:
        with _quiet_httpx():
            # POST, as python-telegram-bot sends every call.
            response = httpx.post(f"{settings.api_url}{token}/getMe", timeout=timeout)
    except httpx.HTTPError as error:
        # An error's text can quote the URL, and the URL holds the token.
        reason = str(error).replace(token, "<token>") or type(error).__name__
        return Result(
            "token",
            Status.FAIL,
            f"cannot reach the Telegram Bot API ({reason}); check this server's network,"
            " DNS and any proxy.",
        )
    if response.status_code in (401, 404):
        return Result(
            "token",
            Status.FAIL,
            f"Telegram rejected the token ({response.status_code}); copy it again from"
            " @BotFather (it changes when revoked).",
        )
    try:
        username = response.json()["result"]["username"]
    except (ValueError, KeyError, TypeError):
        return Result(
            "token",
            Status.FAIL,
            f"Telegram answered HTTP {response.status_code}, not the bot's name; try again later.",
        )
    return Result("token", Status.OK, f"Telegram accepts the token of @{username}.")


@contextlib.contextmanager
def _quiet_httpx() -> Iterator[None]:
    # httpx logs every request URL at INFO, and this URL holds the token.
    loggers = [logging.getLogger(name) for name in ("httpx", "httpcore")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def check_database(settings: Settings) -> Result:
    """The query log: there or creatable, writable, intact, in WAL mode, private."""
    path = settings.db_path
    if not path.exists():
        folder = _nearest_folder(path)
        if folder is None or not os.access(folder, os.W_OK | os.X_OK):
            return Result(
                "database",
                Status.FAIL,
                f"{path} does not exist and cannot be created ({folder or path.parent} is not"
                " a writable folder); set RIGHTSDESK_DB to a path the bot's user can write.",
            )
        return Result(
            "database", Status.OK, f"{path} does not exist yet; the bot creates it at start."
        )
    if not path.is_file():
        return Result(
            "database", Status.FAIL, f"{path} is not a file; set RIGHTSDESK_DB to a database file."
        )
    mode = path.stat().st_mode
    if mode & stat.S_IRWXO:
        return Result(
            "database",
            Status.FAIL,
            f"{path} is open to others (mode {stat.filemode(mode)}); fix it with: chmod 600 {path}",
        )
    if not (os.access(path, os.R_OK | os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)):
        return Result(
            "database",
            Status.FAIL,
            f"{path} (or its folder) is not writable by this user; run the bot and doctor as"
            " the user that owns it.",
        )
    try:
        problem = _inspect_database(path)
    except sqlite3.Error as error:
        return Result(
            "database",
            Status.FAIL,
            f"{path} cannot be read as a SQLite database ({error}); restore the last backup"
            " (rightsdesk logs backup) or move the file away so a new one is made.",
        )
    if problem is not None:
        return Result("database", problem[0], f"{path}: {problem[1]}")
    return Result(
        "database", Status.OK, f"{path}: intact, writable, WAL mode, mode {stat.filemode(mode)}."
    )


def _inspect_database(path: Path) -> tuple[Status, str] | None:
    """The first problem found inside the file, or None."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, timeout=2.0)
    try:
        rows = conn.execute("PRAGMA integrity_check").fetchall()
        if [r[0] for r in rows] != ["ok"]:
            return (
                Status.FAIL,
                f"integrity check failed ({rows[0][0]}); restore the last backup.",
            )
        journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
        # A read-only disk (remounted after errors) or a stuck lock shows here, and only
        # here when doctor runs as root, which file modes do not stop.
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
        except sqlite3.OperationalError as error:
            if "locked" in str(error):  # a long report or export holds it: try again later
                return Status.WARN, f"held by another program for over 2 s ({error})."
            return Status.FAIL, f"cannot be written ({error})."
        if journal != "wal":
            return (
                Status.WARN,
                f"journal mode is {journal}, not wal; the bot switches it at its next start.",
            )
        return None
    finally:
        conn.close()


def _nearest_folder(path: Path) -> Path | None:
    """The closest existing ancestor of ``path``, if it is a folder."""
    for parent in path.parents:
        if parent.exists():
            return parent if parent.is_dir() else None
    return None


def check_secret(settings: Settings) -> Result:
    """The pseudonym secret: set, or a private file of at least MIN_SECRET_BYTES."""
    if settings.secret is not None:  # the settings have checked its length
        return Result(
            "secret", Status.OK, f"RIGHTSDESK_SECRET is set ({len(settings.secret)} bytes)."
        )
    path = settings.secret_path
    try:
        secret = read_secret(path)
    except FileNotFoundError:
        folder = _nearest_folder(path)
        if folder is None or not os.access(folder, os.W_OK | os.X_OK):
            return Result(
                "secret",
                Status.FAIL,
                f"there is no secret file {path}, and it cannot be created there; set"
                " RIGHTSDESK_SECRET_FILE to a path the bot's user can write.",
            )
        return Result(
            "secret",
            Status.WARN,
            f"no secret file {path} yet; the bot creates it (mode 600) at start.",
        )
    except SecretError as error:
        return Result("secret", Status.FAIL, str(error))
    return Result("secret", Status.OK, f"{path}: {len(secret)} bytes, mode 600.")


def check_content_files(settings: Settings) -> Result:
    """The knowledge base and the bot's words, checked as `rightsdesk kb check` does."""
    content = check_content(settings.kb_dir, settings.messages_path)
    if content.problems:
        more = f" (and {len(content.problems) - 1} more)" if len(content.problems) > 1 else ""
        return Result(
            "content",
            Status.FAIL,
            f"{content.problems[0]}{more}; `rightsdesk kb check` lists every problem.",
        )
    if content.kb is None or content.messages is None or content.emergencies is None:
        return Result(
            "content", Status.FAIL, "the content did not load; run `rightsdesk kb check`."
        )
    have = {
        "answers": {lang for e in content.kb.entries for lang in e.languages},
        "messages": set(content.messages.languages),
        "emergency cards": set(content.emergencies.languages),
    }
    missing = [
        f"{what} lack {', '.join(lang for lang in LANGUAGES if lang not in langs)}"
        for what, langs in have.items()
        if not set(LANGUAGES) <= langs
    ]
    if missing:
        return Result(
            "content",
            Status.WARN,
            f"valid, but {'; '.join(missing)}: those readers get English.",
        )
    return Result(
        "content",
        Status.OK,
        f"{len(content.kb)} entries and the bot's words are valid, in all"
        f" {len(LANGUAGES)} languages ({', '.join(LANGUAGES)}).",
    )


def check_admins(settings: Settings) -> Result:
    if not settings.admins:
        return Result(
            "admins",
            Status.WARN,
            "RIGHTSDESK_ADMINS is empty: nobody can use /stats or /gaps in Telegram.",
        )
    return Result("admins", Status.OK, f"{len(settings.admins)} admin(s) set.")


def check_disk(
    settings: Settings, *, warn_below: int = DISK_WARN_BYTES, fail_below: int = DISK_FAIL_BYTES
) -> Result:
    """Free space where the database lives: a full disk silently costs log rows."""
    folder = _nearest_folder(settings.db_path)
    if folder is None:
        return Result("disk", Status.FAIL, f"no folder to hold {settings.db_path}.")
    free = shutil.disk_usage(folder).free
    said = f"{free / MB:,.0f} MB free in {folder}"
    if free < fail_below:
        return Result(
            "disk", Status.FAIL, f"only {said} (under {fail_below / MB:,.0f} MB); free some space."
        )
    if free < warn_below:
        return Result(
            "disk", Status.WARN, f"only {said} (under {warn_below / MB:,.0f} MB); free some soon."
        )
    return Result("disk", Status.OK, f"{said}.")


def check_referral_contacts(settings: Settings) -> Result:
    """Whether "Talk to a person" has anyone to name besides emergency numbers."""
    path = settings.referrals_path
    problems, referrals = check_referrals(path)
    if problems or referrals is None:
        first = problems[0] if problems else f"{path}: did not load"
        return Result("referrals", Status.FAIL, f"{first}.")
    services = sum(len(c.services) for c in referrals.countries.values())
    if not services and not referrals.organisation.hotline:
        return Result(
            "referrals",
            Status.WARN,
            f"no legal aid, harm-reduction service or hotline in {path}: 'Talk to a person'"
            " can give only emergency numbers.",
        )
    hotline = ", and an organisation hotline" if referrals.organisation.hotline else ""
    return Result(
        "referrals",
        Status.OK,
        f"{services} service(s) in {len(referrals.countries)} countries{hotline}.",
    )


CHECKS: tuple[Check, ...] = (
    check_token,
    check_database,
    check_secret,
    check_content_files,
    check_admins,
    check_disk,
    check_referral_contacts,
)


def diagnose(settings: Settings, checks: Sequence[Check] = CHECKS) -> list[Result]:
    """Every check's result, in order. A check that crashes is reported as failed."""
    results = []
    for check in checks:
        try:
            results.append(check(settings))
        except Exception as error:  # one broken check must not hide the others
            name = check.__name__.removeprefix("check_")
            results.append(
                Result(name, Status.FAIL, f"the check itself failed: {type(error).__name__}.")
            )
    return results
