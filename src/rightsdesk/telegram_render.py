"""Replies as Telegram sees them: HTML text within the 4096-character limit, and keyboards.

Every knowledge base text is escaped, and tags never span a split, so no raw markup can
reach the user and no split can leave a tag open.
"""

from __future__ import annotations

import html
from typing import Any

from telegram.constants import MessageLimit

from rightsdesk.conversation import Block, Reply

TEXT_LIMIT: int = MessageLimit.MAX_TEXT_LENGTH  # 4096
# With quote=False only &, < and > are escaped, and the longest of them (&amp;) is 5
# characters: an unescaped piece of limit // 5 characters always fits once escaped.
ESCAPE_GROWTH = 5
WRAPS = {"title": "b", "heading": "b", "source": "i", "note": "i"}


def escape(text: str) -> str:
    # Telegram's HTML mode needs only &, < and > escaped; quotes may stay as they are.
    return html.escape(text, quote=False)


def render_html(reply: Reply, *, limit: int = TEXT_LIMIT) -> list[str]:
    """The reply as Telegram HTML, split at paragraph boundaries into messages <= ``limit``."""
    units: list[str] = []
    for block in reply.blocks:
        units.extend(_html_units(block, limit))
    chunks: list[str] = []
    current = ""
    for unit in units:
        candidate = f"{current}\n\n{unit}" if current else unit
        if len(candidate) <= limit:
            current = candidate
            continue
        if current:
            chunks.append(current)
        current = unit
    if current:
        chunks.append(current)
    return chunks or [""]


def _html_units(block: Block, limit: int) -> list[str]:
    """One block as one or more paragraphs, each short enough to send alone."""
    if block.style == "bullets":
        paragraphs: list[str] = []
        current = ""
        for item in block.items:
            for piece in _hard_wrap(f"• {item}", limit // ESCAPE_GROWTH):
                line = escape(piece)
                candidate = f"{current}\n{line}" if current else line
                if len(candidate) > limit:
                    paragraphs.append(current)
                    current = line
                else:
                    current = candidate
        return [*paragraphs, current] if current else paragraphs
    wrap = WRAPS.get(block.style)
    overhead = len(f"<{wrap}></{wrap}>") if wrap else 0
    out = []
    for paragraph in block.text.split("\n\n"):
        # Escape after cutting, so that an entity such as &amp; is never cut in half.
        for piece in _hard_wrap(paragraph, (limit - overhead) // ESCAPE_GROWTH):
            text = escape(piece)
            out.append(f"<{wrap}>{text}</{wrap}>" if wrap else text)
    return out


def _hard_wrap(text: str, budget: int) -> list[str]:
    """``text`` cut at spaces into pieces of at most ``budget`` characters."""
    if len(text) <= budget:
        return [text]
    pieces: list[str] = []
    while len(text) > budget:
        cut = text.rfind(" ", 0, budget)
        cut = cut if cut > budget // 2 else budget
        pieces.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        pieces.append(text)
    return pieces


def keyboard(reply: Reply) -> dict[str, Any] | None:
    """The reply's buttons as the Bot API's ``InlineKeyboardMarkup`` object, ready for JSON.

    Built as plain data rather than python-telegram-bot's objects, which the library turns
    back into this same data on every send: building and converting those objects was about
    a tenth of the bot's own CPU time a question.
    """
    if not reply.buttons:
        return None
    return {
        "inline_keyboard": [
            [{"text": b.label, "callback_data": b.data} for b in row] for row in reply.buttons
        ]
    }
