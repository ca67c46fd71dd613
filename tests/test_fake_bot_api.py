"""The fake Bot API works with the real python-telegram-bot client.

Most tests here drive the real PTB ``Application``/``Bot`` against :class:`FakeBotAPI` over
HTTP on 127.0.0.1, so a green run means the other end-to-end tests can trust the fake.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import logging
import os
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, MessageEntity, Update
from telegram.error import BadRequest, InvalidToken
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    BaseRateLimiter,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from fake_bot_api import FakeBotAPI, decode_params, parse_html

# httpx logs every URL at INFO, and the URL contains the token.
logging.getLogger("httpx").setLevel(logging.WARNING)

NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture(autouse=True)
def _loopback_without_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy variable in the environment would otherwise route 127.0.0.1 through the proxy."""
    for name in ("NO_PROXY", "no_proxy"):
        current = os.environ.get(name, "")
        monkeypatch.setenv(name, ",".join(filter(None, [current, "127.0.0.1", "localhost"])))


def build_app(fake: FakeBotAPI, rate_limiter: BaseRateLimiter[Any] | None = None) -> Application:
    builder = (
        ApplicationBuilder()
        .token(fake.token)
        .base_url(fake.base_url)
        .get_updates_read_timeout(3)
        .get_updates_connect_timeout(2)
        .get_updates_pool_timeout(2)
    )
    if rate_limiter is not None:
        builder = builder.rate_limiter(rate_limiter)
    return builder.build()


@contextlib.asynccontextmanager
async def running_bot(
    fake: FakeBotAPI, *handlers: Any, rate_limiter: BaseRateLimiter[Any] | None = None
) -> AsyncIterator[list[BaseException]]:
    """Run a polling Application with ``handlers``; yield the list its error handler fills."""
    app = build_app(fake, rate_limiter)
    errors: list[BaseException] = []

    async def collect_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        errors.append(context.error or RuntimeError("error handler called without error"))

    for handler in handlers:
        app.add_handler(handler)
    app.add_error_handler(collect_error)
    async with app:
        await app.updater.start_polling(poll_interval=0, timeout=1)
        await app.start()
        try:
            yield errors
        finally:
            await app.updater.stop()
            await app.stop()


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.effective_message.reply_text(update.effective_message.text)


