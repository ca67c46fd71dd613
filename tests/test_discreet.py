"""Discreet chats, end to end through the fake Bot API: what a seized phone would still show.

Time is moved on with the shredder's clock; the deletions themselves are real deleteMessage
calls that the fake checks as Telegram does (a message must exist, and be under 48 hours old).
"""

from __future__ import annotations

import asyncio

from fake_bot_api import FakeBotAPI
from telegram_harness import USER, Bot

QUESTION = "can police search my phone without a warrant"


def deleted(fake: FakeBotAPI) -> list[int]:
    return [int(c.params["message_id"]) for c in fake.calls("deleteMessage") if c.ok]


async def scheduled(bot: Bot, count: int) -> None:
    """Wait until the bot has scheduled ``count`` deletions: the fake sees a reply a moment
    before the handler that sent it tells the shredder."""
    shredder = bot.handlers.shredder
    assert shredder is not None
    for _ in range(200):
        if shredder.pending >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{shredder.pending} deletions scheduled, not {count}")


async def emptied(bot: Bot, chat_id: int = USER) -> list[int]:
    """The chat's messages once deletions in flight are done: after ``run_due`` the
    shredder's own loop may still be sending one it took (up to 2 s)."""
    for _ in range(200):
        if not bot.fake.messages_in(chat_id):
            break
        await asyncio.sleep(0.01)
    return bot.fake.messages_in(chat_id)


def move_clock(bot: Bot, seconds: float) -> None:
    shredder = bot.handlers.shredder
    assert shredder is not None
    now = shredder.clock()
    shredder.clock = lambda: now + seconds


async def test_discreet_mode_deletes_both_sides_after_the_delay(bot: Bot) -> None:
    choice = await bot.say("/discreet")
    assert "48 hours" in choice.params["text"]
    await bot.press("5 min")
    await bot.say(QUESTION)
    in_chat = bot.fake.messages_in(USER)
    assert len(in_chat) == 5  # /discreet, its reply, the confirmation, the question, the answer
    await scheduled(bot, 5)

    shredder = bot.handlers.shredder
    assert shredder is not None
    move_clock(bot, 4 * 60)
    assert await shredder.run_due() == 0  # not yet
    move_clock(bot, 5 * 60 + 1)
    await shredder.run_due()
    assert await emptied(bot) == []
    assert sorted(deleted(bot.fake)) == in_chat  # the user's messages and the bot's


async def test_turning_discreet_mode_off_keeps_what_comes_after(bot: Bot) -> None:
    await bot.say("/discreet")
    await bot.press("30 min")
    await bot.say("/discreet")
    await bot.press("Off")
    await bot.say(QUESTION)
    move_clock(bot, 3600)
    shredder = bot.handlers.shredder
    assert shredder is not None
    assert await shredder.run_due() == 0
    assert deleted(bot.fake) == []
    # Two commands and a question from the user; two choices, two confirmations, an answer.
    assert len(bot.fake.messages_in(USER)) == 8


async def test_the_first_answer_offers_discreet_mode_in_one_tap(bot: Bot) -> None:
    await bot.say(QUESTION)
    await bot.press("🕶")
    await scheduled(bot, 3)
    move_clock(bot, 30 * 60 + 1)
    shredder = bot.handlers.shredder
    assert shredder is not None
    await shredder.run_due()
    assert await emptied(bot) == []  # the question and answer before the tap too


async def test_wipe_deletes_everything_still_deletable_at_once(bot: Bot) -> None:
    await bot.say(QUESTION)
    await bot.say("/topics")
    before = bot.fake.messages_in(USER)
    confirmation = await bot.say("/wipe")
    assert f"deleted {len(before) + 1} messages" in confirmation.params["text"]
    # Only the confirmation is left: the /wipe command went too.
    assert len(bot.fake.messages_in(USER)) == 1


async def test_wipe_cannot_reach_messages_older_than_48_hours(bot: Bot) -> None:
    await bot.say(QUESTION)
    bot.fake.age_messages(USER, 49 * 3600)
    move_clock(bot, 49 * 3600)
    confirmation = await bot.say("/wipe")
    assert "deleted 1 messages" in confirmation.params["text"]  # only /wipe itself
    assert "48 hours" in confirmation.params["text"]


async def test_pending_deletions_are_carried_out_at_shutdown(bot: Bot) -> None:
    await bot.say("/discreet")
    await bot.press("120 min")
    await bot.say(QUESTION)
    await scheduled(bot, 5)
    shredder = bot.handlers.shredder
    assert shredder is not None
    await shredder.stop()  # what post_stop does when the bot is stopped
    assert bot.fake.messages_in(USER) == []


async def test_feedback_buttons_carry_no_key_of_the_stored_question(bot: Bot) -> None:
    await bot.say(QUESTION)
    [row] = bot.rows("queries")
    data = bot.button("👍")
    assert row["key"] not in data
    await bot.press("👍")
    [feedback] = bot.rows("feedback")
    assert feedback["query_key"] == row["key"] and feedback["helpful"] == 1
