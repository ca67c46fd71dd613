"""The bot's HTTP to Telegram: JSON bodies, multipart only for files, and errors that never
carry the URL (which holds the token)."""

from __future__ import annotations

import json
import os
import socket
import traceback

import httpx
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import NetworkError, TimedOut

from fake_bot_api import FakeBotAPI
from rightsdesk.telegram_request import JsonRequest

os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")

TOKEN = "123456:SECRET-TOKEN-abcdef"
SENT = {"message_id": 7, "date": 0, "chat": {"id": 42, "type": "private"}, "text": "x"}


def _telegram(seen: list[httpx.Request]) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/getMe"):
            result: object = {"id": 1, "is_bot": True, "first_name": "Desk", "username": "d_bot"}
        else:
            result = SENT
        return httpx.Response(200, json={"ok": True, "result": result})

    return httpx.MockTransport(answer)


async def test_a_reply_goes_as_json_with_its_keyboard_as_an_object() -> None:
    seen: list[httpx.Request] = []
    request = JsonRequest(2, transport=_telegram(seen))
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("ดูต้นฉบับ", callback_data="en:1")]])
    async with Bot(TOKEN, request=request) as bot:
        message = await bot.send_message(42, "สิทธิของคุณ <b>ข้อ II.7</b>", reply_markup=markup)

    assert message.message_id == 7
    call = seen[-1]
    assert call.headers["content-type"] == "application/json"
    body = json.loads(call.content)
    assert body["chat_id"] == 42
    assert body["text"] == "สิทธิของคุณ <b>ข้อ II.7</b>"
    button = body["reply_markup"]["inline_keyboard"][0][0]
    assert button == {"text": "ดูต้นฉบับ", "callback_data": "en:1"}


async def test_a_file_goes_as_a_multipart_form() -> None:
    seen: list[httpx.Request] = []
    request = JsonRequest(2, transport=_telegram(seen))
    async with Bot(TOKEN, request=request) as bot:
        await bot.send_document(42, b"%PDF-1.4 fact sheet", filename="ii-7.pdf", caption="II.7")

    call = seen[-1]
    assert call.headers["content-type"].startswith("multipart/form-data")
    assert b"%PDF-1.4 fact sheet" in call.content
    assert b"ii-7.pdf" in call.content


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (
            httpx.ReadTimeout("timed out reading https://x/bot123456:SECRET-TOKEN-abcdef/getMe"),
            TimedOut,
        ),
        (httpx.PoolTimeout("no connection for https://x/bot123456:SECRET-TOKEN-abcdef/"), TimedOut),
        (httpx.ConnectError("cannot reach https://x/bot123456:SECRET-TOKEN-abcdef/"), NetworkError),
    ],
)
async def test_failures_become_the_library_errors_without_the_token(
    failure: httpx.HTTPError, expected: type[Exception]
) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise failure

    request = JsonRequest(2, transport=httpx.MockTransport(fail))
    await request.initialize()
    with pytest.raises(expected) as raised:
        await request.post(f"https://api.telegram.org/bot{TOKEN}/getMe")
    await request.shutdown()
    assert "SECRET-TOKEN" not in str(raised.value)
    # No chained httpx error either: a logged traceback would print its message, URL and all.
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    assert "SECRET-TOKEN" not in "".join(traceback.format_exception(raised.value))


async def test_it_can_be_started_again_after_a_shutdown() -> None:
    seen: list[httpx.Request] = []
    request = JsonRequest(1, transport=_telegram(seen))
    for _ in range(2):
        await request.initialize()
        await request.post(f"https://api.telegram.org/bot{TOKEN}/getMe")
        await request.shutdown()
    assert len(seen) == 2
    assert request.read_timeout == 5.0


# Without a test transport and with no proxy in the environment, calls go straight to
# httpcore's pool: the path every reply takes in production, here against real sockets.


async def test_the_direct_path_sends_a_reply_to_a_real_server(fake_bot_api: FakeBotAPI) -> None:
    request = JsonRequest(2)
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Lagi", callback_data="m:1")]])
    async with Bot(fake_bot_api.token, base_url=fake_bot_api.base_url, request=request) as bot:
        sent = await bot.send_message(
            42, "Hak Anda: <b>II.7</b>", parse_mode="HTML", reply_markup=markup
        )
    assert sent.text == "Hak Anda: II.7"
    (call,) = fake_bot_api.sent_messages()
    assert call.params["reply_markup"] == {
        "inline_keyboard": [[{"text": "Lagi", "callback_data": "m:1"}]]
    }


async def test_the_direct_path_reports_a_refused_connection_without_the_token() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    request = JsonRequest(1)
    await request.initialize()
    with pytest.raises(NetworkError) as raised:
        await request.post(f"http://127.0.0.1:{port}/bot{TOKEN}/getMe")
    await request.shutdown()
    assert "SECRET-TOKEN" not in str(raised.value)


async def test_the_direct_path_gives_up_on_a_silent_server_as_a_timeout() -> None:
    with socket.socket() as silent:  # accepts, then never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        request = JsonRequest(1, read_timeout=0.3)
        await request.initialize()
        with pytest.raises(TimedOut) as raised:
            await request.post(f"http://127.0.0.1:{port}/bot{TOKEN}/getMe")
        await request.shutdown()
    assert "SECRET-TOKEN" not in str(raised.value)
