"""`rightsdesk run` against a misbehaving Bot API (or a proxy in front of it): every question
is still answered, and no log line holds the token, a user id, a name or the text.

One bot process serves the fault scenarios one after another (starting one takes seconds);
the revoked-token tests start their own. User ids are >= 100000 so they are easy to spot.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fake_bot_api import FakeBotAPI
from telegram_harness import start_rightsdesk_run

os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")

QUESTION = "can police detain someone just for using drugs"
ANSWER_MARK = "Guidelines II.7"
FIRST_NAME = "Zephyrine"
USERNAME = "zephyrine_on_telegram"
REVOKED_AFTER_S = 4
_users = itertools.count(100_001)


@dataclass
class Running:
    fake: FakeBotAPI
    process: subprocess.Popen[bytes]
    output: Path

    def ask(self, timeout: float = 30.0) -> float:
        """A new person asks the question; returns how long the answer took."""
        user = next(_users)
        asked = time.monotonic()
        self.fake.send_text(user, QUESTION, first_name=FIRST_NAME, username=USERNAME)
        self.fake.wait_for(
            "sendMessage",
            timeout=timeout,
            predicate=lambda c: (
                c.ok and c.params["chat_id"] == user and ANSWER_MARK in c.params["text"]
            ),
        )
        return time.monotonic() - asked

    def log(self) -> str:
        return self.output.read_text(errors="replace")


def assert_clean(log: str, fake: FakeBotAPI) -> None:
    """Nothing in the log identifies the bot or anyone who wrote to it."""
    assert fake.token not in log
    assert fake.token.split(":")[1] not in log
    assert not re.search(r"1000\d\d", log), "a user id reached the log"
    assert FIRST_NAME not in log and USERNAME not in log
    assert QUESTION not in log and "odd update text" not in log


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    tmp_path = tmp_path_factory.mktemp("faults")
    with FakeBotAPI() as fake:
        output = tmp_path / "run.log"
        process = start_rightsdesk_run(
            fake, tmp_path, output, RIGHTSDESK_TOKEN_REVOKED_AFTER_S=str(REVOKED_AFTER_S)
        )
        bot = Running(fake, process, output)
        bot.ask(timeout=60)  # started and answering
        yield bot
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        assert process.returncode == 0, bot.log()
        assert_clean(bot.log(), fake)


def test_a_burst_of_404s_on_get_updates_is_outlasted(running: Running) -> None:
    running.fake.fail_next("getUpdates", status=404, times=3)
    # Wait for the whole burst before asking: a poll already in flight when the burst was
    # set up could otherwise carry the question, and the answer would prove nothing.
    refused = running.fake.wait_for(
        "getUpdates", 3, timeout=60, predicate=lambda c: c.status == 404
    )
    assert len(refused) == 3
    running.ask()
    assert running.process.poll() is None
    assert_clean(running.log(), running.fake)


def test_404s_on_send_message_from_a_proxy_are_outlasted(running: Running) -> None:
    running.fake.fail_next("sendMessage", status=404, times=2)
    running.ask()
    assert len([c for c in running.fake.calls("sendMessage") if c.status == 404]) == 2
    assert_clean(running.log(), running.fake)


def test_502s_on_get_updates_and_send_message_are_outlasted(running: Running) -> None:
    running.fake.fail_next("getUpdates", status=502, times=3)
    running.fake.fail_next("sendMessage", status=502, times=3)
    running.ask()
    assert len([c for c in running.fake.calls("sendMessage") if c.status == 502]) == 3
    assert_clean(running.log(), running.fake)


def test_a_send_that_hangs_past_the_client_timeout_is_sent_again(running: Running) -> None:
    before = len(running.fake.calls("sendMessage"))
    running.fake.hang_next("sendMessage", 30)
    took = running.ask(timeout=40)
    hung = running.fake.calls("sendMessage")[before]
    assert hung.status is None  # never answered: the client gave up on it and sent again
    assert took < 25  # it did not wait for the hang to end
    assert_clean(running.log(), running.fake)


def test_html_error_pages_echoing_the_token_are_survived_and_never_logged(
    running: Running,
) -> None:
    running.fake.fail_next_with_page("getUpdates", status=502, times=2)
    running.fake.fail_next_with_page("sendMessage", status=200, times=1)
    running.fake.fail_next_with_page("sendMessage", status=502, times=1)
    running.ask()
    pages = [c for c in running.fake.calls() if c.failed and "description" not in c.response]  # type: ignore[operator]
    assert len(pages) == 4
    assert_clean(running.log(), running.fake)


@pytest.mark.parametrize(
    "odd",
    [
        {"chat": "not a chat"},
        {"date": "yesterday"},
    ],
    ids=["chat-is-a-string", "date-is-a-string"],
)
def test_an_update_the_library_cannot_read_is_dropped_and_not_fetched_again(
    running: Running, odd: dict[str, object]
) -> None:
    user = next(_users)
    person = {"id": user, "is_bot": False, "first_name": FIRST_NAME, "username": USERNAME}
    message = {
        "message_id": 1,
        "date": int(time.time()),
        "chat": {"id": user, "type": "private"},
        "from": person,
        "text": "odd update text",
        **odd,
    }
    odd_id = running.fake.push_update({"message": message})
    running.ask()
    # The offset moved past it, so Telegram forgets it.
    deadline = time.monotonic() + 10
    while odd_id in running.fake.pending_update_ids():
        assert time.monotonic() < deadline, "the unreadable update was never confirmed"
        time.sleep(0.05)
    offsets = [c.params.get("offset") or 0 for c in running.fake.calls("getUpdates")]
    assert max(offsets) > odd_id
    handed_out = [
        c
        for c in running.fake.calls("getUpdates")
        if c.ok and any(u["update_id"] == odd_id for u in c.response["result"])  # type: ignore[index]
    ]
    first = min(i for i, c in enumerate(running.fake.calls("getUpdates")) if c in handed_out)
    later = running.fake.calls("getUpdates")[first:]
    assert not [c for c in later if (c.params.get("offset") or 0) > odd_id and c in handed_out]
    assert not running.fake.sent_messages(user)  # nobody was answered for it
    log = running.log()
    assert re.search(rf"update {odd_id} could not be read \(\w+\); dropped", log), log
    assert_clean(log, running.fake)


def test_a_401_burst_shorter_than_the_limit_does_not_end_the_bot(running: Running) -> None:
    running.fake.reject_token()
    # The bot notices at its next poll (a long poll may be open): the burst counts from there.
    running.fake.wait_for("getMe", timeout=20, predicate=lambda c: c.status == 401)
    time.sleep(REVOKED_AFTER_S / 2)
    running.fake.accept_token()
    running.ask()
    assert running.process.poll() is None
    assert [c for c in running.fake.calls("getMe") if c.status == 401]
    assert_clean(running.log(), running.fake)


def test_a_revoked_token_ends_the_bot_with_code_3_and_one_sentence(
    fake_bot_api: FakeBotAPI, tmp_path: Path
) -> None:
    output = tmp_path / "run.log"
    process = start_rightsdesk_run(
        fake_bot_api, tmp_path, output, RIGHTSDESK_TOKEN_REVOKED_AFTER_S=str(REVOKED_AFTER_S)
    )
    try:
        fake_bot_api.wait_for("getUpdates", timeout=60)
        fake_bot_api.reject_token()
        # The bot learns of it at its next poll (the one open may last its 10 s timeout).
        [first, *_] = fake_bot_api.wait_for(
            "getUpdates", timeout=20, predicate=lambda c: c.status == 401
        )
        code = process.wait(timeout=REVOKED_AFTER_S + 30)
        took = time.monotonic() - first.time
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    log = output.read_text()
    print(f"\nrevoked token: exit {code} after {took:.1f} s (limit {REVOKED_AFTER_S} s)")
    assert code == 3, log
    assert REVOKED_AFTER_S <= took <= REVOKED_AFTER_S + 3, log
    said = [line for line in log.splitlines() if line.startswith("rightsdesk:")]
    assert len(said) == 1 and "revoked the bot token" in said[0]
    assert "Traceback" not in log
    assert_clean(log, fake_bot_api)
