"""Through the real bot, personal data never reaches the database, and logging never costs
anyone an answer."""

from __future__ import annotations

import json
import re
import sqlite3
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from fake_bot_api import FakeBotAPI
from rightsdesk.cli import main
from telegram_harness import Bot

CORPUS = yaml.safe_load((Path(__file__).parent / "data" / "pii_corpus.yaml").read_text())
FIRST_USER = 7_310_000_001  # large ids, like real ones, so a leak would be unmistakable


def _database_bytes(db: Path) -> bytes:
    return b"".join(
        p.read_bytes() for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")) if p.exists()
    )


def _forms(planted: str) -> set[str]:
    """The planted string and, for numbers, the same digits without spaces or dashes."""
    forms = {planted}
    digits = re.sub(r"[\s\-().+]", "", planted)
    if sum(c.isdigit() for c in digits) >= 7:
        forms.add(digits)
    return forms


async def test_no_planted_identifier_reaches_the_database_files(
    bot: Bot, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert len(CORPUS) >= 40
    for i, message in enumerate(CORPUS):
        sender = message["sender"]
        bot.fake.send_text(
            FIRST_USER + i,
            message["text"],
            first_name=sender["first_name"],
            last_name=sender.get("last_name") or None,
            username=sender.get("username"),
        )
    await bot.fake.async_wait_for("sendMessage", count=len(CORPUS), timeout=60)
    assert bot.errors() == 0
    assert bot.log.flush(timeout=30)

    raw = _database_bytes(bot.settings.db_path)  # while the WAL is live, before any checkpoint
    leaks = []
    for i, message in enumerate(CORPUS):
        sender = message["sender"]
        secrets_of_message = {str(FIRST_USER + i)}  # user id (and chat id: the same in private)
        if sender.get("username"):
            secrets_of_message.add(sender["username"])
        for planted in message["planted"]:
            secrets_of_message |= _forms(str(planted))
        leaks += [s for s in secrets_of_message if s.encode() in raw]
    assert leaks == []

    # Every query was still counted.
    monkeypatch.setenv("RIGHTSDESK_DB", str(bot.settings.db_path))
    assert main(["logs", "stats", "--since", "all", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["total"] == len(CORPUS)


async def test_a_locked_database_does_not_stop_replies(bot: Bot) -> None:
    await bot.say("/help")  # make sure the log has opened its file
    assert bot.log.flush(timeout=30)
    blocker = sqlite3.connect(bot.settings.db_path, timeout=0.1)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        reply = await bot.say("can police detain someone just for using drugs")
        assert "Guidelines II.7" in reply.params["text"]
        again = await bot.say("/privacy")
        assert "never keep" in again.params["text"]
    finally:
        blocker.rollback()
        blocker.close()
    assert bot.errors() == 0


async def test_a_broken_database_path_keeps_logging_on_and_retrying(
    fake_bot_api: FakeBotAPI, tmp_path: Path
) -> None:
    from rightsdesk.config import Settings
    from rightsdesk.query_log import QueryLog
    from rightsdesk.telegram_bot import open_query_log

    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where a folder should be")
    settings = Settings.from_env(
        {
            "RIGHTSDESK_DB": str(blocked / "queries.db"),
            "RIGHTSDESK_SECRET": "x" * 32,
            # Only the database is broken here; the week's key (secret handling) is fine.
            "RIGHTSDESK_SECRET_FILE": str(tmp_path / "keys" / "secret.key"),
        }
    )
    log = open_query_log(settings)
    try:
        assert isinstance(log, QueryLog)  # not the null log: it waits for the database
        health = log.health()
        assert not health.writable and str(blocked / "queries.db") in (health.last_error or "")
    finally:
        log.close(timeout=0.5)


REGIONAL = yaml.safe_load((Path(__file__).parent / "data" / "pii_corpus_regional.yaml").read_text())
FIRST_REGIONAL_USER = 7_420_000_001


def _words(text: str) -> list[str]:
    """Lower-cased words, their combining marks kept: a Burmese "ခိုင်" is one word, not
    the letters either side of its vowel signs."""
    words, word = [], []
    for ch in unicodedata.normalize("NFC", text).lower():
        if ch.isalnum() or unicodedata.category(ch).startswith("M"):
            word.append(ch)
        elif word:
            words.append("".join(word))
            word = []
    return [*words, "".join(word)] if word else words


@dataclass(frozen=True)
class Stored:
    """Stored text, searchable as written and, for words typed without accents, folded: a
    name stored in lower case or as "Tam" still counts as found, but the everyday "tạm" is
    not the name "Tâm"."""

    exact: str
    plain: str

    @classmethod
    def of(cls, text: str) -> Stored:
        from rightsdesk.languages import fold

        words = _words(text)
        plain = [w if fold(w) == w else "\x00" for w in words]
        return cls(f" {' '.join(words)} ", f" {' '.join(plain)} ")


def _found(secret: str, stored: Stored) -> bool:
    from rightsdesk.languages import fold

    words = _words(secret)
    if len("".join(words)) < 3:
        return False
    # Whole words only: "ami" inside "dinamika" is not the nickname Ami.
    exact = f" {' '.join(words)} "
    folded = f" {' '.join(fold(w) for w in words)} "
    return exact in stored.exact or folded in stored.plain


async def test_no_name_or_number_of_the_regional_corpus_survives_anywhere_on_disk(
    bot: Bot, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """181 messages in the seven languages: names with and without cues in every script,
    senders who sign differently from their profile, numbers in every form. Each message's
    own stored row must hold none of its identifiers; the database, its WAL and every
    export together must hold none of the identifiers that could only be that person's
    (ids, usernames, full names, numbers, e-mails, addresses)."""
    assert len(REGIONAL) >= 150
    assert {m["lang"] for m in REGIONAL} == {"en", "id", "ms", "vi", "th", "my", "tl"}
    row_leaks, file_leaks = [], []
    seen: set[str] = set()
    for i, message in enumerate(REGIONAL):
        sender = message["sender"]
        user = FIRST_REGIONAL_USER + i
        await bot.say(
            message["text"],
            user=user,
            first_name=sender["first_name"],
            last_name=sender.get("last_name") or None,
            username=sender.get("username"),
        )
        # Rows are kept in order of their random key, not of arrival: find the new one.
        [row] = [r for r in bot.rows("queries") if r["key"] not in seen]
        seen.add(row["key"])
        names = [n for n in (sender["first_name"], sender.get("last_name")) if n]
        stored = Stored.of(row["text"])
        row_leaks += [(i, s) for s in [*message["planted"], *names] if _found(str(s), stored)]
    assert bot.errors() == 0
    assert len(bot.rows("queries")) == len(REGIONAL)

    monkeypatch.setenv("RIGHTSDESK_DB", str(bot.settings.db_path))
    exports = []
    for args in (
        ["--format", "csv"],
        ["--format", "json", "--rows"],
        ["--format", "csv", "--rows"],
    ):
        assert main(["logs", "export", "--since", "all", *args]) == 0
        exports.append(capsys.readouterr().out)
    assert main(["logs", "gaps", "--since", "all"]) == 0
    exports.append(capsys.readouterr().out)
    raw = _database_bytes(bot.settings.db_path).decode("utf-8", errors="ignore")
    everything = Stored.of(raw + "\n".join(exports))
    for i, message in enumerate(REGIONAL):
        sender = message["sender"]
        only_theirs = {
            str(FIRST_REGIONAL_USER + i),
            *([sender["username"]] if sender.get("username") else []),
        }
        for planted in map(str, message["planted"]):
            if len(planted.split()) > 1 or any(c.isdigit() for c in planted) or "@" in planted:
                only_theirs |= _forms(planted)
        file_leaks += [(i, s) for s in only_theirs if _found(s, everything)]
    assert (row_leaks, file_leaks) == ([], [])
