"""Random bytes for the keys and tokens the bot hands out, read from the system in batches.

Every answer needs two unguessable values (its log key and its button token). Reading the
system's randomness is a system call, and on sandboxed hosts a slow one: one call per value
cost about a tenth of a millisecond each. The bytes come from the same source as
:mod:`secrets`; they only wait in memory for a few answers, and a forked child starts with
an empty batch so that it never repeats its parent's values.
"""

from __future__ import annotations

import base64
import os
import threading

_BATCH = 4096


class _Batch:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._left = b""

    def take(self, count: int) -> bytes:
        with self._lock:
            if len(self._left) < count:
                self._left = os.urandom(max(_BATCH, count))
            taken, self._left = self._left[:count], self._left[count:]
            return taken

    def forget(self) -> None:
        self._left = b""
        self._lock = threading.Lock()


_batch = _Batch()
os.register_at_fork(after_in_child=_batch.forget)


def token_bytes(count: int) -> bytes:
    """``count`` random bytes, as :func:`secrets.token_bytes` gives them."""
    return _batch.take(count)


def token_urlsafe(count: int) -> str:
    """``count`` random bytes as URL-safe text, as :func:`secrets.token_urlsafe` gives them."""
    return base64.urlsafe_b64encode(token_bytes(count)).rstrip(b"=").decode("ascii")


def text(alphabet: str, length: int) -> str:
    """``length`` characters drawn uniformly from ``alphabet`` (at most 256 of them)."""
    # Bytes at or above the largest multiple of the alphabet's size are thrown away, so that
    # the remainder favours no character.
    limit = 256 - 256 % len(alphabet)
    found: list[int] = []
    while len(found) < length:
        found.extend(b for b in token_bytes(2 * length) if b < limit)
    return "".join(alphabet[n % len(alphabet)] for n in found[:length])
