"""The "Fact sheet" button through the real python-telegram-bot client and the fake Bot API:
the PDF arrives as a document, and discreet mode deletes it like any other message."""

from __future__ import annotations

import io

from pypdf import PdfReader

from telegram_harness import USER, Bot, labels
from test_discreet import emptied, move_clock, scheduled

QUESTION = "can police detain someone just for using drugs"


async def test_the_fact_sheet_button_sends_a_one_page_pdf(bot: Bot) -> None:
    answer = await bot.say(QUESTION)
    assert "📄 Fact sheet" in labels(answer)
    bot.fake.send_callback(USER, bot.button("📄"))
    [call] = await bot.fake.async_wait_for("sendDocument", timeout=20, predicate=lambda c: c.ok)
    upload = call.files["document"]
    assert upload.filename == "rights-desk-II.7-en.pdf"
    reader = PdfReader(io.BytesIO(upload.data))
    assert len(reader.pages) == 1
    assert "Freedom from arbitrary arrest" in reader.pages[0].extract_text()
    assert "not legal advice" in call.params["caption"]
    # Deleting the chat cannot reach a saved copy: the caption says so.
    assert "stays in your phone's files" in call.params["caption"]
    assert bot.errors() == 0


async def test_a_sheet_is_in_the_language_of_the_chat(bot: Bot) -> None:
    await bot.say("/lang")
    await bot.press("ไทย")
    await bot.say("ตำรวจจับคนเพราะใช้ยาอย่างเดียวได้ไหม")
    bot.fake.send_callback(USER, bot.button("📄"))
    [call] = await bot.fake.async_wait_for("sendDocument", timeout=20, predicate=lambda c: c.ok)
    assert call.files["document"].filename.endswith("-th.pdf")
    text = PdfReader(io.BytesIO(call.files["document"].data)).pages[0].extract_text()
    assert sum("\u0e00" <= ch <= "\u0e7f" for ch in text) > 200


async def test_discreet_mode_deletes_the_fact_sheet_too(bot: Bot) -> None:
    await bot.say("/discreet")
    await bot.press("5 min")
    await bot.say(QUESTION)
    bot.fake.send_callback(USER, bot.button("📄"))
    [call] = await bot.fake.async_wait_for("sendDocument", timeout=20, predicate=lambda c: c.ok)
    sheet_id = call.response["result"]["message_id"]  # type: ignore[index]
    assert sheet_id in bot.fake.messages_in(USER)
    await scheduled(bot, 6)  # 3 for /discreet, 2 for the question, 1 for the sheet
    shredder = bot.handlers.shredder
    assert shredder is not None
    move_clock(bot, 5 * 60 + 1)
    await shredder.run_due()
    assert await emptied(bot) == []


async def test_a_forged_fact_sheet_button_gets_a_short_reply(bot: Bot) -> None:
    await bot.say(QUESTION)
    before = len(bot.fake.sent_messages(USER))
    bot.fake.send_callback(USER, "g:../../etc/passwd")
    reply = await bot.next_message(USER, before)
    assert "no longer in the knowledge base" in reply.params["text"]
    assert bot.fake.calls("sendDocument") == []
