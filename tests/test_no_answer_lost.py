"""No answer is lost when `rightsdesk run` is killed mid-stream (SIGKILL: no clean shutdown).

500 people each ask one question; when about half have been answered the process is killed
and started again. Everyone must get their answer: updates are confirmed to Telegram (by
getUpdates offset, or by the webhook's 200) only once handled, so whatever the dead process
had fetched but not answered is delivered again. Some people may be answered twice (handled,
not yet confirmed); that is counted and printed (run with ``-s`` to see the figures).
"""

from __future__ import annotations

import collections
import itertools
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from conftest import free_port
from fake_bot_api import FakeBotAPI
from telegram_harness import start_rightsdesk_run

os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")

QUESTION = "can police detain someone just for using drugs"
ANSWER_MARK = "Guidelines II.7"
PEOPLE = 500
USERS = range(100_000, 100_000 + PEOPLE)


def _answers(fake: FakeBotAPI) -> collections.Counter[int]:
    """How many answers to the question each person got."""
    return collections.Counter(
        c.params["chat_id"] for c in fake.sent_messages() if ANSWER_MARK in c.params["text"]
    )


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll until ``condition`` holds; returns when it did (monotonic)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout}s for {what}")
        time.sleep(0.05)
    return time.monotonic()


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _report(mode: str, answers: collections.Counter[int], **figures: float) -> tuple[int, int]:
    lost = sum(1 for u in USERS if answers[u] == 0)
    twice = sum(1 for u in USERS if answers[u] > 1)
    shown = ", ".join(
        f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}" for k, v in figures.items()
    )
    print(f"\n[{mode}] {PEOPLE} people: lost {lost}, answered twice {twice}; {shown}")
    return lost, twice


def test_a_sigkill_while_polling_loses_no_answer(fake_bot_api: FakeBotAPI, tmp_path: Path) -> None:
    output = tmp_path / "run.log"
    process = start_rightsdesk_run(fake_bot_api, tmp_path, output)
    try:
        for user in USERS:
            fake_bot_api.send_text(user, QUESTION, first_name=f"Name{user}")
        _wait(lambda: len(_answers(fake_bot_api)) >= PEOPLE // 2, 60, "half the answers")
        process.kill()  # SIGKILL: no handler finishes, nothing is confirmed on the way out
        process.wait()
        before = len(_answers(fake_bot_api))
        restarted = time.monotonic()
        process = start_rightsdesk_run(fake_bot_api, tmp_path, output)
        first = _wait(lambda: len(_answers(fake_bot_api)) > before, 30, "a first answer")
        done = _wait(lambda: len(_answers(fake_bot_api)) == PEOPLE, 60, "everyone answered")
        answers = _answers(fake_bot_api)
        lost, twice = _report(
            "polling",
            answers,
            answered_before_kill=before,
            first_answer_after_restart_s=first - restarted,
            all_answered_after_restart_s=done - restarted,
        )
        assert lost == 0
        assert set(answers) == set(USERS)
        # A duplicate is a question handled but not yet confirmed when the process died; the
        # poller confirms every poll, so these are at most a few batches' worth.
        assert twice <= 100
        # Everything answered is eventually confirmed: Telegram holds nothing back.
        _wait(lambda: fake_bot_api.pending_update_ids() == [], 15, "every update confirmed")
    finally:
        _stop(process)
    assert process.returncode == 0, output.read_text()


class _Telegram:
    """Plays Telegram in webhook mode: several connections POST updates to the bot; an update
    that does not get a 200 (refused, reset, timed out, 5xx) goes back in the queue and is
    sent again, as Telegram does, until the bot answers it 200."""

    def __init__(self, url: str, secret: str, updates: list[dict[str, Any]]) -> None:
        self.url = url
        self.secret = secret
        self._queue = collections.deque(updates)
        self._lock = threading.Lock()
        self.delivered: set[int] = set()
        self.redeliveries = 0
        self._total = len(updates)
        self._threads = [threading.Thread(target=self._connection, daemon=True) for _ in range(40)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def done(self) -> bool:
        with self._lock:
            return len(self.delivered) == self._total

    def join(self) -> None:
        for thread in self._threads:
            thread.join(timeout=10)

    def _connection(self) -> None:
        headers = {"X-Telegram-Bot-Api-Secret-Token": self.secret}
        with httpx.Client(timeout=30) as client:
            while not self.done():
                with self._lock:
                    update = self._queue.popleft() if self._queue else None
                if update is None:
                    time.sleep(0.05)
                    continue
                try:
                    status = client.post(self.url, json=update, headers=headers).status_code
                except httpx.HTTPError:
                    status = 0
                with self._lock:
                    if status == 200:
                        self.delivered.add(update["update_id"])
                        continue
                    self.redeliveries += 1
                    self._queue.append(update)
                time.sleep(0.2)  # Telegram waits before it tries again


def _update(update_id: int, user: int) -> dict[str, Any]:
    person = {"id": user, "is_bot": False, "first_name": f"Name{user}", "language_code": "en"}
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": int(time.time()),
            "chat": {"id": user, "type": "private", "first_name": person["first_name"]},
            "from": person,
            "text": QUESTION,
        },
    }


def test_a_sigkill_in_webhook_mode_loses_no_answer(
    fake_bot_api: FakeBotAPI, tmp_path: Path
) -> None:
    port = free_port()
    secret = "webhook-secret-for-the-test"
    args = ("--webhook", "--port", str(port), "--path", "hook", "--secret-token", secret)
    args += ("--url", "https://bot.example.org/hook")
    output = tmp_path / "run.log"
    ids = itertools.count(1)
    telegram = _Telegram(
        f"http://127.0.0.1:{port}/hook", secret, [_update(next(ids), u) for u in USERS]
    )
    process = start_rightsdesk_run(fake_bot_api, tmp_path, output, *args)
    try:
        fake_bot_api.wait_for("setWebhook", timeout=30)
        telegram.start()
        _wait(lambda: len(_answers(fake_bot_api)) >= PEOPLE // 2, 60, "half the answers")
        process.kill()
        process.wait()
        before = len(_answers(fake_bot_api))
        restarted = time.monotonic()
        process = start_rightsdesk_run(fake_bot_api, tmp_path, output, *args)
        first = _wait(lambda: len(_answers(fake_bot_api)) > before, 30, "a first answer")
        done = _wait(lambda: len(_answers(fake_bot_api)) == PEOPLE, 60, "everyone answered")
        _wait(telegram.done, 15, "a 200 for every update")
        telegram.join()
        answers = _answers(fake_bot_api)
        lost, twice = _report(
            "webhook",
            answers,
            answered_before_kill=before,
            redelivered=telegram.redeliveries,
            first_answer_after_restart_s=first - restarted,
            all_answered_after_restart_s=done - restarted,
        )
        assert lost == 0
        assert set(answers) == set(USERS)
        assert telegram.redeliveries > 0  # the kill did cut deliveries short
        assert twice <= 100
    finally:
        _stop(process)
    assert process.returncode == 0, output.read_text()
