"""A running Rights Desk bot polling the fake Bot API, for end-to-end tests."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils
from telegram.ext import Application, ApplicationBuilder

from fake_bot_api import Call, FakeBotAPI
from rightsdesk.config import Settings
from rightsdesk.desk import Desk
from rightsdesk.query_log import QueryLog
from rightsdesk.telegram_bot import Handlers, build_application
from rightsdesk.telegram_delivery import Poller

USER = 4242
ADMIN = 999


@dataclass
class Bot:
    fake: FakeBotAPI
    app: Application  # type: ignore[type-arg]
    handlers: Handlers
    desk: Desk
    log: QueryLog
    settings: Settings

    async def say(self, text: str, user: int = USER, **kwargs: object) -> Call:
        before = len(self.fake.sent_messages(user))
        if text.startswith("/"):
            self.fake.send_command(user, text[1:], **kwargs)  # type: ignore[arg-type]
        else:
            self.fake.send_text(user, text, **kwargs)  # type: ignore[arg-type]
        return await self.next_message(user, before)

    async def press(self, button_text: str, user: int = USER) -> Call:
        data = self.button(button_text, user)
        before = len(self.fake.sent_messages(user))
        self.fake.send_callback(user, data)
        return await self.next_message(user, before)

    async def next_message(self, chat_id: int, before: int) -> Call:
        calls = await self.fake.async_wait_for(
            "sendMessage",
            timeout=10,
            predicate=lambda c: c.ok and c.params.get("chat_id") == chat_id,
            count=before + 1,
        )
        return calls[-1]

    def button(self, starting_with: str, user: int = USER) -> str:
        """The callback data of the newest button whose label starts with ``starting_with``."""
        for call in reversed(self.fake.sent_messages(user)):
            markup = call.params.get("reply_markup") or {}
            for row in markup.get("inline_keyboard", []):
                for button in row:
                    if button["text"].startswith(starting_with):
                        return button["callback_data"]
        raise AssertionError(f"no button starting with {starting_with!r}")

    def rows(self, table: str) -> list[dict]:
        """What the query log wrote, read straight from the SQLite file."""
        self.log.flush()
        return list(sqlite_utils.Database(self.settings.db_path)[table].rows)

    def errors(self) -> int:
        return self.handlers.errors


def labels(call: Call) -> list[str]:
    markup = call.params.get("reply_markup") or {}
    return [b["text"] for row in markup.get("inline_keyboard", []) for b in row]


def bot_settings(fake_bot_api: FakeBotAPI, tmp_path: Path, **env: str) -> Settings:
    from conftest import ROOT, SECRET

    base = {
        "TELEGRAM_BOT_TOKEN": fake_bot_api.token,
        "TELEGRAM_API_URL": fake_bot_api.base_url,
        "RIGHTSDESK_DB": str(tmp_path / "queries.db"),
        "RIGHTSDESK_SECRET": SECRET.decode(),
        "RIGHTSDESK_ADMINS": str(ADMIN),
    }
    return Settings.from_env({**base, **env}, root=ROOT)


async def running_bot(fake_bot_api: FakeBotAPI, tmp_path: Path) -> AsyncIterator[Bot]:
    from conftest import make_desk

    settings = bot_settings(fake_bot_api, tmp_path)
    assert settings.secret is not None
    log = QueryLog(settings.db_path, secret=settings.secret).open()
    desk = make_desk(settings, log)
    builder = (
        ApplicationBuilder()
        .get_updates_read_timeout(3)
        .get_updates_connect_timeout(2)
        .get_updates_pool_timeout(2)
    )
    app, handlers = build_application(settings, desk, builder=builder)
    async with app:
        poller = Poller(app.bot, app.process_update, poll_timeout=1, grace_s=3)
        polling = asyncio.create_task(poller.run())
        # serve() would call post_init and post_stop, which start and stop these.
        assert handlers.shredder is not None
        handlers.shredder.start()
        try:
            yield Bot(fake_bot_api, app, handlers, desk, log, settings)
        finally:
            poller.stop()
            await polling
            await handlers.shredder.stop()
    log.close()


def start_rightsdesk_run(
    fake: FakeBotAPI, tmp_path: Path, output: Path, *args: str, **env: str
) -> subprocess.Popen[bytes]:
    """``rightsdesk run`` as a child process against the fake; ``env`` adds or overrides
    variables (RIGHTSDESK_TOKEN_REVOKED_AFTER_S=...).

    Its stdout and stderr go to the file ``output`` (appended), not a pipe: a pipe nobody reads
    fills up and blocks a busy bot mid-reply.
    """
    from conftest import ROOT, SECRET

    full_env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": fake.token,
        "TELEGRAM_API_URL": fake.base_url,
        "RIGHTSDESK_DB": str(tmp_path / "bot.db"),
        "RIGHTSDESK_SECRET": SECRET.decode(),
        "NO_PROXY": "127.0.0.1,localhost",
        # Loading the content twice (the bot and its analysis worker) costs these tests
        # seconds each and tests nothing they check; test_analysis_worker runs it.
        "RIGHTSDESK_WORKER": "0",
        **env,
    }
    with output.open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "rightsdesk.cli", "run", *args],
            env=full_env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
