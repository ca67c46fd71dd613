"""The console chat: the desk in a terminal, buttons as numbers."""

from __future__ import annotations

import io
from pathlib import Path

import sqlite_utils

from conftest import ROOT, SECRET, make_desk
from rightsdesk.config import Settings
from rightsdesk.console import ConsoleChat
from rightsdesk.query_log import QueryLog


def chat(lines: list[str], desk=None) -> str:  # type: ignore[no-untyped-def]
    out = io.StringIO()
    ConsoleChat(desk or make_desk(), stdin=io.StringIO("\n".join(lines) + "\n"), stdout=out).run()
    return out.getvalue()


def test_a_session_starts_answers_and_says_goodbye() -> None:
    out = chat(["can police detain someone just for using drugs", "/quit"])
    assert out.index("Hello. I am Rights Desk.") < out.index("II.7 FREEDOM FROM ARBITRARY")
    assert "Source: Guidelines II.7" in out
    assert out.rstrip().endswith("Bye.")


def test_a_number_presses_the_button_with_that_number() -> None:
    out = chat(["/topics", "2", "/quit"])
    # Button 2 of /topics is Part II; pressing it lists Part II's items.
    assert "[2] II. Obligations arising from human rights standards" in out
    assert "II. Obligations arising from human rights standards. Pick an item:" in out


def test_unknown_commands_and_admin_commands_get_the_same_reply() -> None:
    out = chat(["/nosuch", "/stats", "/quit"])
    assert out.count("I don't know that command.") == 2
    assert "Queries:" not in out


def test_lang_offers_every_language_and_the_choice_sticks() -> None:
    desk = make_desk()
    out = io.StringIO()
    session = ConsoleChat(desk, stdin=io.StringIO("/lang\n4\n"), stdout=out)
    session.run()
    assert "[4] Tiếng Việt" in out.getvalue()
    assert desk.language(session.asker) == "vi"


def test_the_console_logs_the_language_the_person_chose(tmp_path: Path) -> None:
    # Regression: `rightsdesk chat --lang id --log` once stored lang="en".
    settings = Settings.from_env({"RIGHTSDESK_DB": str(tmp_path / "q.db")}, root=ROOT)
    log = QueryLog(settings.db_path, secret=SECRET).open()
    desk = make_desk(settings, log)
    session = ConsoleChat(desk, stdin=io.StringIO("polisi tahan klien\n"), stdout=io.StringIO())
    desk.choose_language(session.asker, "id")
    session.run()
    log.close()
    [row] = list(sqlite_utils.Database(settings.db_path)["queries"].rows)
    assert row["lang"] == "id"


def test_two_console_sessions_are_two_people(tmp_path: Path) -> None:
    # Regression: every console session once shared one pseudonym.
    settings = Settings.from_env({"RIGHTSDESK_DB": str(tmp_path / "q.db")}, root=ROOT)
    log = QueryLog(settings.db_path, secret=SECRET).open()
    desk = make_desk(settings, log)
    for _ in range(2):
        ConsoleChat(desk, stdin=io.StringIO("hello there\n"), stdout=io.StringIO()).run()
    log.close()
    askers = {row["asker"] for row in sqlite_utils.Database(settings.db_path)["queries"].rows}
    assert len(askers) == 2
