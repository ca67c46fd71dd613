"""How easy the answers are to read for a person with basic schooling, on a small phone.

Two measures, both printed for editors:

- sentence and summary length per entry and language (cheap; ``kb check`` prints it):
  words a sentence where words are separated by spaces, characters a sentence in Thai and
  Burmese, which do not put spaces between words;
- whether the summary and the first step of "What you can do" fit the first screen of a
  360-pixel-wide phone: the answer as Telegram shows it, laid out by WeasyPrint in a message
  bubble of a small Android phone (``rightsdesk kb readability``; about 0.1 s an answer).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from statistics import mean

from rightsdesk.conversation import Conversation, Reply
from rightsdesk.knowledge_base import Entry, KnowledgeBase
from rightsdesk.localized import DEFAULT_LANGUAGE
from rightsdesk.telegram_render import render_html

SPACELESS = ("th", "my")  # no spaces between words: length is counted in characters
WORDS_A_SENTENCE = 15  # the target the regional dialogue's readers need (issue 11)
SUMMARY_CHARS = 260
# A 360 x 640 dp Android phone in Telegram: status bar 24, toolbar 56, message box 48 leave
# 512 px for messages; a bubble's text is about 290 px wide, 16 px type, padding 8 px.
SCREEN_WIDTH_PX = 360
BUBBLE_TEXT_WIDTH_PX = 290
FIRST_SCREEN_PX = 512 - 16
TEXT_PX = 16

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|(?<=[။])\s*|\n+")


@dataclass(frozen=True)
class EntryReadability:
    entry_id: str
    lang: str
    summary_chars: int
    sentences: int
    words: int  # words (or, in Thai and Burmese, characters) in summary and steps
    unit: str  # "words" or "characters"

    @property
    def per_sentence(self) -> float:
        return self.words / self.sentences if self.sentences else 0.0


def sentences(text: str, lang: str) -> list[str]:
    """``text`` cut into sentences. Thai marks the end of a sentence with a space, so every
    space-separated phrase counts as one: an honest upper bound on how many there are."""
    parts = text.split() if lang == "th" else _SENTENCE_END.split(text)
    return [p.strip() for p in parts if p.strip()]


def length(sentence: str, lang: str) -> int:
    if lang in SPACELESS:
        return len(re.sub(r"\s", "", sentence))
    return len(sentence.split())


def measure(entry: Entry, lang: str) -> EntryReadability:
    summary = entry.summary.get(lang)
    texts = [summary, *entry.what_you_can_do.get(lang)]
    found = [s for text in texts for s in sentences(text, lang)]
    return EntryReadability(
        entry.id,
        lang,
        len(summary),
        len(found),
        sum(length(s, lang) for s in found),
        "characters" if lang in SPACELESS else "words",
    )


def summary_sentence_length(kb: KnowledgeBase, lang: str = DEFAULT_LANGUAGE) -> float:
    """Average length of a summary sentence, over every entry written in ``lang``."""
    lengths = [
        length(s, lang)
        for e in kb.entries
        if e.summary.has(lang)
        for s in sentences(e.summary.get(lang), lang)
    ]
    return mean(lengths) if lengths else 0.0


def report(kb: KnowledgeBase, lang: str) -> list[EntryReadability]:
    return [measure(e, lang) for e in kb.entries if e.summary.has(lang)]


def first_screen_reply(conversation: Conversation, entry: Entry, lang: str) -> Reply:
    """The top of the answer, down to the end of its first step."""
    answer = conversation.answer(entry, lang)
    blocks = []
    for block in answer.blocks:
        if block.style == "bullets":
            blocks.append(replace(block, items=block.items[:1]))
            break
        blocks.append(block)
    return replace(answer, blocks=tuple(blocks), buttons=())


def fits_first_screen(conversation: Conversation, entry: Entry, lang: str) -> bool:
    """Whether the summary and the first step show without scrolling, laid out as Telegram
    shows a message (Noto Sans standing in for the phone's Roboto, which has the same
    metrics to within a few per cent)."""
    import weasyprint

    text = "\n\n".join(render_html(first_screen_reply(conversation, entry, lang)))
    page = f"""<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><style>
@page {{ size: {BUBBLE_TEXT_WIDTH_PX}px {FIRST_SCREEN_PX}px; margin: 0; }}
body {{ margin: 0; font-family: "Noto Sans", "Noto Sans Thai", "Noto Sans Myanmar";
        font-size: {TEXT_PX}px; line-height: 1.3; white-space: pre-wrap;
        overflow-wrap: anywhere; }}
</style></head><body>{text}</body></html>"""
    return len(weasyprint.HTML(string=page).render().pages) == 1
