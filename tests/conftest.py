"""Shared fixtures."""

from collections.abc import Iterator

import pytest

from fake_bot_api import FakeBotAPI


@pytest.fixture
def fake_bot_api() -> Iterator[FakeBotAPI]:
    """A started fake Telegram Bot API on 127.0.0.1, stopped after the test."""
    with FakeBotAPI() as fake:
        yield fake
