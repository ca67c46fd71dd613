"""The poller confirms updates only once handled, without reading a busy backlog again and
again: every poll while updates are in flight fetches the in-flight ones too."""

from __future__ import annotations

import asyncio
import os

from telegram import Bot, Update

from fake_bot_api import FakeBotAPI
from rightsdesk.telegram_delivery import Poller

os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")


async def _burst(fake: FakeBotAPI, updates: int, handling_s: float, concurrency: int) -> list[int]:
    """Push ``updates`` questions at once and poll them until each one is handled; returns
    the update ids in the order the handler saw them."""
    for i in range(updates):
        fake.send_text(100_000 + i, f"question {i}")
    seen: list[int] = []
    done = asyncio.Event()

    async def handle(update: Update) -> None:
        await asyncio.sleep(handling_s)
        seen.append(update.update_id)
        if len(seen) == updates:
            done.set()

    async with Bot(fake.token, base_url=fake.base_url) as bot:
        poller = Poller(bot, handle, concurrency=concurrency, poll_timeout=1)
        polling = asyncio.create_task(poller.run())
        await asyncio.wait_for(done.wait(), 60)
        poller.stop()
        await polling
    return seen


async def test_a_backlog_is_not_fetched_again_after_every_answer(fake_bot_api: FakeBotAPI) -> None:
    # 200 updates, 2 handlers of 20 ms: about 2 s of work. Polling after every finished
    # update would poll about 100 times, each fetching the same window of 100 again.
    seen = await _burst(fake_bot_api, 200, handling_s=0.02, concurrency=2)

    assert sorted(seen) == sorted(set(seen)) and len(seen) == 200  # each handled once
    polls = fake_bot_api.calls("getUpdates")
    assert len(polls) <= 30, f"{len(polls)} polls for 200 updates"
    assert fake_bot_api.pending_update_ids() == []  # all confirmed at the end


async def test_finished_updates_are_confirmed_within_about_a_second_of_a_long_burst(
    fake_bot_api: FakeBotAPI,
) -> None:
    # Waiting for 25 answers before polling must not leave answered updates unconfirmed for
    # long: a crash would hand each of them out a second time.
    for i in range(300):
        fake_bot_api.send_text(100_000 + i, f"question {i}")
    seen: list[int] = []

    async def handle(update: Update) -> None:
        await asyncio.sleep(0.02)
        seen.append(update.update_id)

    async with Bot(fake_bot_api.token, base_url=fake_bot_api.base_url) as bot:
        poller = Poller(bot, handle, concurrency=1, poll_timeout=1)
        polling = asyncio.create_task(poller.run())
        await asyncio.sleep(2.0)
        answered = list(seen)
        await asyncio.sleep(1.5)
        still_held = set(fake_bot_api.pending_update_ids())
        poller.stop()
        await polling
    assert len(answered) > 25
    assert not still_held & set(answered), "answered updates were still unconfirmed 1.5 s later"
    assert len(still_held) > 0  # the burst was still going: the check saw a busy poller
