"""Each language, end to end: a question typed as people type it is answered in that language,
in the console and through Telegram, with the line that says it was not reviewed."""

from __future__ import annotations

import io
import unicodedata

import pytest

from conftest import make_desk, shipped_messages
from rightsdesk.console import ConsoleChat, render_text
from rightsdesk.conversation import Reply
from rightsdesk.desk import Asker
from rightsdesk.languages import unicode_to_zawgyi, zawgyi_to_unicode
from rightsdesk.localized import LANGUAGES
from telegram_harness import USER, Bot, labels

# Written for these tests, not taken from any evaluation set.
QUESTIONS = {
    "th": "แค่ใช้ยาเสพติด ตำรวจจับขังได้เหรอ",
    "vi": "cong an co duoc giam nguoi chi vi su dung ma tuy khong",  # no diacritics
    "my": unicode_to_zawgyi("ဆေးသုံးရုံနဲ့ ရဲက ဖမ်းပြီး ထောင်ချလို့ရလား"),  # typed in Zawgyi
    "tl": "na-arrest ako dahil positive sa drug test, pwede ba yun",  # Taglish
    "ms": "polis tahan kawan saya sebab positif dadah, boleh ke",
    "id": "polisi nahan temen gw cuma krn tes urin positif, boleh gak",
    "en": "can police detain someone just for using drugs",
}
SCRIPTS = {"th": ("THAI",), "my": ("MYANMAR",)}


def review_line(lang: str) -> str:
    return shipped_messages().get("labels.translation_machine", lang)


def in_script(text: str, lang: str) -> list[str]:
    """Letters and marks of ``text`` that do not belong to ``lang``'s script (or Latin, which
    every reply uses for refs such as II.7 and for words like methadone)."""
    allowed = ("LATIN", *SCRIPTS.get(lang, ()))
    strays = []
    for ch in text:
        category = unicodedata.category(ch)
        if ch == "\ufffd" or (
            category[0] in "LM" and not unicodedata.name(ch, "").startswith(allowed)
        ):
            strays.append(ch)
    return strays


@pytest.mark.parametrize("lang", ["th", "vi", "my", "tl", "ms"])
def test_a_question_in_each_language_is_answered_in_it_in_the_console(lang: str) -> None:
    desk = make_desk()
    out = io.StringIO()
    # "1" picks the first choice when the bot asks "did you mean": the language of the
    # answer is what this test is about (matching quality is `rightsdesk eval`'s).
    ConsoleChat(desk, stdin=io.StringIO(QUESTIONS[lang] + "\n1\n"), stdout=out).run()
    first, then = out.getvalue().split("> ")[1:3]
    answer = then if "[1] II.7" in first else first
    if lang == "my":
        answer = zawgyi_to_unicode(answer)  # a Zawgyi writer is answered in Zawgyi
    assert "II.7" in answer
    assert review_line(lang) in " ".join(answer.split())


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_character_of_a_reply_is_in_its_languages_script(lang: str) -> None:
    desk = make_desk()
    asker = Asker(id=77)
    desk.choose_language(asker, lang)
    replies: list[Reply] = [desk.ask(QUESTIONS[lang], asker), desk.command("topics", asker)]
    replies.append(desk.press("m:ii-7-arbitrary-arrest-detention", asker))
    for reply in replies:
        assert reply.lang == lang
        text = render_text(reply) + " ".join(b.label for row in reply.buttons for b in row)
        assert in_script(text, lang) == [], text


def test_the_script_check_catches_a_stray_script() -> None:
    assert in_script("Xin chào ตำรวจ", "vi") == list("ตำรวจ")
    assert in_script("ok \ufffd", "en") == ["\ufffd"]


def test_a_zawgyi_writer_gets_zawgyi_and_a_unicode_writer_unicode() -> None:
    desk = make_desk()
    zawgyi, unicode = Asker(id=1), Asker(id=2)
    burmese = zawgyi_to_unicode(QUESTIONS["my"])
    to_zawgyi = desk.ask(QUESTIONS["my"], zawgyi)
    to_unicode = desk.ask(burmese, unicode)
    assert to_zawgyi.encoding == "zawgyi" and to_unicode.encoding == "unicode"
    assert zawgyi_to_unicode(to_zawgyi.blocks[1].text) == to_unicode.blocks[1].text
    # Buttons pressed later keep the writer's encoding.
    assert desk.press("m:ii-7-arbitrary-arrest-detention", zawgyi).encoding == "zawgyi"


def test_the_english_original_is_one_button_away() -> None:
    desk = make_desk()
    asker = Asker(id=3)
    reply = desk.ask(QUESTIONS["th"], asker)
    if reply.buttons and reply.buttons[0][0].data.startswith("c:"):  # "did you mean": pick it
        reply = desk.press(reply.buttons[0][0].data, asker)
    [original] = [b for row in reply.buttons for b in row if b.data.startswith("o:")]
    english = desk.press(original.data, asker)
    assert english.lang == "en" and "Freedom from arbitrary arrest" in english.blocks[0].text


async def test_each_language_through_telegram_and_lang_switches_later_replies(bot: Bot) -> None:
    for offset, lang in enumerate(("th", "vi", "my", "tl", "ms")):
        user = USER + 1 + offset
        reply = await bot.say(QUESTIONS[lang], user=user)
        if "II.7" in (labels(reply) or [""])[0]:  # "did you mean II.7?": the person picks it
            before = len(bot.fake.sent_messages(user))
            bot.fake.send_callback(user, bot.button("II.7", user))
            reply = await bot.next_message(user, before)
        text = reply.params["text"]
        if lang == "my":
            text = zawgyi_to_unicode(text)
        assert "II.7" in text, lang
        assert review_line(lang) in " ".join(text.split()), lang
    # An English speaker chooses Vietnamese: every later reply is Vietnamese, even to English.
    await bot.say("/lang")
    chosen = await bot.press("Tiếng Việt")
    assert chosen.params["text"] == shipped_messages().get("language_set", "vi")
    later = await bot.say(QUESTIONS["en"])
    assert review_line("vi") in " ".join(later.params["text"].split())
    help_text = (await bot.say("/help")).params["text"]
    assert help_text.startswith(shipped_messages().get("help", "vi").split("\n")[0])
    assert bot.errors() == 0
