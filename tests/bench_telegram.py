"""Throughput benchmark: 1,000 updates from 100 users through the fake Bot API.

    .venv/bin/python tests/bench_telegram.py [--updates 1000] [--users 100] [--json]

Prints numbers; it is not a test. Two runs:

- ``capacity``: the bot without python-telegram-bot's rate limiter, to measure what the bot
  itself can handle (target: at least 200 updates per second on a 2-core machine);
- ``production``: the bot as deployed, with ``AIORateLimiter``, which holds replies to about
  30 messages per second overall as Telegram requires. Its throughput is Telegram's cap, by
  design: a bot that exceeds it gets 429s and is slowed down anyway.

Each update is a question from a pool of realistic ones, so every reply goes through the
matcher, the conversation core, HTML rendering and the query log (a real SQLite file).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # for fake_bot_api

from telegram import Update
from telegram.ext import ApplicationBuilder, MessageHandler, filters

from fake_bot_api import FakeBotAPI
from rightsdesk.config import Settings
from rightsdesk.desk import Desk
from rightsdesk.query_log import QueryLog
from rightsdesk.telegram_bot import build_application
from rightsdesk.telegram_delivery import Poller

QUESTIONS = [
    "can police detain someone just for using drugs",
    "cops took my clients hp no warant",
    "is forced rehab without a court allowed",
    "can a prison stop methadone treatment",
    "death penalty for drug offences is it allowed",
    "needle exchange workers arrested for giving syringes",
    "my client was beaten during interrogation",
    "can a school drug test all students",
    "how do I cook rice",
    "does my client have the right to a lawyer on a drug charge",
]


def _percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _fake_server(conn: Connection) -> None:
    """The fake Bot API in its own process, as Telegram is another machine: it must not share
    the bot's interpreter lock, or the benchmark measures the fake."""
    with FakeBotAPI() as fake:
        conn.send((fake.token, fake.base_url))
        while True:
            command, *args = conn.recv()
            if command == "push":
                updates, users = args
                sent: list[tuple[int, float]] = []
                for i in range(updates):
                    user = 100_000 + i % users
                    sent.append((user, time.monotonic()))
                    fake.send_text(user, QUESTIONS[i % len(QUESTIONS)], first_name=f"U{i % users}")
                conn.send(sent)
            elif command == "wait":
                (count,) = args
                fake.wait_for("sendMessage", count=count, timeout=600)
                conn.send([(int(c.params["chat_id"]), c.time) for c in fake.sent_messages()])
            else:
                return


