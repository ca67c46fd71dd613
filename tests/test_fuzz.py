"""Odd input never breaks a handler, the log writer or the poller.

A seeded generator makes updates no well-behaved client sends: wrong types in every field,
huge texts, lone surrogates, invisible and direction characters, every script the bot
serves, bad command entities, forged button data, unknown update kinds. They go through the
fake Bot API to a real ``rightsdesk run``; then a normal question must still be answered,
and the log must hold nothing that identifies the senders.
"""

from __future__ import annotations

import random
import signal
import string
import time
from pathlib import Path
from typing import Any

from conftest import make_desk
from fake_bot_api import FakeBotAPI
from rightsdesk.desk import Asker
from telegram_harness import start_rightsdesk_run

ROOT = Path(__file__).resolve().parents[1]
SEED = 20261202
UPDATES = 1_200
NORMAL_USER = 77  # below the generated ids, so it cannot be one of them
QUESTION = "can police detain someone just for using drugs"

# A few letters of each script the bot answers in, plus scripts it does not.
SCRIPTS = (
    "abcdefghijklmnopqrstuvwxyz",
    "àéìõüđăơư",  # Vietnamese
    "กขคงจฉชซญดตถทนบปผพฟมยรลวศสหอะาำิีึืุูเแโใไ่้๊๋",  # Thai
    "ကခဂဃငစဆဇဈညတထဒဓနပဖဗဘမယရလဝသဟဠအါာိီုူေဲံ့း္်ျြွှ",  # Burmese
    "абвгдеёжзийклмн",
    "你好世界法律警察",
    "مرحباقانونشرطة",
    "אבגדהוזחטי",
    "😀👮💊⚖️🏳️‍🌈",
)
INVISIBLE = (
    "\u200b\u200c\u200d\u200e\u200f\u2060\ufeff"
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
SURROGATES = ("\ud800", "\udfff", "\udc00", "\ud83d")
FORGED_DATA = (
    "q:²",
    "x:²",
    "d:²",
    "q:٣",
    "q:-1",
    "q:99999999999999999999",
    "",
    "c::",
    "f:y:",
    "e:" + "x" * 300,
    "l:\ud800",
    "k:" + "\u202e" * 10,
    "g:sector-",
    "p:VI",
    "m:../../etc/passwd",
    "\x00\x01",
)
COMMANDS = ("/start", "/stats", "/gaps", "/help", "/lang", "/wipe", "/discreet", "/nope", "/")


def _text(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.05:
        return rng.choice(string.ascii_letters) * rng.choice((5_000, 100_000))
    parts = []
    for _ in range(rng.randint(1, 12)):
        roll = rng.random()
        if roll < 0.5:
            parts.append("".join(rng.choices(rng.choice(SCRIPTS), k=rng.randint(1, 10))))
        elif roll < 0.65:
            parts.append(rng.choice(INVISIBLE) * rng.randint(1, 3))
        elif roll < 0.75:
            parts.append(rng.choice(SURROGATES))
        elif roll < 0.85:
            parts.append(rng.choice(COMMANDS))
        else:
            parts.append(rng.choice(QUESTION.split()))
    return " ".join(parts)


def _odd(rng: random.Random, good: Any) -> Any:
    """``good`` most of the time, otherwise something of the wrong type or range."""
    if rng.random() < 0.7:
        return good
    return rng.choice(
        (
            None,
            -abs(hash(str(good))) % 10**12,
            2**63 + 5,
            10**40,
            "12345678",
            "not a number",
            [good],
            {"x": good},
            True,
            3.5,
            "",
        )
    )


def _user(rng: random.Random, user_id: int, names: dict[str, str]) -> Any:
    first = f"Firstname{user_id}"
    username = f"handle{user_id}"
    names[first] = names[username] = ""
    user = {
        "id": _odd(rng, user_id),
        "is_bot": _odd(rng, False),
        "first_name": _odd(rng, first),
        "username": username,
        "language_code": _odd(rng, rng.choice(("en", "th", "my", "vi", "xx", ""))),
    }
    if rng.random() < 0.05:
        return rng.choice(("a string", 5, [user]))
    return user


def _entities(rng: random.Random, text: Any) -> Any:
    length = len(text) if isinstance(text, str) else 5
    offset = rng.choice((0, 0, 0, -1, length, length + 10, 2**40))
    size = rng.choice((1, 5, length, 0, -3, 10**9))
    entity = {"type": rng.choice(("bot_command", "bot_command", "mention", "url", "nonsense"))}
    entity |= {"offset": offset, "length": size}
    return _odd(rng, [entity])


def make_update(rng: random.Random, user_id: int, names: dict[str, str]) -> dict[str, Any]:
    text = _text(rng)
    names[text] = ""
    user = _user(rng, user_id, names)
    chat_type = rng.choice(("private", "private", "private", "group", "supergroup", "channel"))
    chat = {"id": _odd(rng, user_id if chat_type == "private" else -user_id), "type": chat_type}
    message: dict[str, Any] = {
        "message_id": _odd(rng, rng.randint(1, 10**6)),
        "date": _odd(rng, int(time.time())),
        "chat": chat,
        "from": user,
        "text": _odd(rng, text),
    }
    if rng.random() < 0.4:
        message["entities"] = _entities(rng, message["text"])
    if rng.random() < 0.1:
        del message["chat"]
    if rng.random() < 0.05:
        del message["from"]
    kind = rng.random()
    if kind < 0.55:
        return {"message": message}
    if kind < 0.65:
        return {"edited_message": {**message, "edit_date": int(time.time())}}
    if kind < 0.72:
        return {"channel_post": {k: v for k, v in message.items() if k != "from"}}
    if kind < 0.92:
        data = rng.choice(FORGED_DATA) if rng.random() < 0.7 else _text(rng)[:200]
        return {
            "callback_query": {
                "id": _odd(rng, str(rng.randint(1, 10**9))),
                "from": user,
                "chat_instance": "1",
                "message": _odd(rng, message),
                "data": _odd(rng, data),
            }
        }
    return {rng.choice(("poll_answer_x", "unknown_kind", "business_message2")): message}


def test_a_thousand_odd_updates_leave_the_bot_answering_and_its_log_clean(
    fake_bot_api: FakeBotAPI, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    secrets_: dict[str, str] = {}
    ids = [100_000 + i * 7919 for i in range(400)]  # many senders: the flood gate is per person
    log = tmp_path / "bot.log"
    process = start_rightsdesk_run(fake_bot_api, tmp_path, log)
    try:
        fake_bot_api.wait_for("getUpdates", timeout=30)  # started and polling
        started = time.monotonic()
        for _ in range(UPDATES):
            fake_bot_api.push_update(make_update(rng, rng.choice(ids), secrets_))
        fake_bot_api.send_text(NORMAL_USER, QUESTION)
        # Telegram's ~30 messages a second (the production rate limiter) paces every reply to
        # the odd updates sent before it: the normal answer waits its turn, it is not lost.
        [answer] = fake_bot_api.wait_for(
            "sendMessage",
            timeout=150,
            predicate=lambda c: c.params.get("chat_id") == NORMAL_USER,
        )
        elapsed = time.monotonic() - started
        assert "II.7" in answer.params["text"]
        assert process.poll() is None, "the bot died"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    err = log.read_text(encoding="utf-8", errors="replace")
    assert process.returncode == 0, err[-2000:]
    assert fake_bot_api.token not in err
    for user_id in ids:
        assert str(user_id) not in err, f"user id {user_id} in the log"
    for secret in secrets_:
        if len(secret) >= 6 and secret.strip():
            assert secret not in err, f"{secret[:20]!r} in the log"
    replies = len(fake_bot_api.sent_messages())
    print(f"\n{UPDATES} odd updates, {replies} replies, the normal answer after {elapsed:.1f} s")


def test_five_thousand_odd_calls_to_the_desk_never_raise() -> None:
    rng = random.Random(SEED)
    desk = make_desk()
    values: list[Any] = [None, 5, -1, 2**70, [], {}, b"q:1", 3.5, True]
    for i in range(5_000):
        asker = Asker(id=100_000 + rng.randint(0, 50), names=("Firstname",))
        roll = rng.random()
        arg: Any
        if roll < 0.4:
            arg = _text(rng) if rng.random() < 0.8 else rng.choice(values)
            reply = desk.ask(arg, asker)
        elif roll < 0.8:
            arg = rng.choice(FORGED_DATA) if rng.random() < 0.5 else _text(rng)[:80]
            arg = arg if rng.random() < 0.9 else rng.choice(values)
            reply = desk.press(arg, asker)
        else:
            arg = rng.choice(("stats", "gaps", "start", "", "²", "\ud800", _text(rng)[:40]))
            arg = arg if rng.random() < 0.9 else rng.choice(values)
            reply = desk.command(arg, asker)
        texts = [b.text for b in reply.blocks] + [i for b in reply.blocks for i in b.items]
        assert reply.blocks and any(t.strip() for t in texts), (i, arg)
        for text in texts:
            text.encode("utf-8")  # no lone surrogate: Telegram would refuse the message
