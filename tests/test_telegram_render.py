"""Replies as Telegram HTML: escaped, split under 4096 characters, tags never cut."""

from __future__ import annotations

import re

import pytest

from rightsdesk.conversation import Block, Reply
from rightsdesk.telegram_render import TEXT_LIMIT, escape, render_html

TAG = re.compile(r"</?(b|i)>")


def test_only_the_three_characters_html_needs_are_escaped() -> None:
    assert escape('Say "no" & <stop>') == 'Say "no" &amp; &lt;stop&gt;'


@pytest.mark.parametrize("char", ['"', "'", "&", "<", ">"])
@pytest.mark.parametrize("style", ["text", "title", "note"])
def test_a_text_of_one_character_repeated_never_makes_a_message_too_long(
    char: str, style: str
) -> None:
    # Regression: quotes once escaped to 6 characters while the budget assumed 5.
    reply = Reply((Block(style, char * 9000),))  # type: ignore[arg-type]
    chunks = render_html(reply)
    assert all(len(chunk) <= TEXT_LIMIT for chunk in chunks)
    assert sum(len(c) for c in chunks) >= 9000


def test_bullets_full_of_markup_are_split_and_every_part_is_balanced() -> None:
    bullets = tuple(f'Step {i} <careful> & "keep" notes ' * 30 for i in range(40))
    chunks = render_html(Reply((Block("title", "A <long> title"), Block("bullets", items=bullets))))
    assert len(chunks) > 1
    for chunk in chunks:
        assert len(chunk) <= TEXT_LIMIT
        assert "<careful>" not in chunk
        opened = [m.group(0) for m in TAG.finditer(chunk)]
        assert len(opened) % 2 == 0