async def run(
    updates: int, users: int, *, rate_limited: bool, echo: bool = False
) -> dict[str, object]:
    worker = None
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(target=_fake_server, args=(child,), daemon=True)
    server.start()
    token, base_url = parent.recv()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.from_env(
            {
                "TELEGRAM_BOT_TOKEN": token,
                "TELEGRAM_API_URL": base_url,
                "RIGHTSDESK_DB": str(Path(tmp) / "bench.db"),
                "RIGHTSDESK_SECRET": "benchmark-secret-0123456789-0123456789",
                "RIGHTSDESK_FLOOD_LIMIT": str(updates),  # measure the bot, not the flood gate
                "RIGHTSDESK_WORKER": os.environ.get("RIGHTSDESK_WORKER", ""),
            }
        )
        log = QueryLog(settings.db_path, secret=settings.secret or b"").open()
        if echo:
            # A bare python-telegram-bot echo bot, as its own examples write one: the
            # ceiling any bot on this library, machine and fake can reach.
            app = ApplicationBuilder().token(token).base_url(base_url).build()

            async def reply_in_kind(update: Update, context: object) -> None:
                assert update.effective_message is not None
                await update.effective_message.reply_text(update.effective_message.text or "")

            app.add_handler(MessageHandler(filters.TEXT, reply_in_kind))
        else:
            desk = Desk.load(settings, log)
            builder = ApplicationBuilder()
            app, _ = build_application(settings, desk, builder=builder, rate_limited=rate_limited)
        handling: list[float] = []
        process_update = app.process_update

        async def timed(update: object) -> None:
            # Time inside the bot for one update: matching, logging, rendering, sending.
            started = time.perf_counter()
            try:
                await process_update(update)
            finally:
                handling.append((time.perf_counter() - started) * 1000.0)

        async with app:
            if echo:
                app.process_update = timed  # type: ignore[method-assign]
                assert app.updater is not None
                await app.updater.start_polling(poll_interval=0, timeout=1)
                await app.start()
            else:
                # As serve() does: starts the shredder and, unless RIGHTSDESK_WORKER=0, the
                # analysis worker, which is then given time to load (a bot that has just
                # started analyses in-process meanwhile; this measures one that runs).
                assert app.post_init is not None
                await app.post_init(app)
                if desk.worker is not None:
                    await desk.worker.wait_ready(120)
                poller = Poller(
                    app.bot, timed, concurrency=settings.concurrent_updates, poll_timeout=1
                )
                polling = asyncio.create_task(poller.run())
            parent.send(("push", updates, users))
            pushed = await asyncio.to_thread(parent.recv)
            parent.send(("wait", updates))
            answered = await asyncio.to_thread(parent.recv)
            if echo:
                assert app.updater is not None
                await app.updater.stop()
                await app.stop()
            else:
                poller.stop()
                await polling
                worker = desk.worker.stats if desk.worker is not None else None
                assert app.post_stop is not None
                await app.post_stop(app)
        log.close()
        parent.send(("stop",))
        server.join(timeout=10)
    sent_at: dict[int, list[float]] = defaultdict(list)
    for user, at in pushed:
        sent_at[user].append(at)
    replies: dict[int, list[float]] = defaultdict(list)
    for user, at in answered:
        replies[user].append(at)
    started = min(at for _, at in pushed)
    elapsed = max(at for _, at in answered) - started
    latencies = [
        (reply - asked) * 1000.0
        for user, times in sent_at.items()
        for asked, reply in zip(times, sorted(replies[user]), strict=False)
    ]
    return {
        "mode": "bare PTB echo bot"
        if echo
        else "production (AIORateLimiter)"
        if rate_limited
        else "capacity (no limiter)",
        "updates": updates,
        "users": users,
        "replies": len(answered),
        "every_update_answered_once": all(len(replies[u]) == len(sent_at[u]) for u in sent_at),
        "errors": int(app.bot_data.get("errors", 0)),
        "log_write_failures": log.write_failures,
        "analysed_by_worker": f"{worker.answered} (in-process {worker.fell_back})"
        if worker
        else "no worker",
        "seconds": round(elapsed, 2),
        "updates_per_second": round(updates / elapsed, 1),
        "handling_p50_ms": round(statistics.median(handling), 1),
        "handling_p99_ms": round(_percentile(handling, 0.99), 1),
        "queued_p50_ms": round(statistics.median(latencies), 1),
        "queued_p99_ms": round(_percentile(latencies, 0.99), 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=1000)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--skip-production", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    echo = asyncio.run(run(args.updates, args.users, rate_limited=False, echo=True))
    results = [echo, asyncio.run(run(args.updates, args.users, rate_limited=False))]
    if not args.skip_production:
        results.append(asyncio.run(run(args.updates, args.users, rate_limited=True)))
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for r in results:
        print(
            f"{r['mode']:<28} {r['updates']} updates from {r['users']} users: "
            f"{r['updates_per_second']} updates/s; handling p50 {r['handling_p50_ms']} ms, "
            f"p99 {r['handling_p99_ms']} ms; in-queue latency p50 {r['queued_p50_ms']} ms, "
            f"p99 {r['queued_p99_ms']} ms; answered once each: {r['every_update_answered_once']}, "
            f"errors {r['errors']}, log write failures {r['log_write_failures']}; "
            f"analysed by the worker: {r['analysed_by_worker']}"
        )
    ratio = float(results[1]["updates_per_second"]) / float(echo["updates_per_second"])  # type: ignore[arg-type]
    print(f"capacity / echo bot: {ratio:.0%} (target: at least 60%)")
    print("(handling: inside the bot, per update. In-queue latency: from the update reaching")
    print(" the fake Bot API to the reply arriving there, with all updates sent at once.)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
