"""The real bot, end to end: python-telegram-bot polling a fake Bot API on 127.0.0.1.

Each test sends updates the way Telegram would and reads what the bot sent back.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from telegram import Message

from conftest import SECRET, free_port
from fake_bot_api import FakeBotAPI
from rightsdesk.conversation import Block, Reply
from rightsdesk.flood import FloodGate, Verdict
from rightsdesk.telegram_render import render_html
from telegram_harness import ADMIN, USER, Bot, labels

ROOT = Path(__file__).resolve().parents[1]
logging.getLogger("httpx").setLevel(logging.WARNING)
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")


async def test_start_says_what_the_bot_is_and_that_it_is_not_legal_advice(bot: Bot) -> None:
    reply = await bot.say("/start")
    text = reply.params["text"]
    assert "Rights Desk" in text
    assert "legal information, not legal advice" in text
    assert "never store your name" in text
    assert reply.params["parse_mode"] == "HTML"
    assert "can police detain someone just for using drugs" in labels(reply)
    assert bot.errors() == 0


async def test_a_question_gets_an_answer_with_its_source(bot: Bot) -> None:
    reply = await bot.say("can police detain someone just for using drugs")
    text = reply.params["text"]
    assert "Freedom from arbitrary arrest and detention" in text
    assert "Guidelines II.7" in text
    assert "What you can do" in text
    buttons = labels(reply)
    assert "More" in buttons and "👍 Helpful" in buttons and "👎 Not helpful" in buttons
    rows = bot.rows("queries")
    assert rows[-1]["decision"] == "answer" and rows[-1]["top_id"].startswith("ii-7")


async def test_more_shows_the_shall_should_may_details_and_legal_basis(bot: Bot) -> None:
    await bot.say("can police detain someone just for using drugs")
    more = await bot.press("More")
    text = more.params["text"]
    assert "States must (shall):" in text and "States should:" in text
    assert "Legal basis" in text and "ICCPR" in text


async def test_feedback_is_thanked_and_linked_to_the_query(bot: Bot) -> None:
    await bot.say("can police detain someone just for using drugs")
    thanks = await bot.press("👎")
    assert "Thank you for telling us" in thanks.params["text"]
    feedback = bot.rows("feedback")
    assert len(feedback) == 1 and feedback[0]["helpful"] == 0


async def test_clarify_offers_choices_and_a_choice_gives_the_answer(bot: Bot) -> None:
    reply = await bot.say("women and children who use drugs")
    assert reply.params["text"].startswith("Did you mean")
    choices = [label for label in labels(reply) if label[:3] in ("III", "II.", "I.1")]
    assert 2 <= len(choices) <= 3
    answer = await bot.press(choices[0])
    assert "Source: Guidelines" in answer.params["text"]
    assert len(bot.rows("clarify_choices")) == 1


async def test_an_out_of_scope_question_gets_an_honest_none(bot: Bot) -> None:
    reply = await bot.say("how do I cook rice")
    text = reply.params["text"]
    assert "Source:" not in text and "Guidelines II" not in text  # no answer pretended
    assert "Browse topics" in labels(reply)
    assert bot.rows("queries")[-1]["decision"] == "none"


async def test_photos_stickers_and_edits_get_a_short_reply_and_nothing_breaks(bot: Bot) -> None:
    before = len(bot.fake.sent_messages(USER))
    bot.fake.send_photo(USER)
    photo = await bot.next_message(USER, before)
    assert "only read text" in photo.params["text"]
    bot.fake.send_sticker(USER)
    sticker = await bot.next_message(USER, before + 1)
    assert "only read text" in sticker.params["text"]
    bot.fake.send_edited_text(USER, "edited question")
    edited = await bot.next_message(USER, before + 2)
    assert "new message" in edited.params["text"]
    bot.fake.send_channel_post("a channel post")
    reply = await bot.say("/help")  # still answering after all that
    assert "/topics" in reply.params["text"]
    assert bot.errors() == 0


async def test_in_groups_only_commands_and_mentions_are_answered(bot: Bot) -> None:
    group = -100500
    bot.fake.send_group_text(USER, group, "just chatting about methadone")
    bot.fake.send_group_text(
        USER,
        group,
        "can police detain someone just for using drugs",
        mention=True,
    )
    calls = await bot.fake.async_wait_for(
        "sendMessage", predicate=lambda c: c.params.get("chat_id") == group
    )
    assert len(calls) == 1 and "Guidelines" in calls[0].params["text"]


async def test_topics_browse_part_by_part_with_back_buttons(bot: Bot) -> None:
    await bot.say("/topics")
    part = await bot.press("II. Obligations")
    assert "II.7 Freedom from arbitrary arrest" in " ".join(labels(part))
    item = await bot.press("II.7 ")
    assert "Guidelines II.7" in item.params["text"]
    await bot.say("/topics")
    back = await bot.press("III.")
    assert "« Back" in labels(back)
    top = await bot.press("« Back")
    assert "Pick a part" in top.params["text"]


async def test_examples_browse_by_country(bot: Bot) -> None:
    reply = await bot.say("/examples")
    assert "Indonesia" in labels(reply)
    country = (
        await bot.press("Viet Nam") if "Viet Nam" in labels(reply) else await bot.press("Viet")
    )
    example = await bot.press(labels(country)[0])
    assert "Regional Dialogue" in example.params["text"]


async def test_privacy_and_about(bot: Bot) -> None:
    privacy = await bot.say("/privacy")
    assert "never keep" in privacy.params["text"] and "180 days" in privacy.params["text"]
    about = await bot.say("/about")
    assert "entries" in about.params["text"] and "kb-" in about.params["text"]


async def test_admin_commands_look_unknown_to_everyone_else(bot: Bot) -> None:
    unknown = await bot.say("/nosuchcommand")
    stranger = await bot.say("/stats")
    assert stranger.params["text"] == unknown.params["text"]
    admin = await bot.say("/stats", user=ADMIN)
    assert "queries" in admin.params["text"].casefold()


async def test_a_429_is_waited_out_and_the_answer_still_arrives(bot: Bot) -> None:
    bot.fake.fail_next("sendMessage", status=429, retry_after=1)
    started = time.monotonic()
    reply = await bot.say("can police detain someone just for using drugs")
    assert "Guidelines II.7" in reply.params["text"]
    assert time.monotonic() - started >= 0.9
    failed = [c for c in bot.fake.failed_calls() if c.method == "sendMessage"]
    assert len(failed) == 1 and failed[0].status == 429


async def test_a_network_error_on_send_is_retried(bot: Bot) -> None:
    bot.fake.fail_next("sendMessage", status=502, times=1)
    reply = await bot.say("can police detain someone just for using drugs")
    assert "Guidelines II.7" in reply.params["text"]


async def test_a_flood_gets_one_friendly_warning_and_nothing_else(bot: Bot) -> None:
    limit = bot.settings.flood_limit
    for i in range(limit + 5):
        bot.fake.send_text(USER, f"/help {i}" if i % 2 else "hello")
    await bot.fake.async_wait_for(
        "sendMessage", count=limit + 1, predicate=lambda c: c.params.get("chat_id") == USER
    )
    await bot.fake.async_wait_for("getUpdates", count=len(bot.fake.calls("getUpdates")) + 2)
    texts = [c.params["text"] for c in bot.fake.sent_messages(USER)]
    assert sum("very fast" in t for t in texts) == 1
    assert len(texts) == limit + 1


def test_a_long_answer_is_split_at_paragraphs_and_every_part_is_valid_html() -> None:
    bullets = tuple(f"Step {i} <careful> & keep notes " * 8 for i in range(60))
    reply = Reply((Block("title", "A <long> title"), Block("bullets", items=bullets)))
    chunks = render_html(reply)
    assert len(chunks) > 1
    assert all(len(c) <= 4096 for c in chunks)
    assert "<careful>" not in "".join(chunks) and "&lt;careful&gt;" in chunks[0]


async def test_a_long_answer_arrives_in_several_messages(bot: Bot) -> None:
    entry = max(bot.desk.kb.entries, key=lambda e: len(str(e.details)))
    more = bot.desk.conversation.more(entry, "en")
    long_reply = Reply(more.blocks * 12, more.buttons)
    chunks = render_html(long_reply)
    assert len(chunks) >= 2
    await bot.say("/help")  # a real message from the bot to reply under
    before = len(bot.fake.sent_messages(USER))
    last = bot.fake.sent_messages(USER)[-1].response["result"]
    await bot.handlers.sender.send(Message.de_json(last, bot.app.bot), long_reply)
    sent = bot.fake.sent_messages(USER)[before:]
    assert [c.params["text"] for c in sent] == chunks
    assert sent[-1].params.get("reply_markup") and not sent[0].params.get("reply_markup")
    assert not bot.fake.failed_calls()  # every part was valid HTML under 4096 characters


# -- the real command in a subprocess -----------------------------------------------------


def _run_bot(fake: FakeBotAPI, tmp_path: Path, *args: str, token: str | None = None):
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": token or fake.token,
        "TELEGRAM_API_URL": fake.base_url,
        "RIGHTSDESK_DB": str(tmp_path / "bot.db"),
        "RIGHTSDESK_SECRET": SECRET.decode(),
        "NO_PROXY": "127.0.0.1,localhost",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "rightsdesk.cli", "run", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def test_rightsdesk_run_answers_and_stops_cleanly_on_sigterm(
    fake_bot_api: FakeBotAPI, tmp_path: Path
) -> None:
    process = _run_bot(fake_bot_api, tmp_path)
    try:
        fake_bot_api.send_text(USER, "can police detain someone just for using drugs")
        fake_bot_api.send_photo(USER)
        calls = fake_bot_api.wait_for("sendMessage", count=2, timeout=30)
        texts = [c.params["text"] for c in calls]
        assert any("Guidelines II.7" in t for t in texts)
        assert any("only read text" in t for t in texts)
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert fake_bot_api.token not in out + err  # the token never reaches a log line


def test_a_rejected_token_gives_one_sentence_not_a_traceback(
    fake_bot_api: FakeBotAPI, tmp_path: Path
) -> None:
    fake_bot_api.reject_token()
    process = _run_bot(fake_bot_api, tmp_path)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 1
    assert "Telegram rejected the bot token" in err
    assert "Traceback" not in err
    assert fake_bot_api.token not in out + err


def test_webhook_mode_rejects_a_request_without_the_secret_token(
    fake_bot_api: FakeBotAPI, tmp_path: Path
) -> None:
    port = free_port()
    process = _run_bot(
        fake_bot_api,
        tmp_path,
        "--webhook",
        "--port",
        str(port),
        "--url",
        f"https://bot.example.org/hook-{port}",
        "--path",
        "hook",
        "--secret-token",
        "s3cret-token",
    )
    url = f"http://127.0.0.1:{port}/hook"
    update = {
        "update_id": 1,
        "message": {
            "message_id": 1,
            "date": int(time.time()),
            "chat": {"id": USER, "type": "private"},
            "from": {"id": USER, "is_bot": False, "first_name": "T"},
            "text": "can police detain someone just for using drugs",
        },
    }
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                anonymous = httpx.post(url, json=update, timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert anonymous.status_code == 403
        signed = httpx.post(
            url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret-token"}
        )
        assert signed.status_code == 200
        [call] = fake_bot_api.wait_for("sendMessage", timeout=20)
        assert "Guidelines II.7" in call.params["text"]
        [hook] = fake_bot_api.calls("setWebhook")
        assert hook.params["secret_token"] == "s3cret-token"
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err


def test_the_flood_gate_warns_once_per_window_and_forgets_quiet_users() -> None:
    now = [0.0]
    gate = FloodGate(limit=2, window_s=60, clock=lambda: now[0])
    assert [gate.check(1) for _ in range(4)] == [
        Verdict.ALLOW,
        Verdict.ALLOW,
        Verdict.WARN,
        Verdict.DROP,
    ]
    now[0] = 61.0
    assert gate.check(1) is Verdict.ALLOW  # a new window
    for user in range(2, 10_003):
        gate.check(user)
    now[0] = 200.0
    gate.check(99_999)  # many users seen: the quiet ones are dropped from memory
    assert len(gate._seen) < 10
