"""The fake Bot API works with the real python-telegram-bot client.

Every test here drives the real PTB ``Application``/``Bot`` against :class:`FakeBotAPI` over
HTTP on 127.0.0.1, so a green run means the other end-to-end tests can trust the fake.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
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

from fake_bot_api import FakeBotAPI, decode_params

# httpx logs every URL at INFO, and the URL contains the token.
logging.getLogger("httpx").setLevel(logging.WARNING)

FAKE_SCRIPT = Path(__file__).with_name("fake_bot_api.py")
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


# ---- the real Application against the fake ------------------------------------------------


async def test_text_message_is_echoed(fake_bot_api: FakeBotAPI) -> None:
    handler = MessageHandler(filters.TEXT & ~filters.COMMAND, echo)
    async with running_bot(fake_bot_api, handler) as errors:
        fake_bot_api.send_text(42, "hello, desk")
        [call] = await fake_bot_api.async_wait_for("sendMessage")

    assert errors == []
    assert call.params["chat_id"] == 42
    assert call.text == "hello, desk"
    assert call.result["from"]["username"] == fake_bot_api.username
    assert fake_bot_api.pending_updates() == []  # the final getUpdates confirmed it
    assert fake_bot_api.failed_calls() == []


async def test_command_is_routed_to_command_handler(fake_bot_api: FakeBotAPI) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.message.reply_text(f"welcome {' '.join(context.args)}".strip())

    handlers = [
        CommandHandler(["start", "help"], start),
        MessageHandler(filters.TEXT & ~filters.COMMAND, echo),
    ]
    async with running_bot(fake_bot_api, *handlers) as errors:
        fake_bot_api.send_command(7, "start")
        fake_bot_api.send_command(
            7, "help", ["a", "b"], chat_type="supergroup", chat_id=-1001234, mention_bot=True
        )
        # Addressed to another bot: neither the CommandHandler nor the text echo may answer.
        fake_bot_api.send_text(7, "/help@some_other_bot", chat_type="supergroup", chat_id=-1001234)
        fake_bot_api.send_text(7, "ping")
        await fake_bot_api.async_wait_for("sendMessage", predicate=lambda c: c.text == "ping")

    assert errors == []
    replies = [(c.params["chat_id"], c.text) for c in fake_bot_api.sent_messages()]
    assert replies == [(7, "welcome"), (-1001234, "welcome a b"), (7, "ping")]


async def test_callback_query_is_handled_and_answered(fake_bot_api: FakeBotAPI) -> None:
    async def ask(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Yes", callback_data="q:1")]])
        await update.message.reply_text("Helpful?", reply_markup=keyboard)

    async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        await query.answer("Thanks")
        await query.edit_message_text(f"You chose {query.data}")

    handlers = [CommandHandler("start", ask), CallbackQueryHandler(on_button, pattern=r"^q:")]
    async with running_bot(fake_bot_api, *handlers) as errors:
        fake_bot_api.send_command(5, "start")
        [sent] = await fake_bot_api.async_wait_for("sendMessage")
        update = fake_bot_api.send_callback(5, "q:1")
        [answer] = await fake_bot_api.async_wait_for("answerCallbackQuery")
        [edit] = await fake_bot_api.async_wait_for("editMessageText")

    assert errors == []
    assert sent.params["reply_markup"] == {
        "inline_keyboard": [[{"text": "Yes", "callback_data": "q:1"}]]
    }
    query = update["callback_query"]
    assert query["message"]["message_id"] == sent.result["message_id"]
    assert answer.ok
    assert answer.params == {"callback_query_id": query["id"], "text": "Thanks"}
    assert edit.ok and edit.params["message_id"] == sent.result["message_id"]
    message = fake_bot_api.last_bot_message(5)
    assert message is not None
    assert message["text"] == "You chose q:1"
    assert "reply_markup" not in message  # editing without a keyboard removes it, as on Telegram


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
    assert second.ok and second.text == "slow down"
    assert second.time - first.time >= 0.95
    assert [c.text for c in fake_bot_api.sent_messages(9)] == ["slow down"]


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

    assert call.failed and call.description == "Bad Request: message is too long"
    assert len(errors) == 1 and isinstance(errors[0], BadRequest)


async def test_media_edits_and_channel_posts_reach_handlers(fake_bot_api: FakeBotAPI) -> None:
    async def describe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if update.edited_message:
            kind = f"edited:{message.text}"
        elif update.channel_post:
            kind = f"channel:{message.text}"
        elif message.photo:
            kind = f"photo:{message.caption}"
        elif message.sticker:
            kind = f"sticker:{message.sticker.emoji}"
        elif message.voice:
            kind = f"voice:{message.voice.mime_type}"
        elif message.entities and message.entities[0].type == MessageEntity.MENTION:
            kind = f"mention:{message.chat.type}"
        else:
            kind = f"text:{message.text}"
        await context.bot.send_message(message.chat_id, kind)

    async with running_bot(fake_bot_api, MessageHandler(filters.ALL, describe)) as errors:
        fake_bot_api.send_text(11, "first")
        fake_bot_api.send_edited_text(11, "second")
        fake_bot_api.send_photo(11, caption="scan")
        fake_bot_api.send_sticker(11)
        fake_bot_api.send_voice(11, duration=4)
        fake_bot_api.send_group_text(11, -1005, "hi", mention=True)
        fake_bot_api.send_channel_post("news")
        calls = await fake_bot_api.async_wait_for("sendMessage", count=7)

    assert errors == []
    assert sorted((c.params["chat_id"], c.text) for c in calls) == sorted(
        [
            (11, "text:first"),
            (11, "edited:second"),
            (11, "photo:scan"),
            (11, "sticker:👍"),
            (11, "voice:audio/ogg"),
            (-1005, "mention:supergroup"),
            (-1001000000001, "channel:news"),
        ]
    )


# ---- the real Bot against the fake's validation -------------------------------------------


async def test_over_long_message_is_rejected_with_bad_request(fake_bot_api: FakeBotAPI) -> None:
    async with Bot(fake_bot_api.token, base_url=fake_bot_api.base_url) as bot:
        ok = await bot.send_message(1, "x" * 4096)
        with pytest.raises(BadRequest, match=r"(?i)message is too long"):
            await bot.send_message(1, "x" * 4097)
        # The limit counts the text after HTML parsing, as Telegram does.
        await bot.send_message(1, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")

    assert len(ok.text) == 4096
    assert [c.ok for c in fake_bot_api.calls("sendMessage")] == [True, False, True]


@pytest.mark.parametrize(
    ("text", "parse_mode", "error"),
    [
        ("<b>unclosed", "HTML", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b><i>crossed</b></i>", "HTML", "Unmatched end tag"),
        ("line<br>break", "HTML", 'Unsupported start tag "br"'),
        ("1 < 2", "HTML", 'Unsupported start tag "" at byte offset 2'),
        ("Write to <desk@example.org>", "HTML", 'Unsupported start tag "desk@example.org"'),
        ("Done.", "MarkdownV2", "Character '.' is reserved"),
    ],
)
async def test_broken_markup_is_rejected(
    fake_bot_api: FakeBotAPI, text: str, parse_mode: str, error: str
) -> None:
    async with Bot(fake_bot_api.token, base_url=fake_bot_api.base_url) as bot:
        with pytest.raises(BadRequest, match=r"(?i)can't parse entities") as excinfo:
            await bot.send_message(1, text, parse_mode=parse_mode)
    # PTB drops "Bad Request: " and capitalizes; the fake recorded Telegram's exact wording.
    assert error.lower() in str(excinfo.value).lower()
    [call] = fake_bot_api.calls("sendMessage")
    assert call.description.startswith("Bad Request: can't parse entities: ")
    assert error in call.description


async def test_valid_markup_becomes_entities(fake_bot_api: FakeBotAPI) -> None:
    html = '<b>Art. 1</b> &amp; <a href="https://example.org/g">guideline</a> &lt;3 &copy;'
    async with Bot(fake_bot_api.token, base_url=fake_bot_api.base_url) as bot:
        message = await bot.send_message(1, html, parse_mode="HTML")
        escaped = await bot.send_message(
            1, r"Done\. See \(1\) [link](https://x.org/a.b)", parse_mode="MarkdownV2"
        )

    assert message.text == "Art. 1 & guideline <3 &copy;"
    assert [(e.type, e.offset, e.length) for e in message.entities] == [
        (MessageEntity.BOLD, 0, 6),
        (MessageEntity.TEXT_LINK, 9, 9),
    ]
    assert message.entities[1].url == "https://example.org/g"
    assert escaped.message_id == message.message_id + 1


async def test_keyboard_and_edit_validation(fake_bot_api: FakeBotAPI) -> None:
    async with Bot(fake_bot_api.token, base_url=fake_bot_api.base_url) as bot:
        too_long = InlineKeyboardMarkup([[InlineKeyboardButton("Q", callback_data="é" * 33)]])
        with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
            await bot.send_message(1, "Pick one", reply_markup=too_long)
        fits = InlineKeyboardMarkup([[InlineKeyboardButton("Q", callback_data="é" * 32)]])
        message = await bot.send_message(1, "Pick one", reply_markup=fits)
        with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
            await bot.edit_message_text("Pick one", 1, message.message_id, reply_markup=fits)
        with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
            await bot.edit_message_text("Gone", 1, message.message_id + 100)
        with pytest.raises(BadRequest, match=r"(?i)query is too old"):
            await bot.answer_callback_query("no-such-query")
        assert await bot.delete_message(1, message.message_id)
        with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
            await bot.delete_message(1, message.message_id)


async def test_commands_webhook_and_small_methods(fake_bot_api: FakeBotAPI) -> None:
    async with Bot(fake_bot_api.token, base_url=fake_bot_api.base_url) as bot:
        assert await bot.set_my_commands([("start", "Start"), ("ask", "Ask a question")])
        assert [c.command for c in await bot.get_my_commands()] == ["start", "ask"]
        assert await bot.get_my_commands(language_code="fr") == ()
        with pytest.raises(BadRequest, match=r"(?i)BOT_COMMAND_INVALID"):
            await bot.set_my_commands([("Start", "Capital letters are not allowed")])
        assert await bot.delete_my_commands()
        assert await bot.get_my_commands() == ()

        assert await bot.set_webhook("https://example.org/hook")
        assert (await bot.get_webhook_info()).url == "https://example.org/hook"
        assert await bot.delete_webhook()
        assert (await bot.get_webhook_info()).url == ""
        assert await bot.send_chat_action(1, "typing")
        with pytest.raises(BadRequest, match=r"(?i)not found"):
            await bot.do_api_request("notARealMethod")
        message = await bot.send_message(1, "42")

    assert message.text == "42"
    [call] = fake_bot_api.calls("sendMessage")
    assert call.params == {"chat_id": 1, "text": "42"}  # a numeric-looking text stays a string


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
    assert call.status == 401 and call.description == "Unauthorized"


# ---- the fake on its own -------------------------------------------------------------------


def test_decode_params_keeps_strings_and_types_the_rest() -> None:
    raw = {
        "chat_id": "7",
        "text": "42",
        "caption": "true",
        "message_id": "3",
        "disable_notification": "true",
        "reply_markup": '{"inline_keyboard": [[{"text": "a", "callback_data": "1"}]]}',
        "allowed_updates": '["message"]',
        "callback_query_id": "123",
        "timeout": "1",
    }
    assert decode_params(raw) == {
        "chat_id": 7,
        "text": "42",
        "caption": "true",
        "message_id": 3,
        "disable_notification": True,
        "reply_markup": {"inline_keyboard": [[{"text": "a", "callback_data": "1"}]]},
        "allowed_updates": ["message"],
        "callback_query_id": "123",
        "timeout": 1,
    }
    assert decode_params({"chat_id": "@channel"}) == {"chat_id": "@channel"}


def test_get_updates_long_polls_and_respects_offset(fake_bot_api: FakeBotAPI) -> None:
    url = f"{fake_bot_api.base_url}{fake_bot_api.token}/getUpdates"
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
    status, body = post(url, {"offset": str(update["update_id"] + 1), "timeout": "0"})
    assert [u["message"]["text"] for u in body["result"]] == ["second"]
    assert [u["message"]["text"] for u in fake_bot_api.pending_updates()] == ["second"]


def test_a_second_poller_terminates_the_first(fake_bot_api: FakeBotAPI) -> None:
    url = f"{fake_bot_api.base_url}{fake_bot_api.token}/getUpdates"
    results: list[tuple[int, dict[str, Any]]] = []
    first = threading.Thread(target=lambda: results.append(post(url, {"timeout": "4"})))
    first.start()
    fake_bot_api.wait_for("getUpdates", timeout=2)
    assert post(url, {"timeout": "0"})[0] == 200
    first.join(timeout=3)
    [(status, body)] = results
    assert status == 409 and body["description"].startswith("Conflict: terminated by other")


def test_wait_for_times_out_with_the_calls_it_saw(fake_bot_api: FakeBotAPI) -> None:
    post(f"{fake_bot_api.base_url}{fake_bot_api.token}/getMe", {})
    with pytest.raises(TimeoutError, match=r"sendMessage call\(s\), got 0[\s\S]*getMe\[200\]"):
        fake_bot_api.wait_for("sendMessage", timeout=0.2)


def test_fail_next_and_unknown_methods(fake_bot_api: FakeBotAPI) -> None:
    base = f"{fake_bot_api.base_url}{fake_bot_api.token}"
    fake_bot_api.fail_next("sendMessage", status=403, times=2)
    for _ in range(2):
        assert post(f"{base}/sendMessage", {"chat_id": "1", "text": "hi"}) == (
            403,
            {
                "ok": False,
                "error_code": 403,
                "description": "Forbidden: bot was blocked by the user",
            },
        )
    assert post(f"{base}/sendMessage", {"chat_id": "1", "text": "hi"})[0] == 200
    assert post(f"{base}/fooBar", {})[0] == 400
    assert post(f"{fake_bot_api.url}/nobot", {})[0] == 404
    assert post(f"{base}/SENDMESSAGE", {"chat_id": "1", "text": "hi"})[0] == 200  # case-insensitive


def test_standalone_server_serves_a_script_until_sigterm(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"command": "start", "user_id": 5}, {"text": "hi"}]))
    proc = subprocess.Popen(
        [sys.executable, str(FAKE_SCRIPT), "--port", "0", "--script", str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = proc.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/bot")
        status, me = post(f"{base_url}123456:TEST/getMe", {})
        assert status == 200 and me["result"]["username"] == "rightsdesk_test_bot"
        texts: list[str] = []
        deadline = time.monotonic() + 3
        while len(texts) < 2 and time.monotonic() < deadline:
            _, body = post(f"{base_url}123456:TEST/getUpdates", {"timeout": "1"})
            texts = [u["message"]["text"] for u in body["result"]]
        assert texts == ["/start", "hi"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
