"""Emergency cards: recognised before matching, shown before anything else, in every language.

The phrases here are written for these tests, apart from the evaluation sets; how well the
word lists do on questions written by others is measured by `rightsdesk eval` on
tests/eval/emergency/, not asserted here.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from conftest import ROOT, make_desk, shipped_emergencies
from rightsdesk.console import ConsoleChat
from rightsdesk.desk import Asker
from rightsdesk.emergency import check_emergencies
from rightsdesk.languages import unicode_to_zawgyi
from rightsdesk.localized import LANGUAGES
from telegram_harness import USER, Bot, labels

EMERGENCY_DIR = ROOT / "bot" / "emergency"


def kind_of(text: str) -> str | None:
    found = shipped_emergencies().detect(text)
    return found.kind if found else None


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("help my boyfriend is not breathing after he used", "overdose"),
        ("she overdosed right now what do i do", "overdose"),
        ("police are raiding my friend's room right now", "arrest"),
        ("they are taking my brother to rehab tonight", "compulsory_centre"),
        ("the guards are beating him in the cell", "custody_violence"),
        ("i want to end my life", "self_harm"),
        ("temen gw gak napas abis make", "overdose"),
        ("polis tengah serbu rumah aku", "arrest"),
        ("ban toi khong tho nua", "overdose"),  # Vietnamese without diacritics
        ("bạn tôi không thở nữa", "overdose"),
    ],
)
def test_an_emergency_happening_now_is_recognised(text: str, kind: str) -> None:
    assert kind_of(text) == kind


@pytest.mark.parametrize(
    "text",
    [
        "what are my rights if I am arrested someday",
        "is naloxone legal here",
        "is forced rehab without a court allowed",
        "can police beat someone during questioning, in general",
        "I was arrested last year, can I still get a job",
        "how does the death penalty for drugs work",
    ],
)
def test_a_look_alike_that_is_not_urgent_gets_no_card(text: str) -> None:
    assert kind_of(text) is None


def test_a_past_word_beside_a_now_word_holds_back_an_arrest_but_never_self_harm() -> None:
    # "last year" alone says the danger is over; with "tonight" it is the story behind it.
    assert kind_of("got out of prison last year and tonight he says he will kill himself") == (
        "self_harm"
    )
    assert kind_of("got out of prison last year and he says he will kill himself") is None
    assert kind_of("last year police arrested my brother, what are my rights now") is None


def test_a_one_letter_slip_in_a_strong_phrase_still_counts_but_not_in_a_lone_word() -> None:
    assert kind_of("my friend is not breathng") == "overdose"
    # "picked" is one letter from "kicked", and a lone word must be exact. (The lists alone:
    # the model, which knows "they picked up my son today", does card this one.)
    assert shipped_emergencies().detect_by_lists("they picked up the package today") is None


def test_a_zawgyi_message_is_recognised_like_its_unicode_form() -> None:
    unicode = "သူငယ်ချင်း အသက်မရှူတော့ဘူး"
    assert kind_of(unicode) is not None
    assert kind_of(unicode_to_zawgyi(unicode)) == kind_of(unicode)


def test_the_card_comes_before_any_other_text_and_names_the_countrys_number() -> None:
    desk = make_desk()
    reply = desk.ask("temen gw gak napas abis make putaw", Asker(id=1))
    assert reply.emergency == "overdose" and reply.lang == "id"
    first, title = reply.blocks[0], reply.blocks[1]
    assert first.style == "title" and first.text.startswith("⚠️")
    assert title.text == shipped_emergencies().card("overdose", "id").title
    texts = [b.text for b in reply.blocks]
    assert any("119" in t for t in texts[:4])  # Indonesia, guessed from the language
    # The provision follows the card, and the buttons offer a person to talk to first.
    assert any(t.startswith("II.1.1") for t in texts)
    assert reply.buttons[0][0].data == "h"


def test_an_arrest_card_never_advises_resisting_and_names_no_police_number() -> None:
    desk = make_desk()
    reply = desk.ask("police are raiding my friend's room right now", Asker(id=2))
    assert reply.emergency == "arrest"
    card = shipped_emergencies().card("arrest", "en")
    assert "Do not resist" in card.steps[0]
    then = shipped_emergencies().text("then", "en")
    card = [b.text for b in reply.blocks[: [b.text for b in reply.blocks].index(then)]]
    assert card and not any("Call emergency help" in t or "/country" in t for t in card)


def test_an_overdose_dose_question_gets_the_card_and_the_provision_not_a_refusal() -> None:
    desk = make_desk()
    reply = desk.ask("how many sprays of narcan should i give him", Asker(id=3))
    assert reply.emergency == "overdose"
    assert any(b.text.startswith("II.1.1") for b in reply.blocks)
    assert not any("medical advice" in b.text for b in reply.blocks)


def test_without_a_country_the_card_asks_for_one_instead_of_guessing_a_number() -> None:
    desk = make_desk()
    reply = desk.ask("my friend is not breathing after using", Asker(id=4))
    assert "/country" in reply.blocks[2].text


def test_every_language_has_every_kind_and_a_card_in_its_own_words() -> None:
    emergencies = shipped_emergencies()
    assert set(emergencies.languages) == set(LANGUAGES)
    english = {k: emergencies.card(k, "en") for k in emergencies.kinds}
    for lang in LANGUAGES:
        for kind in emergencies.kinds:
            card = emergencies.card(kind, lang)
            assert len(card.steps) == len(english[kind].steps)
            if lang != "en":
                assert card.title != english[kind].title, (lang, kind)


def _copy(tmp_path: Path) -> Path:
    folder = tmp_path / "emergency"
    shutil.copytree(EMERGENCY_DIR, folder)
    return folder


def test_kb_check_names_the_file_and_line_of_a_kind_without_a_source(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    kinds = folder / "kinds.yaml"
    text = kinds.read_text()
    kinds.write_text(text.replace('    cite: "Guidelines II.6"\n', "", 1))
    problems, emergencies = check_emergencies(folder)
    assert emergencies is None
    [problem] = problems
    assert problem.path == kinds and "cite" in problem.message
    assert problem.line == text[: text.index("  custody_violence:")].count("\n") + 1


def test_kb_check_refuses_an_unknown_language_and_a_broken_phrase(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    shutil.copy(folder / "en.yaml", folder / "xx.yaml")
    thai = folder / "th.yaml"
    thai.write_text(thai.read_text().replace("ตอนนี้", "ตอนน\u0e4d\u0e32", 1))
    problems, _ = check_emergencies(folder)
    messages = {(p.path.name, p.message.split(":")[0]) for p in problems}
    assert ("xx.yaml", "unknown language code 'xx' in the file name") in messages
    assert any(name == "th.yaml" and "SARA AM" in m for name, m in messages)


def test_kb_check_refuses_a_card_pointing_at_a_missing_entry(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    problems, _ = check_emergencies(folder, kb_ids=["ii-7-arbitrary-arrest-detention"])
    assert any("no entry with id 'ii-1-1-harm-reduction'" in p.message for p in problems)


async def test_through_telegram_the_card_is_the_first_thing_the_person_reads(bot: Bot) -> None:
    first = await bot.say("ตำรวจกำลังค้นห้องเพื่อนผมอยู่ตอนนี้")  # Thai: police searching now
    assert first.params["text"].startswith("<b>⚠️")
    assert shipped_emergencies().card("arrest", "th").title in first.params["text"]
    assert labels(bot.fake.sent_messages(USER)[-1])[0].startswith("🧑")


def test_in_the_console_the_card_is_the_first_thing_printed() -> None:
    out = io.StringIO()
    chat = ConsoleChat(make_desk(), stdin=io.StringIO(), stdout=out)
    chat.handle("ban toi khong tho nua, moi chich xong")
    printed = out.getvalue().strip()
    assert printed.startswith(shipped_emergencies().text("heading", "vi").upper())


def test_ask_json_reports_the_card_shown(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from rightsdesk.cli import main

    assert main(["ask", "--json", "police are raiding my friend's room right now"]) == 0
    assert json.loads(capsys.readouterr().out)["emergency"] == "arrest"
    assert main(["ask", "--json", "what are my rights if I am arrested someday"]) == 0
    assert json.loads(capsys.readouterr().out)["emergency"] is None


def test_a_card_in_an_unreviewed_translation_says_so_even_with_no_answer_after_it() -> None:
    desk = make_desk()
    reply = desk.ask("gw mau bunuh diri malam ini", Asker(id=5))  # self-harm: no provision follows
    assert reply.emergency == "self_harm" and reply.lang == "id"
    notes = [b.text for b in reply.blocks if b.style == "note"]
    assert desk.messages.get("labels.translation_machine", "id") in notes
    english = desk.ask("i want to end my life", Asker(id=6))
    assert not [b for b in english.blocks if b.style == "note"]
