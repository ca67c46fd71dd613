"""The same conversation in a terminal: buttons become numbered choices, no token needed."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import TextIO

from rightsdesk.conversation import Block, Button, Conversation, Reply

WIDTH = 78


def render_text(reply: Reply, *, width: int = WIDTH) -> str:
    """A reply as plain text, the way the console and `rightsdesk ask` show it."""
    out: list[str] = []
    for block in reply.blocks:
        out.append(_render_block(block, width))
    return "\n\n".join(part for part in out if part)


def _render_block(block: Block, width: int) -> str:
    if block.style == "bullets":
        return "\n".join(
            textwrap.fill(item, width, initial_indent="  • ", subsequent_indent="    ")
            for item in block.items
        )
    if block.style == "title":
        return block.text.upper()
    if block.style == "heading":
        return block.text
    if block.style == "note":
        return textwrap.fill(f"({block.text})", width)
    return "\n".join(textwrap.fill(line, width) if line else "" for line in block.text.split("\n"))


class ConsoleChat:
    """A read-eval-print loop over :class:`Conversation`.

    ``on_query`` lets the caller log questions exactly as the Telegram adapter does; it
    returns the key that feedback and choice buttons refer to.
    """

    def __init__(
        self,
        conversation: Conversation,
        *,
        lang: str = "en",
        stdin: TextIO,
        stdout: TextIO,
        on_query: Callable[[str, object], str] | None = None,
        on_feedback: Callable[[str, bool], None] | None = None,
        on_choice: Callable[[str, str], None] | None = None,
    ) -> None:
        self.conversation = conversation
        self.lang = lang
        self.stdin = stdin
        self.stdout = stdout
        self.on_query = on_query
        self.on_feedback = on_feedback
        self.on_choice = on_choice
        self.choices: list[Button] = []

    def say(self, reply: Reply) -> None:
        self.stdout.write("\n" + render_text(reply) + "\n")
        self.choices = [button for row in reply.buttons for button in row]
        if self.choices:
            self.stdout.write("\n")
            for number, button in enumerate(self.choices, start=1):
                self.stdout.write(f"  [{number}] {button.label}\n")
        self.stdout.flush()

    def handle(self, line: str) -> bool:
        """One line of input; False when the user wants to leave."""
        text = line.strip()
        c = self.conversation
        if not text:
            return True
        if text in ("/quit", "/exit", "quit", "exit"):
            return False
        if text.isdigit() and self.choices:
            index = int(text) - 1
            if 0 <= index < len(self.choices):
                self.press(self.choices[index].data)
                return True
        commands = {
            "/start": c.start,
            "/help": c.help,
            "/topics": c.topics,
            "/examples": c.countries,
            "/privacy": c.privacy,
            "/about": c.about,
        }
        if text.startswith("/"):
            command = commands.get(text.split()[0])
            self.say(command(self.lang) if command else c.simple("unknown_command", self.lang))
            return True
        self.ask(text)
        return True

    def ask(self, text: str) -> None:
        asked = self.conversation.ask(text, self.lang)
        key = self.on_query(text, asked.result) if self.on_query else "-"
        self.say(asked.reply(key))

    def press(self, data: str) -> None:
        pressed = self.conversation.press(data, self.lang)
        if pressed.feedback and self.on_feedback:
            self.on_feedback(*pressed.feedback)
        if pressed.choice and self.on_choice:
            self.on_choice(*pressed.choice)
        if pressed.ask:
            self.stdout.write(f"\n> {pressed.ask}\n")
            self.ask(pressed.ask)
        elif pressed.reply:
            self.say(pressed.reply)

    def run(self) -> None:
        self.say(self.conversation.start(self.lang))
        self.stdout.write("\n(Type a question, a number to press a button, or /quit to leave.)\n")
        while True:
            self.stdout.write("\n> ")
            self.stdout.flush()
            line = self.stdin.readline()
            if not line or not self.handle(line):
                break
        self.stdout.write("\nBye.\n")
