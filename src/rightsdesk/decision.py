"""What the bot decided to do with a question: the one vocabulary every part shares."""

from __future__ import annotations

from enum import StrEnum


class Decision(StrEnum):
    """``answer`` one entry, ``clarify`` by offering a few, or ``none``: an honest "not found".

    A ``StrEnum``, so that it is stored in SQLite and printed in JSON as its plain value.
    """

    ANSWER = "answer"
    CLARIFY = "clarify"
    NONE = "none"
