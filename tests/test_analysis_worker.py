"""The analysis worker: the Telegram bot's questions analysed in a second process.

What must hold (see rightsdesk.analysis_worker): the worker's analysis is the desk's own, for
every language; a dead, broken or replaced worker costs nobody a reply; and after a reload
no answer is built from the old content, not even one the old worker computed.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, SECRET
from fake_bot_api import FakeBotAPI
from rightsdesk import analysis
from rightsdesk.analysis_worker import AnalysisWorker
from rightsdesk.config import Settings
from rightsdesk.desk import Asker, Desk, question_text
from rightsdesk.query_log import QueryLog
from rightsdesk.telegram_bot import build_application
from rightsdesk.telegram_delivery import Poller

LOADED_S = 180  # the worker loads every language's content; a busy test machine is slow
LANGUAGES = ("en", "id", "ms", "vi", "tl", "th", "my")
NEW_PHRASING = "kapow zorbleflux raid question"
II_7 = "part-2-standards/ii-7-arbitrary-arrest-detention.yaml"


def _questions_per_language(per_language: int = 6) -> dict[str, list[str]]:
    """A spread from the language evaluation sets: slang, mixing, Zawgyi Burmese."""
    found: dict[str, list[str]] = {lang: [] for lang in LANGUAGES}
    for path in sorted((ROOT / "tests" / "eval").glob("lang*/*.yaml")):
        for item in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            lang = item.get("lang")
            if lang in found and len(found[lang]) < per_language:
                found[lang].append(item["q"])
    found["en"] += [
        "cops took my clients hp no warant",
        "my friend is not breathing after using, police outside, what do we do",
        "how do I cook rice",
        "where to buy ganja",
    ]
    return found


@pytest.fixture(scope="module")
def desk() -> Desk:
    return Desk.load(Settings.defaults(ROOT))


def _worker_desk(desk: Desk) -> Desk:
    """Another desk on the same loaded content (each test owns its worker)."""
    return Desk(
        desk.settings,
        desk.kb,
        desk.messages,
        matcher=desk.matcher,
        emergencies=desk.emergencies,
        referrals=desk.referrals,
    )


async def test_the_worker_analyses_exactly_as_the_desk_does_in_every_language(
    desk: Desk,
) -> None:
    desk = _worker_desk(desk)
    worker = desk.start_worker()
    try:
        assert await worker.wait_ready(LOADED_S)
        library = desk._library
        questions = _questions_per_language()
        assert all(len(qs) >= 5 for qs in questions.values()), questions
        for lang, texts in questions.items():
            for raw in texts:
                text = question_text(raw)
                answer = await worker.analyse(text)
                assert answer is not None, lang
                version, wire = answer
                assert version == library.analysis_version
                assert analysis.from_wire(wire, desk.kb) == library.analyse(text), (lang, raw)
        # And the replies built on them are the desk's own (each to someone asking for the
        # first time; buttons carry random tokens, which a desk without a log does not make).
        for n, raw in enumerate(questions["th"] + questions["my"] + questions["en"]):
            assert await desk.ask_async(raw, Asker(id=n)) == desk.ask(raw, Asker(id=-n - 1))
        assert worker.stats.fell_back == 0
    finally:
        await desk.stop_worker()


async def test_a_broken_worker_command_costs_no_reply(desk: Desk) -> None:
    for command in (
        [sys.executable, "-c", "import sys; sys.exit(3)"],  # dies at once
        [sys.executable, "-c", "print('hello'); import time; time.sleep(60)"],  # garbage
        ["/nonexistent/python"],  # does not start at all
    ):
        test_desk = _worker_desk(desk)
        worker = test_desk.start_worker(AnalysisWorker(command, timeout_s=0.5))
        try:
            assert not await worker.wait_ready(1.5)
            question = "cops took my clients hp no warant"
            reply = await test_desk.ask_async(question, Asker(id=1))
            assert reply == test_desk.ask(question, Asker(id=2))
            assert worker.stats.fell_back == 1 and worker.stats.answered == 0
            # Started again, with backoff: a few times in 1.5 s, not hundreds.
            assert worker.stats.restarts <= 3, command
        finally:
            await test_desk.stop_worker()


async def test_a_worker_that_stops_answering_is_not_waited_for_twice(desk: Desk) -> None:
    test_desk = _worker_desk(desk)
    worker = test_desk.start_worker(AnalysisWorker(timeout_s=0.5))
    try:
        assert await worker.wait_ready(LOADED_S)
        stuck = worker.stats.pid
        assert stuck is not None
        os.kill(stuck, signal.SIGSTOP)  # alive, and silent
        question = "cops took my clients hp no warant"
        first = await test_desk.ask_async(question, Asker(id=1))
        assert first == test_desk.ask(question, Asker(id=2))
        assert worker.stats.slow == 1
        # The stuck worker was replaced: the next question does not wait for it.
        loop = asyncio.get_running_loop()
        started = loop.time()
        await test_desk.ask_async(question, Asker(id=1))
        assert loop.time() - started < 0.4 and worker.stats.slow == 1
        assert await worker.wait_ready(LOADED_S) and worker.stats.pid != stuck
    finally:
        await test_desk.stop_worker()


async def test_killing_the_worker_mid_burst_loses_no_reply_and_it_comes_back(
    fake_bot_api: FakeBotAPI, tmp_path: Path
) -> None:
    settings = Settings.from_env(
        {
            "TELEGRAM_BOT_TOKEN": fake_bot_api.token,
            "TELEGRAM_API_URL": fake_bot_api.base_url,
            "RIGHTSDESK_DB": str(tmp_path / "queries.db"),
            "RIGHTSDESK_SECRET": SECRET.decode(),
            "RIGHTSDESK_FLOOD_LIMIT": "1000",
        },
        root=ROOT,
    )
    assert settings.analysis_worker  # the Telegram bot's default
    log = QueryLog(settings.db_path, secret=SECRET).open()
    desk = Desk.load(settings, log)
    app, _ = build_application(settings, desk, rate_limited=False)
    questions = [q for qs in _questions_per_language(3).values() for q in qs]
    async with app:
        assert app.post_init is not None and app.post_stop is not None
        await app.post_init(app)  # as serve() does: starts the worker
        worker = desk.worker
        assert worker is not None and await worker.wait_ready(LOADED_S)
        first_pid = worker.stats.pid
        assert first_pid is not None
        poller = Poller(app.bot, app.process_update, poll_timeout=1, grace_s=3)
        polling = asyncio.create_task(poller.run())
        try:
            burst = 60
            for i in range(burst):
                fake_bot_api.send_text(1000 + i, questions[i % len(questions)])
            await fake_bot_api.async_wait_for("sendMessage", count=10, timeout=60)
            os.kill(first_pid, signal.SIGKILL)
            sent = await fake_bot_api.async_wait_for("sendMessage", count=burst, timeout=120)
            assert sorted(c.params["chat_id"] for c in sent) == [1000 + i for i in range(burst)]
            assert worker.stats.answered >= 10  # the worker did answer before it was killed
            assert await worker.wait_ready(LOADED_S) and worker.stats.pid != first_pid
            before = worker.stats.answered
            fake_bot_api.send_text(2000, "cops took my clients hp no warant")
            await fake_bot_api.async_wait_for("sendMessage", count=burst + 1, timeout=30)
            assert worker.stats.answered == before + 1  # the new worker answers
        finally:
            poller.stop()
            await polling
            await app.post_stop(app)
    assert desk.worker is None  # stopped with the bot
    log.close()
    assert log.write_failures == 0


async def test_a_reload_reaches_the_worker_and_no_answer_mixes_versions(
    tmp_path: Path,
) -> None:
    shutil.copytree(ROOT / "knowledge_base", tmp_path / "knowledge_base")
    shutil.copytree(ROOT / "bot", tmp_path / "bot")
    desk = Desk.load(Settings.from_env({}, root=tmp_path))
    worker = desk.start_worker()
    try:
        assert await worker.wait_ready(LOADED_S)
        old = desk._library.analysis_version
        before = await desk.ask_async(NEW_PHRASING, Asker(id=1))
        assert worker.stats.fell_back == 0 and worker.stats.answered == 1
        path = tmp_path / "knowledge_base" / II_7
        text = path.read_text(encoding="utf-8")
        path.write_text(
            text.replace("questions:\n  en:\n", f"questions:\n  en:\n    - {NEW_PHRASING}\n", 1),
            encoding="utf-8",
        )
        await asyncio.to_thread(desk.reload)
        new = desk._library.analysis_version
        assert new != old
        # At once, whether the old worker is still running or the new one still loading:
        # the reply is the new content's, because no answer of the old version is used.
        result, expected = desk.answer(NEW_PHRASING, Asker(id=2))
        assert result.best is not None and result.best.entry.ref == "II.7"
        assert expected != before
        for n in range(3, 8):
            assert await desk.ask_async(NEW_PHRASING, Asker(id=n)) == expected
        assert await worker.wait_ready(LOADED_S) and worker.stats.version == new
        answered = worker.stats.answered
        answer = await worker.analyse(NEW_PHRASING)
        assert answer is not None and answer[0] == new
        parsed = analysis.from_wire(answer[1], desk.kb).result
        assert parsed.best is not None and parsed.best.entry.ref == "II.7"
        assert worker.stats.answered == answered + 1
    finally:
        await desk.stop_worker()


async def test_an_answer_of_another_version_is_never_used(desk: Desk) -> None:
    """Whatever the worker says, a version other than the desk's means: analyse here."""

    class Stale(AnalysisWorker):
        async def analyse(self, text: str) -> tuple[str, dict[str, object]] | None:
            # A plausible answer that is wrong for this question, from another version.
            wrong = analysis.to_wire(desk._library.analyse("where to buy ganja"))
            return "kb-old+em-old", wrong

    test_desk = _worker_desk(desk)
    stale = Stale()
    test_desk._worker = stale  # as start_worker() would, without a process
    question = "cops took my clients hp no warant"
    assert await test_desk.ask_async(question, Asker(id=1)) == test_desk.ask(question, Asker(id=2))