def post(url: str, fields: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """A raw form POST, as PTB sends it, bypassing any proxy."""
    data = urllib.parse.urlencode(fields).encode()
    try:
        with NO_PROXY_OPENER.open(urllib.request.Request(url, data=data), timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def method_url(fake: FakeBotAPI, method: str) -> str:
    return f"{fake.base_url}{fake.token}/{method}"


# ---- the real Application against the fake ------------------------------------------------


async def test_text_message_is_echoed(fake_bot_api: FakeBotAPI) -> None:
    handler = MessageHandler(filters.TEXT & ~filters.COMMAND, echo)
    async with running_bot(fake_bot_api, handler) as errors:
        fake_bot_api.send_text(42, "hello, desk", first_name="Ana", username="ana_k")
        [call] = await fake_bot_api.async_wait_for("sendMessage")

    assert errors == []
    assert call.params["chat_id"] == 42
    assert call.params["text"] == "hello, desk"
    message = call.response["result"]
    assert message["from"]["username"] == FakeBotAPI.bot_user["username"]
    assert message["chat"] == {
        "id": 42,
        "type": "private",
        "first_name": "Ana",
        "username": "ana_k",
    }
    assert fake_bot_api.failed_calls() == []


async def test_commands_are_routed_to_command_handlers(fake_bot_api: FakeBotAPI) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.message.reply_text(f"welcome {' '.join(context.args)}".strip())

    handlers = [
        CommandHandler(["start", "help"], start),
        MessageHandler(filters.TEXT & ~filters.COMMAND, echo),
    ]
    async with running_bot(fake_bot_api, *handlers) as errors:
        fake_bot_api.send_command(7, "start")
        fake_bot_api.send_command(7, "help a b")
        fake_bot_api.send_group_text(7, -1001234, "/help@rightsdesk_test_bot c")
        # Addressed to another bot: neither the CommandHandler nor the text echo may answer.
        fake_bot_api.send_group_text(7, -1001234, "/help@some_other_bot")
        fake_bot_api.send_text(7, "ping")
        await fake_bot_api.async_wait_for(
            "sendMessage", predicate=lambda c: c.params["text"] == "ping"
        )

    assert errors == []
    replies = [(c.params["chat_id"], c.params["text"]) for c in fake_bot_api.sent_messages()]
    assert replies == [(7, "welcome"), (7, "welcome a b"), (-1001234, "welcome c"), (7, "ping")]
    assert [c.params["text"] for c in fake_bot_api.sent_messages(-1001234)] == ["welcome c"]


async def test_callback_query_is_on_the_last_bot_message_and_answered_once(
    fake_bot_api: FakeBotAPI,
) -> None:
    pressed: list[tuple[int, str]] = []

    async def ask(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Yes", callback_data="q:1")]])
        await update.message.reply_text("Helpful?", reply_markup=keyboard)

    async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        pressed.append((query.message.message_id, query.data))
        await query.answer("Thanks")
        await query.answer("Thanks again")  # Telegram accepts one answer per query

    handlers = [CommandHandler("start", ask), CallbackQueryHandler(on_button)]
    async with running_bot(fake_bot_api, *handlers) as errors:
        with pytest.raises(LookupError, match="no message"):
            fake_bot_api.send_callback(5, "q:1")  # nothing to press a button on yet
        fake_bot_api.send_command(5, "start")
        [sent] = await fake_bot_api.async_wait_for("sendMessage")
        fake_bot_api.send_callback(5, "q:1")
        first, second = await fake_bot_api.async_wait_for("answerCallbackQuery", count=2)
        for _ in range(100):
            if errors:
                break
            await asyncio.sleep(0.01)

    assert sent.params["reply_markup"] == {
        "inline_keyboard": [[{"text": "Yes", "callback_data": "q:1"}]]
    }
    assert pressed == [(sent.response["result"]["message_id"], "q:1")]
    assert first.ok and first.params["text"] == "Thanks"
    assert second.failed and "query is too old" in second.response["description"]
    assert len(errors) == 1 and isinstance(errors[0], BadRequest)


# AIORateLimiter itself reads RetryAfter.retry_after, which PTB 22 flags as deprecated.
@pytest.mark.filterwarnings("ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning")
async def test_retry_after_is_retried_by_aio_rate_limiter(fake_bot_api: FakeBotAPI) -> None:
    fake_bot_api.fail_next("sendMessage", status=429, retry_after=1)
    handler = MessageHandler(filters.TEXT, echo)
    async with running_bot(
        fake_bot_api, handler, rate_limiter=AIORateLimiter(max_retries=2)
    ) as errors:
        fake_bot_api.send_text(9, "slow down")
        first, second = await fake_bot_api.async_wait_for("sendMessage", count=2, timeout=5)

    assert errors == []
    assert first.status == 429
    assert first.response == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 1",
        "parameters": {"retry_after": 1},
    }
    assert second.ok and second.params["text"] == "slow down"
    assert second.time - first.time >= 0.95
    assert [c.params["text"] for c in fake_bot_api.sent_messages(9)] == ["slow down"]
    assert fake_bot_api.failed_calls() == [first]


async def test_handler_errors_reach_the_error_handler(fake_bot_api: FakeBotAPI) -> None:
    """The collecting error handler works: a rejected reply shows up there, not as a timeout."""

    async def too_long(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.message.reply_text("x" * 4097)

    async with running_bot(fake_bot_api, MessageHandler(filters.TEXT, too_long)) as errors:
        fake_bot_api.send_text(3, "go")
        [call] = await fake_bot_api.async_wait_for("sendMessage")
        for _ in range(100):
            if errors:
                break
            await asyncio.sleep(0.01)

    assert call.failed and call.response["description"] == "Bad Request: message is too long"
    assert fake_bot_api.sent_messages() == []  # a rejected message was not sent
    assert len(errors) == 1 and isinstance(errors[0], BadRequest)


async def test_media_edits_mentions_and_channel_posts_reach_handlers(
    fake_bot_api: FakeBotAPI,
) -> None:
    async def describe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if update.edited_message:
            kind = f"edited:{message.text}:{message.message_id}"
        elif update.channel_post:
            kind = f"channel:{message.text}:{message.sender_chat.type}"
        elif message.photo:
            kind = "photo"
        elif message.sticker:
            kind = "sticker"
        elif message.entities and message.entities[0].type == MessageEntity.MENTION:
            kind = f"mention:{message.chat.type}:{message.parse_entity(message.entities[0])}"
        else:
            kind = f"text:{message.text}:{message.message_id}"
        await context.bot.send_message(message.chat_id, kind)

    with pytest.raises(LookupError, match="no message to edit"):
        fake_bot_api.send_edited_text(11, "nothing sent yet")
    async with running_bot(fake_bot_api, MessageHandler(filters.ALL, describe)) as errors:
        fake_bot_api.send_text(11, "first")
        fake_bot_api.send_edited_text(11, "second")
        fake_bot_api.send_group_text(11, -1005, "in a group")  # not the user's private chat
        fake_bot_api.send_photo(11)
        fake_bot_api.send_sticker(11)
        fake_bot_api.send_edited_text(11, "third")  # the sticker is the last message now
        fake_bot_api.send_group_text(11, -1005, "hi", mention=True)
        fake_bot_api.send_channel_post("news")
        calls = await fake_bot_api.async_wait_for("sendMessage", count=8)

    assert errors == []
    assert sorted((c.params["chat_id"], c.params["text"]) for c in calls) == sorted(
        [
            (11, "text:first:1"),
            (11, "photo"),
            (11, "sticker"),
            (11, "edited:second:1"),
            (-1005, "text:in a group:2"),
            (11, "edited:third:4"),
            (-1005, "mention:supergroup:@rightsdesk_test_bot"),
            (-1001000000001, "channel:news:channel"),
        ]
    )


# ---- the real Bot against the fake's validation -------------------------------------------


async def test_over_long_and_empty_messages_are_rejected(fake_bot_api: FakeBotAPI) -> None:
    async with Bot(fake_bot_api.token, base_url=fake_bot_api.base_url) as bot:
        ok = await bot.send_message(1, "x" * 4096)
        with pytest.raises(BadRequest, match=r"(?i)message is too long"):
            await bot.send_message(1, "x" * 4097)
        # The limit counts the text after HTML parsing, as Telegram does.
        parsed = await bot.send_message(1, "<b>" + "&amp;" * 4096 + "</b>", parse_mode="HTML")
        with pytest.raises(BadRequest, match=r"(?i)message text is empty"):
            await bot.send_message(1, "<b> </b>", parse_mode="HTML")

    assert len(ok.text) == 4096
    assert parsed.text == "&" * 4096
    assert [c.ok for c in fake_bot_api.calls("sendMessage")] == [True, False, True, False]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("<b>unclosed", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b><i>crossed</b></i>", 'Unmatched end tag at byte offset 13, expected "</i>"'),
        ("done</b>", "Unexpected end tag at byte offset 4"),
        ("line<br>break", 'Unsupported start tag "br" at byte offset 4'),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("é < 2", 'Unsupported start tag "" at byte offset 3'),  # offsets count UTF-8 bytes
        ("Write to <desk@example.org>", 'Unsupported start tag "desk@example.org"'),
        ("<b", "Unclosed start tag at byte offset 0"),
        ("a</b", "Can't find end tag at byte offset 1"),
    ],
)
async def test_broken_html_is_rejected(fake_bot_api: FakeBotAPI, text: str, error: str) -> None:
    async with Bot(fake_bot_api.token, base_url=fake_bot_api.base_url) as bot:
        with pytest.raises(BadRequest, match=r"(?i)can't parse entities") as excinfo:
            await bot.send_message(1, text, parse_mode="HTML")
    # PTB drops "Bad Request: " and capitalizes; the fake recorded Telegram's exact wording.
    assert error.lower() in str(excinfo.value).lower()
    [call] = fake_bot_api.calls("sendMessage")
    assert call.response["description"].startswith("Bad Request: can't parse entities: ")
    assert error in call.response["description"]


def test_valid_html_becomes_plain_text() -> None:
    html = '<b>Art. 1</b> &amp; <a href="https://example.org/g">guideline</a> &lt;3 &copy;'
    assert parse_html(html) == "Art. 1 & guideline <3 &copy;"
    assert parse_html("<pre><code>x</code></pre> <tg-spoiler>y</tg-spoiler>") == "x y"


async def test_only_html_or_no_parse_mode_is_accepted(fake_bot_api: FakeBotAPI) -> None:
    async with Bot(fake_bot_api.token, base_url=fake_bot_api.base_url) as bot:
        plain = await bot.send_message(1, "1 < 2 <b>")  # without parse_mode, nothing is markup
        with pytest.raises(BadRequest, match=r"(?i)unsupported parse_mode MarkdownV2"):
            await bot.send_message(1, "*bold*", parse_mode="MarkdownV2")
    assert plain.text == "1 < 2 <b>"


async def test_keyboards_and_callback_answers_are_validated(fake_bot_api: FakeBotAPI) -> None:
    async with Bot(fake_bot_api.token, base_url=fake_bot_api.base_url) as bot:
        too_long = InlineKeyboardMarkup([[InlineKeyboardButton("Q", callback_data="é" * 33)]])
        with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
            await bot.send_message(1, "Pick one", reply_markup=too_long)
        no_label = InlineKeyboardMarkup([[InlineKeyboardButton("", callback_data="a")]])
        with pytest.raises(BadRequest, match=r"(?i)Text must be non-empty"):
            await bot.send_message(1, "Pick one", reply_markup=no_label)
        fits = InlineKeyboardMarkup([[InlineKeyboardButton("Q", callback_data="é" * 32)]])
        await bot.send_message(1, "Pick one", reply_markup=fits)
        with pytest.raises(BadRequest, match=r"(?i)query is too old"):
            await bot.answer_callback_query("no-such-query")

    assert [c.ok for c in fake_bot_api.calls("sendMessage")] == [False, False, True]


async def test_commands_webhook_and_unknown_methods(fake_bot_api: FakeBotAPI) -> None:
    async with Bot(fake_bot_api.token, base_url=fake_bot_api.base_url) as bot:
        assert await bot.set_my_commands([("start", "Start"), ("ask", "Ask a question")])
        with pytest.raises(BadRequest, match=r"(?i)BOT_COMMAND_INVALID"):
            await bot.set_my_commands([("Start", "Capital letters are not allowed")])
        with pytest.raises(BadRequest, match=r"(?i)BOT_COMMAND_DESCRIPTION_INVALID"):
            await bot.set_my_commands([("start", "x" * 257)])
        assert await bot.set_webhook("https://example.org/hook", secret_token="s3cret")
        with pytest.raises(BadRequest, match=r"(?i)An HTTPS URL must be provided"):
            await bot.set_webhook("http://example.org/hook")
        assert await bot.delete_webhook()
        with pytest.raises(BadRequest, match=r"(?i)method getWebhookInfo not found"):
            await bot.get_webhook_info()
        message = await bot.send_message(1, "42")

    assert message.text == "42"
    [call] = fake_bot_api.calls("sendMessage")
    assert call.params == {"chat_id": 1, "text": "42"}  # a numeric-looking text stays a string
    assert fake_bot_api.calls("setWebhook")[0].params["secret_token"] == "s3cret"
    [unknown] = fake_bot_api.calls("getWebhookInfo")
    assert unknown.status == 400


@pytest.mark.parametrize("wrong_token", [False, True])
async def test_rejected_token_raises_invalid_token(
    fake_bot_api: FakeBotAPI, wrong_token: bool
) -> None:
    if wrong_token:
        app = ApplicationBuilder().token("999:WRONG").base_url(fake_bot_api.base_url).build()
    else:
        fake_bot_api.reject_token()
        app = build_app(fake_bot_api)
    try:
        with pytest.raises(InvalidToken):
            await app.initialize()
    finally:
        await app.bot.shutdown()  # initialize() opened the HTTP clients before getMe failed
    [call] = fake_bot_api.calls("getMe")
    assert call.status == 401 and call.response["description"] == "Unauthorized"


# ---- the fake on its own -------------------------------------------------------------------


def test_decode_params_keeps_strings_and_types_the_rest() -> None:
    raw = {
        "chat_id": "7",
        "text": "42",
        "parse_mode": "HTML",
        "reply_markup": '{"inline_keyboard": [[{"text": "a", "callback_data": "1"}]]}',
        "allowed_updates": '["message"]',
        "commands": '[{"command": "start", "description": "Start"}]',
        "callback_query_id": "123",
        "language_code": "id",
        "offset": "3",
        "timeout": "1",
    }
    assert decode_params(raw) == {
        "chat_id": 7,
        "text": "42",
        "parse_mode": "HTML",
        "reply_markup": {"inline_keyboard": [[{"text": "a", "callback_data": "1"}]]},
        "allowed_updates": ["message"],
        "commands": [{"command": "start", "description": "Start"}],
        "callback_query_id": "123",
        "language_code": "id",
        "offset": 3,
        "timeout": 1,
    }


def test_get_updates_long_polls_and_respects_offset(fake_bot_api: FakeBotAPI) -> None:
    url = method_url(fake_bot_api, "getUpdates")
    started = time.monotonic()
    assert post(url, {"timeout": "1"}) == (200, {"ok": True, "result": []})
    assert time.monotonic() - started >= 0.9  # held open, not answered at once

    threading.Timer(0.2, fake_bot_api.send_text, args=(1, "wake up")).start()
    started = time.monotonic()
    status, body = post(url, {"timeout": "3"})
    assert status == 200 and time.monotonic() - started < 2  # answered when the update came
    [update] = body["result"]
    assert update["message"]["text"] == "wake up"

    fake_bot_api.send_text(1, "second")
    _, body = post(url, {"timeout": "0"})  # nothing confirmed yet: both again
    assert [u["message"]["text"] for u in body["result"]] == ["wake up", "second"]
    _, body = post(url, {"offset": str(update["update_id"] + 1), "timeout": "0"})
    assert [u["message"]["text"] for u in body["result"]] == ["second"]
    _, body = post(url, {"offset": str(update["update_id"] + 2), "timeout": "0"})
    assert body["result"] == []


def test_a_second_poller_terminates_the_first(fake_bot_api: FakeBotAPI) -> None:
    url = method_url(fake_bot_api, "getUpdates")
    results: list[tuple[int, dict[str, Any]]] = []
    first = threading.Thread(target=lambda: results.append(post(url, {"timeout": "4"})))
    first.start()
    fake_bot_api.wait_for("getUpdates", timeout=2)
    assert post(url, {"timeout": "0"})[0] == 200
    first.join(timeout=3)
    [(status, body)] = results
    assert status == 409 and body["description"].startswith("Conflict: terminated by other")


def test_a_cancelled_poll_gets_no_answer_and_loses_no_update(fake_bot_api: FakeBotAPI) -> None:
    host, port = urllib.parse.urlsplit(fake_bot_api.base_url).netloc.split(":")
    path = f"/bot{fake_bot_api.token}/getUpdates"
    with socket.create_connection((host, int(port))) as client:
        client.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 9\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n\r\ntimeout=5".encode()
        )
        fake_bot_api.wait_for("getUpdates", timeout=2)
    time.sleep(0.3)  # the fake notices the hang-up within 0.1 s
    fake_bot_api.send_text(1, "after the hang-up")
    time.sleep(0.2)

    [cancelled] = fake_bot_api.calls("getUpdates")
    assert cancelled.status is None and cancelled.response is None
    _, body = post(method_url(fake_bot_api, "getUpdates"), {"timeout": "0"})
    assert [u["message"]["text"] for u in body["result"]] == ["after the hang-up"]


def test_answers_are_not_delayed_by_nagle(fake_bot_api: FakeBotAPI) -> None:
    """Headers and body go out in two writes: with Nagle on, each answer waits ~40 ms."""
    host, port = urllib.parse.urlsplit(fake_bot_api.base_url).netloc.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    started = time.monotonic()
    for _ in range(20):  # one kept-alive connection, as PTB uses
        conn.request("POST", f"/bot{fake_bot_api.token}/getMe", body=b"")
        response = conn.getresponse()
        assert json.loads(response.read())["ok"]
    conn.close()
    assert time.monotonic() - started < 0.4


def test_wait_for_times_out_with_the_calls_it_saw(fake_bot_api: FakeBotAPI) -> None:
    post(method_url(fake_bot_api, "getMe"), {})
    with pytest.raises(TimeoutError, match=r"sendMessage call\(s\), got 0[\s\S]*getMe\[200\]"):
        fake_bot_api.wait_for("sendMessage", timeout=0.2)
    assert [c.method for c in fake_bot_api.wait_for("getMe", timeout=0.2)] == ["getMe"]


async def test_async_wait_for_counts_and_times_out(fake_bot_api: FakeBotAPI) -> None:
    url = method_url(fake_bot_api, "getMe")
    threading.Timer(0.1, post, args=(url, {})).start()
    threading.Timer(0.2, post, args=(url, {})).start()
    calls = await fake_bot_api.async_wait_for("getMe", count=2, timeout=3)
    assert len(calls) == 2 and all(c.ok for c in calls)
    with pytest.raises(TimeoutError, match=r"3 getMe call\(s\), got 2"):
        await fake_bot_api.async_wait_for("getMe", count=3, timeout=0.2)


def test_fail_next_unknown_methods_and_paths(fake_bot_api: FakeBotAPI) -> None:
    fields = {"chat_id": "1", "text": "hi"}
    fake_bot_api.fail_next("sendMessage", status=403, times=2)
    fake_bot_api.fail_next("sendMessage", status=429, retry_after=7)
    for _ in range(2):
        assert post(method_url(fake_bot_api, "sendMessage"), fields) == (
            403,
            {"ok": False, "error_code": 403, "description": "Forbidden"},
        )
    status, body = post(method_url(fake_bot_api, "sendMessage"), fields)
    assert status == 429 and body["parameters"] == {"retry_after": 7}
    assert post(method_url(fake_bot_api, "sendMessage"), fields)[0] == 200
    assert len(fake_bot_api.failed_calls()) == 3

    status, body = post(method_url(fake_bot_api, "fooBar"), {})
    assert status == 400 and body["description"] == "Bad Request: method fooBar not found"
    assert post(fake_bot_api.base_url.removesuffix("/bot") + "/nobot", {})[0] == 404
