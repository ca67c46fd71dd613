"""How readable the answers are: sentence length, and whether the summary and the first step
show on the first screen of a small phone without scrolling."""

from __future__ import annotations

from dataclasses import replace

from conftest import make_desk, shipped_kb
from rightsdesk import readability
from rightsdesk.cli import main
from rightsdesk.localized import Localized


def test_sentences_are_cut_at_full_stops_and_burmese_section_marks() -> None:
    assert readability.sentences("One idea. Then another! A third?", "en") == [
        "One idea.",
        "Then another!",
        "A third?",
    ]
    assert len(readability.sentences("ရဲက ဖမ်းတယ်။ ရှေ့နေ ခေါ်ပါ။", "my")) == 2
    assert readability.length("ตำรวจ จับ", "th") == 8  # characters: Thai has no word spaces


def test_a_short_answer_fits_the_first_screen_and_a_long_one_does_not() -> None:
    conversation = make_desk().conversation
    entry = shipped_kb().get("ii-7-arbitrary-arrest-detention")
    assert entry is not None
    assert readability.fits_first_screen(conversation, entry, "en")
    long_summary = "This sentence is here only to make the summary far too long. " * 8
    bloated = replace(entry, summary=Localized({"en": long_summary}))
    assert not readability.fits_first_screen(conversation, bloated, "en")


def test_the_rewritten_english_keeps_summary_sentences_short() -> None:
    assert readability.summary_sentence_length(shipped_kb(), "en") <= 16


def test_kb_check_prints_the_readability_line(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["kb", "check"]) == 0
    out = capsys.readouterr().out
    assert "Readability (en):" in out and "words a summary sentence" in out


def test_an_answer_keyboard_has_more_at_most_three_related_and_fits_one_screen() -> None:
    desk = make_desk()
    for entry in shipped_kb().entries:
        reply = desk.conversation.answer(entry, "en", "k")
        related = [b for row in reply.buttons for b in row if b.data.startswith("e:")]
        assert len(related) <= 3
        assert reply.buttons[0][0].data == f"m:{entry.id}"
        assert len(reply.buttons) <= 5  # More/Fact sheet, feedback, three related
