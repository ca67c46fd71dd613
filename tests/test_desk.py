"""The desk: one service, the same behaviour and the same log row whatever the adapter."""

from __future__ import annotations

import io
from pathlib import Path

import sqlite_utils

from conftest import ROOT, SECRET, make_desk
from rightsdesk.config import Settings
from rightsdesk.console import ConsoleChat
from rightsdesk.desk import Asker
from rightsdesk.query_log import QueryLog
from telegram_harness import Bot

QUESTION = "cops took my client's phone without a warrant, is that allowed?"
# Columns that say what was asked and decided; the rest (key, hour, asker) are per event.
SAME = ("week", "lang", "text", "decision", "top_id", "top_score", "runner_up_ids", "kb_version")


async def test_console_and_telegram_write_the_same_row_for_the_same_question(
    bot: Bot, tmp_path: Path
) -> None:
    await bot.say(QUESTION)
    [telegram_row] = bot.rows("queries")

    settings = Settings.from_env({"RIGHTSDESK_DB": str(tmp_path / "console.db")}, root=ROOT)
    log = QueryLog(settings.db_path, secret=SECRET).open()
    console = ConsoleChat(
        make_desk(settings, log), stdin=io.StringIO(QUESTION), stdout=io.StringIO()
    )
    console.run()
    log.close()
    [console_row] = list(sqlite_utils.Database(settings.db_path)["queries"].rows)

    assert {c: console_row[c] for c in SAME} == {c: telegram_row[c] for c in SAME}
    assert console_row["decision"] == "answer" and console_row["top_id"] == "ii-9-privacy"


def test_a_query_log_that_fails_never_costs_the_reply() -> None:
    class Broken:
        def record_query(self, event: object) -> str:
            raise OSError("disk on fire")

        def close(self) -> None:
            pass

    desk = make_desk(query_log=Broken())
    reply = desk.ask(QUESTION, Asker(id=1))
    assert reply.blocks[0].text.startswith("II.9")
    assert not any(b.data.startswith("f:") for row in reply.buttons for b in row)


def test_admin_commands_exist_only_for_admins() -> None:
    desk = make_desk(Settings.from_env({"RIGHTSDESK_ADMINS": "7"}, root=ROOT))
    unknown = desk.command("nosuch", Asker(id=8)).blocks[0].text
    assert desk.command("stats", Asker(id=8)).blocks[0].text == unknown
    assert desk.command("stats", Asker(id=7)).blocks[0].text != unknown


def test_the_reply_language_is_the_persons_choice_then_their_app_then_english() -> None:
    desk = make_desk()
    someone = Asker(id=5, language_code="en-GB")
    assert desk.language(someone) == "en"
    assert desk.language(Asker(id=6, language_code="xx")) == "en"
    desk.choose_language(someone, "th")
    assert desk.language(someone) == "th"


def test_choices_are_kept_in_memory_for_a_bounded_number_of_people(
    monkeypatch: object,
) -> None:
    import rightsdesk.desk as desk_module

    desk = make_desk()
    monkeypatch.setattr(desk_module, "CHOICES_KEPT", 3)  # type: ignore[attr-defined]
    for person in range(5):
        desk.choose_language(Asker(id=person), "vi")
    assert [desk.language(Asker(id=p)) for p in range(5)] == ["en", "en", "vi", "vi", "vi"]
