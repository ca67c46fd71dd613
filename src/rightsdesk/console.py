"""The console adapter: the desk in a terminal. Buttons become numbered choices."""

from __future__ import annotations

import secrets
import tempfile
import textwrap
from pathlib import Path
from typing import TextIO

from rightsdesk.conversation import Block, Button, Reply
from rightsdesk.desk import Asker, Desk

WIDTH = 78
QUIT = frozenset({"/quit", "/exit", "quit", "exit"})


def render_text(reply: Reply, *, width: int = WIDTH) -> str:
    """A reply as plain text, the way the console and `rightsdesk ask` show it."""
    out = [_render_block(block, width) for block in reply.blocks]
    return "\n\n".join(part for part in out if part)


def button_labels(reply: Reply) -> list[str]:
    return [button.label for row in reply.buttons for button in row]


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


def console_asker() -> Asker:
    """A person at this terminal: a random id per session, so sessions are not one person."""
    return Asker(id=secrets.randbits(62))


class ConsoleChat:
    """A read-eval-print loop over the :class:`Desk`, as one asker."""

    def __init__(
        self, desk: Desk, *, stdin: TextIO, stdout: TextIO, asker: Asker | None = None
    ) -> None:
        self.desk = desk
        self.stdin = stdin
        self.stdout = stdout
        self.asker = asker or console_asker()
        self.choices: list[Button] = []

    def say(self, reply: Reply) -> None:
        if reply.factsheet is not None:
            reply = self._saved(reply)
        if reply.discreet is not None or reply.wipe:
            # A terminal keeps no chat on a server: there is nothing for the bot to delete.
            reply = self.desk.simple("discreet_console", self.asker)
        self.stdout.write("\n" + render_text(reply) + "\n")
        self.choices = [button for row in reply.buttons for button in row]
        if self.choices:
            self.stdout.write("\n")
            for number, button in enumerate(self.choices, start=1):
                self.stdout.write(f"  [{number}] {button.label}\n")
        self.stdout.flush()

    def _saved(self, reply: Reply) -> Reply:
        """A terminal cannot receive a document: the fact sheet goes to a file instead."""
        sheet = self.desk.factsheet(reply, self.asker)
        if sheet is None:
            return self.desk.simple("factsheet_failed", self.asker)
        folder = Path(tempfile.gettempdir()) / "rightsdesk-factsheets"
        folder.mkdir(exist_ok=True)
        path = folder / sheet.filename
        path.write_bytes(sheet.data)
        return self.desk.simple("factsheet_saved", self.asker, path=str(path))

    def handle(self, line: str) -> bool:
        """One line of input; False when the user wants to leave."""
        text = line.strip()
        if not text:
            return True
        if text in QUIT:
            return False
        if text.isascii() and text.isdigit() and self.choices:
            index = int(text) - 1
            if 0 <= index < len(self.choices):
                self.say(self.desk.press(self.choices[index].data, self.asker))
                return True
        if text.startswith("/"):
            name = text[1:].split()[0] if len(text) > 1 else ""
            self.say(self.desk.command(name, self.asker))
            return True
        self.say(self.desk.ask(text, self.asker))
        return True

    def run(self) -> None:
        self.say(self.desk.command("start", self.asker))
        self.stdout.write("\n(Type a question, a number to press a button, or /quit to leave.)\n")
        while True:
            self.stdout.write("\n> ")
            self.stdout.flush()
            line = self.stdin.readline()
            if not line or not self.handle(line):
                break
        self.stdout.write("\nBye.\n")
