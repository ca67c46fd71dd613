"""Shared fixtures and factories: one way to make a query event, a secret or a free port."""

from __future__ import annotations

import contextlib
import functools
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fake_bot_api import FakeBotAPI
from rightsdesk.config import Settings
from rightsdesk.decision import Decision
from rightsdesk.desk import Desk, content_words
from rightsdesk.emergency import Emergencies, load_emergencies
from rightsdesk.knowledge_base import KnowledgeBase, load_knowledge_base
from rightsdesk.log_words import KnownWords
from rightsdesk.messages import Messages, load_messages
from rightsdesk.query_log import QueryEvent
from rightsdesk.referrals import Referrals, load_referrals
from rightsdesk.sectors import Sectors, load_sectors
from telegram_harness import Bot, running_bot

# Exactly the shortest secret the bot accepts.
SECRET = b"test-secret-of-exactly-32-bytes!"
assert len(SECRET) == 32
ROOT = Path(__file__).resolve().parents[1]


def make_event(
    text: str = "can police take my phone",
    *,
    user_id: int = 5_123_456_789,
    names: tuple[str, ...] = (),
    lang: str = "en",
    decision: Decision | str = Decision.ANSWER,
    top_id: str | None = "ii-9-privacy",
    top_score: float | None = None,
    runner_up_ids: tuple[str, ...] = (),
    at: datetime | None = None,
    kb_version: str = "kb-test",
    handling_ms: float = 1.0,
) -> QueryEvent:
    """A query event as an adapter would hand it to the query log."""
    decision = Decision(decision)
    if decision == Decision.NONE and top_id == "ii-9-privacy":
        top_id = None
    return QueryEvent(
        text=text,
        lang=lang,
        decision=decision,
        top_id=top_id,
        top_score=top_score if top_score is not None else (87.5 if top_id else None),
        runner_up_ids=runner_up_ids,
        kb_version=kb_version,
        handling_ms=handling_ms,
        user_id=user_id,
        sender_names=names,
        at=at or datetime.now(UTC),
    )


def free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@functools.cache
def shipped_kb() -> KnowledgeBase:
    """The shipped knowledge base, loaded once: it is read-only."""
    return load_knowledge_base(ROOT / "knowledge_base")


@functools.cache
def shipped_messages() -> Messages:
    return load_messages(ROOT / "bot" / "messages.yaml")


@functools.cache
def _shipped_matcher():  # type: ignore[no-untyped-def]
    from rightsdesk.matching import Matcher

    return Matcher(shipped_kb())


@functools.cache
def shipped_emergencies() -> Emergencies:
    return load_emergencies(ROOT / "bot" / "emergency", [e.id for e in shipped_kb().entries])


@functools.cache
def shipped_sectors() -> Sectors:
    return load_sectors(ROOT / "knowledge_base", [e.id for e in shipped_kb().entries])


@functools.cache
def shipped_referrals() -> Referrals:
    return load_referrals(ROOT / "bot" / "referrals.yaml")


def make_desk(  # type: ignore[no-untyped-def]
    settings: Settings | None = None, query_log=None, *, referrals: Referrals | None = None
) -> Desk:
    """A desk over the shipped content; the matcher index is built once for all tests."""
    settings = settings or Settings.defaults(ROOT)
    return Desk(
        settings,
        shipped_kb(),
        shipped_messages(),
        query_log,
        matcher=_shipped_matcher(),
        emergencies=shipped_emergencies(),
        referrals=referrals or shipped_referrals(),
        sectors=shipped_sectors(),
        known_words=shipped_known_words(),
    )


@functools.cache
def shipped_known_words() -> KnownWords:
    return content_words(shipped_kb(), shipped_messages())


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
