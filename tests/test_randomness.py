"""Keys and tokens come from batched system randomness: unpredictable, never repeated, and
never shared with a forked child."""

from __future__ import annotations

import os

from rightsdesk import randomness


def test_values_have_the_asked_length_and_do_not_repeat() -> None:
    drawn = [randomness.token_bytes(6) for _ in range(5_000)]  # past several batches
    assert {len(b) for b in drawn} == {6}
    assert len(set(drawn)) == len(drawn)


def test_a_request_larger_than_a_batch_is_served_whole() -> None:
    assert len(randomness.token_bytes(10_000)) == 10_000


def test_url_safe_tokens_are_8_characters_for_6_bytes() -> None:
    token = randomness.token_urlsafe(6)
    assert len(token) == 8
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_a_forked_child_does_not_repeat_its_parents_next_values() -> None:
    randomness.token_bytes(1)  # the parent now holds a batch
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next value and leave at once
        os.write(write, randomness.token_bytes(16))
        os._exit(0)
    os.close(write)
    child = os.read(read, 16)
    os.close(read)
    os.waitpid(pid, 0)
    assert len(child) == 16
    assert child != randomness.token_bytes(16)


def test_text_uses_only_the_alphabet_and_every_character_of_it() -> None:
    drawn = randomness.text("abc", 3_000)
    assert len(drawn) == 3_000 and set(drawn) == {"a", "b", "c"}
    assert all(800 < drawn.count(c) < 1_200 for c in "abc")  # each about a third
