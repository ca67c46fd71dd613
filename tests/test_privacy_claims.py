"""What /privacy promises, one claim at a time, each checked against what the bot does.

The words are the bot's own (bot/messages.yaml); when a promise changes there, the test of
it must change too. Other claims are tested where the behaviour lives: weekly keys that are
destroyed (test_anonymise), buttons that hold no link to a stored question and discreet
mode (test_discreet), reports that show a wording only when k people sent it
(test_admin_reports, test_datasette), no identifier in the database files
(test_privacy_end_to_end).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from conftest import ROOT, SECRET, make_desk
from rightsdesk.config import Settings
from rightsdesk.desk import Asker, Desk
from rightsdesk.log_words import MASK
from rightsdesk.query_log import QueryLog


@pytest.fixture
def logged(tmp_path: Path):  # type: ignore[no-untyped-def]
    settings = Settings.from_env({"RIGHTSDESK_DB": str(tmp_path / "q.db")}, root=ROOT)
    log = QueryLog(settings.db_path, secret=SECRET, keys_path=tmp_path / "week.key").open()
    desk = make_desk(settings, log)
    yield desk, log, settings.db_path
    log.close()


def privacy(desk: Desk) -> str:
    return " ".join(b.text for b in desk.command("privacy", Asker(id=1)).blocks)


def rows(log: QueryLog, db: Path) -> list[sqlite3.Row]:
    assert log.flush()
    with sqlite3.connect(db) as connection:
        connection.row_factory = sqlite3.Row
        return list(connection.execute("select * from queries"))


def test_words_the_bot_does_not_know_are_masked_before_they_are_written(logged) -> None:
    desk, log, db = logged
    assert "every word I do not know replaced by a mask" in privacy(desk)
    desk.ask("Ratnawati Kusumadewi was arrested at Gang Kelinci, can police hold her?", Asker(2))
    [row] = rows(log, db)
    assert "Ratnawati" not in row["text"] and "Kusumadewi" not in row["text"]
    assert "Kelinci" not in row["text"]
    assert row["text"].startswith(MASK) and "police hold her" in row["text"]


def test_only_the_hour_is_kept_not_the_minute(logged) -> None:
    desk, log, db = logged
    assert "the hour (not the minute)" in privacy(desk)
    desk.ask("can police take my phone", Asker(3))
    [row] = rows(log, db)
    assert row["hour"].endswith(":00:00+00:00")


def test_no_column_could_hold_an_id_a_name_a_phone_or_a_country(logged) -> None:
    desk, log, db = logged
    text = privacy(desk)
    assert "Telegram id, chat id, name or username, your phone number, your country" in text
    someone = Asker(id=7_310_000_777, names=("Wulan", "Sari", "wulan_s"), language_code="id")
    desk.press("k:ID", someone)
    desk.ask("polisi ambil hp saya 0812 9988 7766, boleh?", someone)
    [row] = rows(log, db)
    assert set(row.keys()) == {
        "key", "hour", "week", "lang", "text", "decision", "top_id", "top_score",
        "runner_up_ids", "kb_version", "handling_ms", "asker",
    }  # fmt: skip
    raw = b"".join(p.read_bytes() for p in db.parent.iterdir() if p.name.startswith("q.db"))
    for secret in (b"7310000777", b"Wulan", b"wulan_s", b"9988", b"Indonesia"):
        assert secret not in raw


def test_the_retention_period_in_the_text_is_the_one_configured(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"RIGHTSDESK_DB": str(tmp_path / "q.db"), "RIGHTSDESK_RETENTION_DAYS": "30"}, root=ROOT
    )
    assert "for 30 days" in privacy(make_desk(settings))


def test_the_privacy_text_offers_discreet_mode_and_the_welcome_does_too() -> None:
    desk = make_desk()
    assert "/discreet" in privacy(desk) and "/wipe" in privacy(desk)
    welcome = " ".join(b.text for b in desk.command("start", Asker(id=1)).blocks)
    assert "/discreet" in welcome
