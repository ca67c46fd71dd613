"""Shared fixtures."""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from fake_bot_api import FakeBotAPI
from telegram_harness import Bot, running_bot


@pytest.fixture
def fake_bot_api() -> Iterator[FakeBotAPI]:
    """A started fake Telegram Bot API on 127.0.0.1, stopped after the test."""
    with FakeBotAPI() as fake:
        yield fake


@pytest.fixture
async def bot(fake_bot_api: FakeBotAPI, tmp_path: Path) -> AsyncIterator[Bot]:
    """The real Rights Desk Application polling the fake, with a query log in tmp_path."""
    async for running in running_bot(fake_bot_api, tmp_path):
        yield running
