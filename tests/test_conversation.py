"""The conversation core: what a person sees, for a text or a button, without Telegram."""

from __future__ import annotations

import pytest

from conftest import make_desk, shipped_kb
from rightsdesk.conversation import Conversation, Reply
from rightsdesk.decision import Decision
from rightsdesk.languages import NATIVE_NAMES
from rightsdesk.localized import LANGUAGES

ARREST = "can police detain someone just for using drugs"


def core() -> Conversation:
    return make_desk().conversation


def answer(question: str = ARREST, key: str = "-") -> Reply:
    desk = make_desk()
    return desk.conversation.reply_for(desk.matcher.match(question), "en", key)


def texts(reply: Reply) -> list[str]:
    return [b.text for b in reply.blocks] + [i for b in reply.blocks for i in b.items]


def data(reply: Reply) -> list[str]:
    return [button.data for row in reply.buttons for button in row]


def test_an_answer_has_title_summary_steps_source_and_the_honest_small_print() -> None:
    reply = answer()
    styles = [b.style for b in reply.blocks]
    assert styles == ["title", "text", "heading", "bullets", "source", "note"]
    assert reply.blocks[0].text.startswith("II.7 ")
    assert reply.blocks[4].text == "Source: Guidelines II.7"
    note = reply.blocks[5].text
    assert "Legal information, not legal advice." in note
    assert "The Guidelines are guidance, not binding law." in note
    assert "draft" in note


def test_feedback_buttons_appear_only_when_the_question_was_logged() -> None:
    assert not any(d.startswith("f:") for d in data(answer(key="-")))
    logged = data(answer(key="Abc123XYZ0"))
    assert "f:y:Abc123XYZ0" in logged and "f:n:Abc123XYZ0" in logged


def test_clarify_offers_the_matchers_choices_with_the_query_key() -> None:
    desk = make_desk()
    result = desk.matcher.match("rights of women and children")
    assert result.decision == Decision.CLARIFY
    reply = desk.conversation.reply_for(result, "en", "KEY0000001")
    offered = [d for d in data(reply) if d.startswith("c:")]
    assert offered == [f"c:KEY0000001:{m.entry.id}" for m in result.choices]


def test_a_declined_question_gets_its_reason_and_a_way_to_browse() -> None:
    desk = make_desk()
    result = desk.matcher.match("where can i buy shabu cheap tonight")
    reply = desk.conversation.reply_for(result, "en")
    assert result.declined is not None
    assert reply.blocks[0].text == result.declined.reason.get("en")
    assert data(reply) == ["t", "x"]


def test_a_declined_question_also_offers_the_entries_that_scored_enough() -> None:
    # The bail amount is declined, but the question may be about bail refused: II.7 is one tap.
    # ("where can i buy shabu", above, comes near no entry and gets the reason alone.)
    desk = make_desk()
    result = desk.matcher.match("how much is bail for a drug case in manila")
    assert result.declined is not None and result.declined.id == "bail-amounts-and-payment"
    reply = desk.conversation.reply_for(result, "en", "KEY0000002")
    assert reply.blocks[0].text == result.declined.reason.get("en")
    offered = [d for d in data(reply) if d.startswith("c:")]
    assert offered[0] == "c:KEY0000002:ii-7-arbitrary-arrest-detention"
    assert offered == [f"c:KEY0000002:{m.entry.id}" for m in result.choices]
    assert data(reply)[len(offered) : len(offered) + 2] == ["t", "x"]


def test_a_question_about_where_to_find_a_service_offers_talk_to_a_person() -> None:
    desk = make_desk()
    result = desk.matcher.match("is the methadone clinic near the night market open on sunday")
    assert result.declined is not None and result.declined.offer == "contacts"
    reply = desk.conversation.reply_for(result, "en")
    assert "/contacts" in reply.blocks[0].text
    assert data(reply) == ["h", "k", "t", "x"]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_question_about_the_bot_itself_points_to_privacy_discreet_and_wipe(lang: str) -> None:
    from rightsdesk.desk import COMMANDS_BY_NAME

    desk = make_desk()
    result = desk.matcher.match("does this bot save what i type")
    assert result.declined is not None and result.declined.id == "about-this-bot"
    reason = result.declined.reason.get(lang)
    # The reason names commands the bot really has, in every language.
    for command in ("privacy", "discreet", "wipe"):
        assert f"/{command}" in reason and command in COMMANDS_BY_NAME


def test_more_keeps_shall_should_may_apart() -> None:
    entry = shipped_kb().get("ii-7-arbitrary-arrest-detention")
    assert entry is not None
    headings = [b.text for b in core().more(entry, "en").blocks if b.style == "heading"]
    assert "States must (shall):" in headings and "States should:" in headings


@pytest.mark.parametrize(
    ("pressed", "expected_first_text"),
    [
        ("t", "Pick a part of the Guidelines:"),
        ("p:II", "II. Obligations arising from human rights standards. Pick an item:"),
        ("x", "Examples of good practice from the 2020 regional dialogue. Pick a country:"),
        ("f:y:Abc123XYZ0", "Thank you. This helps the team improve the answers."),
        ("l", "Choose the language for my answers:"),
    ],
)
def test_buttons_open_what_they_say(pressed: str, expected_first_text: str) -> None:
    reply = core().press(pressed, "en").reply
    assert reply is not None and reply.blocks[0].text == expected_first_text


def test_feedback_is_reported_to_the_desk_only_with_a_real_key() -> None:
    assert core().press("f:n:Abc123XYZ0", "en").feedback == ("Abc123XYZ0", False)
    assert core().press("f:n:-", "en").feedback is None


def test_an_example_question_button_is_asked_as_if_typed() -> None:
    pressed = core().press("q:0", "en")
    assert pressed.reply is None and pressed.ask == core().messages.list("example_questions")[0]


@pytest.mark.parametrize(
    "forged", ["q:²", "x:٣", "x:99999999999999999999", "e:no-such-entry", "zz", "", "c::", "p:VI"]
)
def test_forged_or_stale_button_data_gets_a_safe_reply(forged: str) -> None:
    pressed = core().press(forged, "en")
    assert pressed.reply is not None and pressed.ask is None and pressed.feedback is None


def test_the_language_picker_names_every_language_in_its_own_script() -> None:
    reply = core().languages("en")
    assert [b.label for row in reply.buttons for b in row] == [NATIVE_NAMES[c] for c in LANGUAGES]
    chosen = core().press("l:vi", "en")
    assert chosen.language == "vi"


def test_example_buttons_do_not_repeat_the_country() -> None:
    reply = core().part("T", "en")
    labels = [b.label for row in core().country(0, "en").buttons for b in row]  # type: ignore[union-attr]
    assert labels and not any(label.count(":") > 1 for label in labels)
    assert not any("Viet Nam: Viet Nam" in b.label for row in reply.buttons for b in row)
    for index in range(len(core().countries("en").buttons)):
        country = core().country(index, "en")
        assert country is not None
        for row in country.buttons:
            for button in row:
                first, _, rest = button.label.partition(": ")
                assert not rest.startswith(first), button.label
