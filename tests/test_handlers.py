"""Handlers tested through ``Application.process_update``, as python-telegram-bot's own suite
does: no socket, a recording request object answers every Bot API call."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from telegram import Update
from telegram.ext import Application
from telegram.request import BaseRequest, RequestData

from conftest import ROOT, SECRET, make_desk
from rightsdesk.config import Settings
from rightsdesk.telegram_bot import Handlers, build_application

USER, ADMIN, BOT_ID = 4242, 999, 1
TOKEN = f"{BOT_ID}:TEST-token"


@dataclass
class RecordingRequest(BaseRequest):
    """Answers every Bot API method like Telegram would, and records what was asked.

    ``fail`` maps a method to a function that returns an HTTP status and body to send instead,
    for as long as it returns one (None lets the call succeed).
    """

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    fail: dict[str, Callable[[], tuple[int, dict[str, Any]] | None]] = field(default_factory=dict)
    _message_id: int = 100

    @property
    def read_timeout(self) -> float | None:
        return 1.0

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: object = None,
        write_timeout: object = None,
        connect_timeout: object = None,
        pool_timeout: object = None,
    ) -> tuple[int, bytes]:
        name = url.rsplit("/", 1)[-1]
        params = request_data.parameters if request_data else {}
        self.calls.append((name, dict(params)))
        failure = self.fail.get(name, lambda: None)()
        if failure is not None:
            status, body = failure
            return status, json.dumps(body).encode()
        return 200, json.dumps({"ok": True, "result": self._result(name, params)}).encode()

    def _result(self, name: str, params: dict[str, Any]) -> object:
        if name == "getMe":
            return {"id": BOT_ID, "is_bot": True, "first_name": "Rights Desk", "username": "rd_bot"}
        if name == "sendMessage":
            self._message_id += 1
            return {
                "message_id": self._message_id,
                "date": int(time.time()),
                "chat": {"id": params["chat_id"], "type": "private"},
                "text": params["text"],
            }
        return True

    def sent(self) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == "sendMessage"]


@dataclass
class Harness:
    app: Application  # type: ignore[type-arg]
    handlers: Handlers
    request: RecordingRequest
    next_id: int = 1

    async def update(self, payload: dict[str, Any]) -> None:
        payload = {"update_id": self.next_id, **payload}
        self.next_id += 1
        await self.app.process_update(Update.de_json(payload, self.app.bot))

    async def text(self, text: str, user: int = USER) -> None:
        message = _message(text, user)
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        await self.update({"message": message})

    async def press(self, data: str, user: int = USER) -> None:
        await self.update(
            {
                "callback_query": {
                    "id": str(self.next_id),
                    "from": _user(user),
                    "chat_instance": "ci",
                    "data": data,
                    "message": {**_message("earlier reply", BOT_ID), "chat": _chat(user)},
                }
            }
        )


def _user(user: int) -> dict[str, Any]:
    return {"id": user, "is_bot": user == BOT_ID, "first_name": "Rina", "language_code": "en"}


def _chat(user: int) -> dict[str, Any]:
    return {"id": user, "type": "private"}


def _message(text: str, user: int) -> dict[str, Any]:
    return {
        "message_id": 1,
        "date": int(time.time()),
        "chat": _chat(user),
        "from": _user(user),
        "text": text,
    }


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    async for h in _harness(tmp_path):
        yield h


async def _harness(tmp_path: Path, **env: str) -> AsyncIterator[Harness]:
    settings = Settings.from_env(
        {
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "RIGHTSDESK_DB": str(tmp_path / "q.db"),
            "RIGHTSDESK_SECRET": SECRET.decode(),
            "RIGHTSDESK_ADMINS": str(ADMIN),
            **env,
        },
        root=ROOT,
    )
    request = RecordingRequest()
    app, handlers = build_application(settings, make_desk(settings), request=request)
    async with app:
        yield Harness(app, handlers, request)


async def test_a_question_is_answered_with_html_and_buttons(harness: Harness) -> None:
    await harness.text("can police detain someone just for using drugs")
    [sent] = harness.request.sent()
    assert sent["parse_mode"] == "HTML" and "<b>II.7 " in sent["text"]
    keyboard = sent["reply_markup"]["inline_keyboard"]
    assert keyboard[0][0] == {"text": "More", "callback_data": "m:ii-7-arbitrary-arrest-detention"}
    assert harness.handlers.errors == 0


async def test_a_button_press_is_acknowledged_then_answered(harness: Harness) -> None:
    await harness.press("m:ii-7-arbitrary-arrest-detention")
    names = [name for name, _ in harness.request.calls]
    assert names.index("answerCallbackQuery") < names.index("sendMessage")
    assert "States must (shall):" in harness.request.sent()[0]["text"]


async def test_an_example_question_button_costs_one_flood_slot(tmp_path: Path) -> None:
    # Regression: the button and the question it asks were once counted as two messages.
    async for h in _harness(tmp_path, RIGHTSDESK_FLOOD_LIMIT="2"):
        await h.press("q:0")
        await h.text("can police detain someone just for using drugs")
        texts = [s["text"] for s in h.request.sent()]
        assert len(texts) == 2 and not any("very fast" in t for t in texts)


async def test_admin_commands_pass_the_flood_gate_too(tmp_path: Path) -> None:
    # Regression: 600 /stats from one person once went around the gate.
    async for h in _harness(tmp_path, RIGHTSDESK_FLOOD_LIMIT="3"):
        for _ in range(10):
            await h.text("/stats")
        texts = [s["text"] for s in h.request.sent()]
        assert len(texts) == 4  # three replies, then one warning, then silence
        assert "very fast" in texts[-1]


async def test_an_admin_report_never_goes_to_a_group(harness: Harness) -> None:
    message = {**_message("/stats", ADMIN), "chat": {"id": -500, "type": "group"}}
    message["entities"] = [{"type": "bot_command", "offset": 0, "length": 6}]
    await harness.update({"message": message})
    [sent] = harness.request.sent()
    assert sent["text"].startswith("I don't know that command.")


async def test_a_reply_is_retried_through_429s_only_as_long_as_its_patience(
    tmp_path: Path,
) -> None:
    # Regression: two retry layers once sent one message up to 12 times. Now one layer waits
    # out each 429 (1 s here) and gives up once the next wait would pass the patience.
    async for harness in _harness(tmp_path, RIGHTSDESK_SEND_PATIENCE_S="2"):
        harness.request.fail["sendMessage"] = lambda: (
            429,
            {"ok": False, "error_code": 429, "description": "Too Many Requests",
             "parameters": {"retry_after": 1}},
        )  # fmt: skip
        await harness.text("can police detain someone just for using drugs")
        answers = [p for p in harness.request.sent() if "II.7" in p["text"]]
        assert len(answers) == 2  # at 0 s and 1 s; a third at 2 s would pass the patience
        assert harness.handlers.errors == 1  # given up and counted; the error note is sent


async def test_a_photo_or_an_edit_gets_a_short_reply(harness: Harness) -> None:
    photo = {**_message("", USER), "photo": [{"file_id": "f", "file_unique_id": "u",
                                               "width": 1, "height": 1}]}  # fmt: skip
    del photo["text"]
    await harness.update({"message": photo})
    await harness.update({"edited_message": {**_message("changed", USER), "edit_date": 1}})
    texts = [s["text"] for s in harness.request.sent()]
    assert "only read text" in texts[0] and "new message" in texts[1]
