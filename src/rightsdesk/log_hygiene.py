"""What may reach the journal: never the token, never a user's id, name or text.

Our own log lines are written not to hold user data. Libraries are another matter:
python-telegram-bot has logged whole updates (ids, usernames, text) at CRITICAL, httpx logs
request URLs that contain the token, and an upstream error page can echo the URL back into an
exception message. :class:`Scrubber` sits on every root handler and rewrites each record before
it is written:

- the token (and any other secret it is given) is replaced wherever it appears, tracebacks
  included, before anything else is rewritten (a rewritten token would no longer match);
- a library's record keeps its format string, not its arguments, and any number of five or
  more digits (user and chat ids, phone numbers), quoted text and JSON-like braces in what is
  left are replaced;
- an exception keeps its type and the code locations of its traceback; its message is
  scrubbed the same way (it can quote a request or a reply).
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Iterable

_OWN = "rightsdesk"
_LONG_NUMBER = re.compile(r"-?\d{5,}")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|«[^»]*»|“[^”]*”")
_BRACED = re.compile(r"\{.*\}|\[.*\]", re.DOTALL)
_MAX = 500


class Scrubber(logging.Filter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        own = record.name == _OWN or record.name.startswith(_OWN + ".")
        if own:
            try:
                message = self._hide_secrets(record.getMessage())
            except Exception:
                message = self._hide_secrets(str(record.msg))
        else:
            message = _scrub(self._hide_secrets(str(record.msg)))
            if record.args:
                message += " (details withheld)"
        if record.exc_info and record.exc_info[1] is not None:
            message += "\n" + self._exception(record.exc_info[1])
        record.msg, record.args = self._hide_secrets(message)[: _MAX * 4], ()
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True

    def _exception(self, error: BaseException) -> str:
        frames = traceback.extract_tb(error.__traceback__)
        where = " <- ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} {f.name}" for f in frames)
        detail = _scrub(self._hide_secrets(str(error)))[:_MAX]
        return f"  {type(error).__name__}: {detail}" + (f"\n  at {where}" if where else "")

    def _hide_secrets(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[token]")
        return text


def _scrub(text: str) -> str:
    text = _BRACED.sub("{...}", text)
    text = _QUOTED.sub("'...'", text)
    return _LONG_NUMBER.sub("[number]", text)[:_MAX]


def install(secrets: Iterable[str]) -> Scrubber:
    """Put a :class:`Scrubber` on every root handler (call after ``logging.basicConfig``)."""
    scrubber = Scrubber(secrets)
    for handler in logging.getLogger().handlers:
        handler.addFilter(scrubber)
    return scrubber
