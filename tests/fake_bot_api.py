"""A fake Telegram Bot API server for end-to-end tests that never touch the internet.

The real python-telegram-bot client talks HTTP to this server exactly as it would talk to
``api.telegram.org``: point it here with ``ApplicationBuilder().base_url(fake.base_url)`` and PTB
calls ``<base_url><TOKEN>/<method>``. Tests inject updates (a user's message, a button press, ...)
and then inspect what the bot asked Telegram to do (:class:`Call`). Because the client side is the
real library, the tests also catch mistakes that a mocked ``Bot`` would hide: HTML Telegram would
reject, over-long or empty messages, ``callback_data`` over 64 bytes, answers to callback queries
that do not exist (or were answered already).

It implements what Rights Desk uses: ``getMe``, ``getUpdates``, ``sendMessage``,
``answerCallbackQuery``, ``setMyCommands``, ``setWebhook`` and ``deleteWebhook``. Any other method
answers 400, not 404: PTB reports 404 as InvalidToken, which misleads.

Design notes (why it looks like this):

* stdlib only (``http.server.ThreadingHTTPServer`` + ``threading``), so it runs anywhere the
  tests run, including in its own process (``tests/bench_telegram.py``).
* ``getUpdates`` is a real long poll held open for its ``timeout``; answering at once would make
  the client spin. One :class:`threading.Condition` guards all state, so update injection from the
  test thread wakes a waiting poll immediately. A newer poll ends an older one with 409, as on
  Telegram; a poll whose client went away (PTB cancels it on stop) gets no answer.
* PTB form-encodes requests: strings raw, everything else JSON-encoded. Fields are decoded per
  name (see :func:`decode_params`) so a ``text`` that happens to read ``42`` stays a string.
* Answers are shaped like the Bot API (``{"ok": true, "result": ...}``; errors with
  ``error_code``/``description``/``parameters``) because PTB maps the HTTP status and
  ``parameters.retry_after`` to its exceptions (400 BadRequest, 401 InvalidToken, 429 RetryAfter).
* Wall-clock dates (``date``) use ``time.time()``; :attr:`Call.time` uses ``time.monotonic()`` so
  tests can measure gaps (for example a retry after a 429) without clock jumps.

Typical use (``fake_bot_api`` is the fixture in ``tests/conftest.py``)::

    app = ApplicationBuilder().token(fake.token).base_url(fake.base_url).build()
    ...  # add handlers, then: async with app: start_polling(timeout=1), app.start()
    fake.send_text(42, "hello")
    [reply] = await fake.async_wait_for("sendMessage")
    assert reply.params["text"] == "hello" and fake.failed_calls() == []

Deliberate simplifications: message ids come from one counter for all chats; groups are
supergroups, and a chat the fake has not seen is taken to be private; ``parse_mode`` must be HTML
or absent; HTML tags are checked but their attributes are not, only the named entities
``&lt; &gt; &amp; &quot;`` are decoded, and ``<span class="tg-spoiler">``/``<tg-emoji>`` are
refused; a sent message comes back as plain text (no entities, no keyboard); ``allowed_updates``
is ignored and webhooks are recorded but never delivered.
"""

from __future__ import annotations

import asyncio
import email.policy
import itertools
import json
import re
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesParser
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qsl

__all__ = [
    "MAX_CALLBACK_DATA_BYTES",
    "MAX_MESSAGE_LENGTH",
    "Call",
    "FakeBotAPI",
    "decode_params",
    "parse_html",
]

JSON = dict[str, Any]

#: Telegram's limit on a message's text after entity parsing.
MAX_MESSAGE_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
DELETE_WINDOW_S = 48 * 3600  # how long a bot may delete messages in a private chat
#: Telegram's limit on an inline button's ``callback_data``, in UTF-8 bytes.
MAX_CALLBACK_DATA_BYTES = 64

_CONFLICT_POLL = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance "
    "is running"
)


# --------------------------------------------------------------------------------------------
# Recorded calls and errors
# --------------------------------------------------------------------------------------------


class _BotAPIError(Exception):
    """An error answer: ``{"ok": false, "error_code": status, "description": ...}``."""

    def __init__(self, status: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(f"{status} {description}")
        self.status = status
        self.description = description
        self.parameters = parameters

    def payload(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def _bad_request(description: str) -> _BotAPIError:
    return _BotAPIError(400, f"Bad Request: {description}")


@dataclass(frozen=True)
class _Failure:
    status: int
    description: str
    parameters: JSON | None = None
    html: bool = False  # answer a non-JSON page echoing the request URL, token included


class _HangUp(Exception):
    """The client closed the connection while we held its request: send nothing."""


@dataclass
class Call:
    """One request the bot made, as the fake understood and answered it.

    ``params`` holds decoded values (see :func:`decode_params`); ``time`` is ``time.monotonic()``
    when the request arrived. ``status``/``response`` are the HTTP status and JSON body sent back;
    both stay ``None`` while a long poll is open and when the client went away before an answer.
    """

    method: str
    params: JSON
    time: float
    status: int | None = None
    response: JSON | None = None
    files: dict[str, Upload] = field(default_factory=dict)  # uploads, by form field

    @property
    def ok(self) -> bool:
        """True when the fake answered ``{"ok": true, ...}``."""
        return bool(self.response and self.response["ok"])

    @property
    def failed(self) -> bool:
        """True when the fake answered with an error (an unanswered call is not a failure)."""
        return self.response is not None and not self.response["ok"]

    def short(self) -> str:
        """A one-line summary for failure messages."""
        params = json.dumps(self.params, ensure_ascii=False)[:160]
        return f"{self.method}[{self.status or '-'}] {params}"


# --------------------------------------------------------------------------------------------
# Parameter decoding and checks
# --------------------------------------------------------------------------------------------

#: Fields PTB sends JSON-encoded (objects and arrays).
JSON_FIELDS = frozenset({"allowed_updates", "commands", "reply_markup"})
#: Integer fields; every other field (``text``, ``callback_query_id``...) stays a string.
INT_FIELDS = frozenset({"chat_id", "offset", "timeout"})


@dataclass(frozen=True)
class Upload:
    """A file the bot uploaded (sendDocument): its name and bytes, as Telegram received them."""

    filename: str
    data: bytes


def parse_multipart(body: bytes, content_type: str) -> tuple[dict[str, str], dict[str, Upload]]:
    """A multipart/form-data body, as PTB sends it when a request carries a file: the plain
    fields as text, the files apart."""
    message = BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    fields: dict[str, str] = {}
    files: dict[str, Upload] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if not isinstance(name, str) or not isinstance(payload, bytes):
            continue
        filename = part.get_filename()
        if filename is not None:
            files[name] = Upload(filename, payload)
        else:
            fields[name] = payload.decode(part.get_content_charset() or "utf-8")
    return fields, files


def decode_params(raw: dict[str, str]) -> JSON:
    """Decode form fields the way PTB encoded them, field by field.

    PTB sends strings raw and everything else ``json.dumps``-ed, so the type cannot be recovered
    from the value alone: a message ``text`` of ``42`` must stay ``"42"``.
    """
    out: JSON = {}
    for name, value in raw.items():
        if name in JSON_FIELDS:
            out[name] = json.loads(value)
        elif name in INT_FIELDS:
            out[name] = int(value)
        else:
            out[name] = value
    return out


#: Tags Telegram's HTML parse mode accepts (but ``span``/``tg-emoji``, which need attributes).
HTML_TAGS = frozenset(
    {
        "a",
        "b",
        "blockquote",
        "code",
        "del",
        "em",
        "i",
        "ins",
        "pre",
        "s",
        "strike",
        "strong",
        "tg-spoiler",
        "u",
    }
)
_HTML_ENTITIES = {"&lt;": "<", "&gt;": ">", "&amp;": "&", "&quot;": '"'}
_HTML_ENTITY_RE = re.compile("|".join(_HTML_ENTITIES))
_TAG_NAME_RE = re.compile(r"[^\s>/]*")
_HTML_SPECIAL_RE = re.compile("[<&]")


def parse_html(text: str) -> str:
    """The plain text of Telegram-flavoured HTML, or raise a 400 ``can't parse entities``.

    Catches what Telegram rejects: a stray ``<`` (``a < b``, ``<user@example.com>``), an unknown
    tag such as ``<br>`` or ``<p>``, unbalanced or crossed tags. Other ``&...`` text is kept
    literally, as Telegram does. Byte offsets in errors are UTF-8 offsets, as Telegram's.
    """
    out: list[str] = []
    stack: list[str] = []
    index = 0

    def fail(message: str) -> _BotAPIError:
        return _bad_request(f"can't parse entities: {message}")

    # Jumps from one "<" or "&" to the next: a reply is a few thousand characters, and the
    # fake shares the benchmark's cores with the bot, so it must not walk them one by one.
    while (special := _HTML_SPECIAL_RE.search(text, index)) is not None:
        start = special.start()
        out.append(text[index:start])
        if text[start] == "&":
            entity = _HTML_ENTITY_RE.match(text, start)
            out.append(_HTML_ENTITIES[entity.group(0)] if entity else "&")
            index = entity.end() if entity else start + 1
            continue
        offset = len(text[:start].encode("utf-8"))
        end = text.find(">", start)
        if text.startswith("</", start):
            if end == -1:
                raise fail(f"Can't find end tag at byte offset {offset}")
            name = text[start + 2 : end].strip().lower()
            if not stack:
                raise fail(f"Unexpected end tag at byte offset {offset}")
            if name != stack[-1]:
                raise fail(
                    f'Unmatched end tag at byte offset {offset}, expected "</{stack[-1]}>", '
                    f'found "</{name}>"'
                )
            stack.pop()
        else:
            match = _TAG_NAME_RE.match(text, start + 1)
            name = match.group(0).lower() if match else ""
            if name not in HTML_TAGS:
                raise fail(f'Unsupported start tag "{name}" at byte offset {offset}')
            if end == -1:
                raise fail(f"Unclosed start tag at byte offset {offset}")
            stack.append(name)
        index = end + 1
    out.append(text[index:])
    if stack:
        raise fail(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return "".join(out)


def _check_reply_markup(markup: JSON | None) -> None:
    """Reject inline buttons Telegram rejects: no text, or ``callback_data`` not 1-64 bytes."""
    rows = (markup or {}).get("inline_keyboard", [])
    for button in itertools.chain.from_iterable(rows):
        if not button.get("text"):
            raise _bad_request("can't parse inline keyboard button: Text must be non-empty")
        data = button.get("callback_data")
        if data is not None and not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES:
            raise _bad_request("BUTTON_DATA_INVALID")


def _command_entities(text: str) -> list[JSON]:
    """A ``bot_command`` entity for a leading ``/command`` (PTB routes commands on it)."""
    match = re.match(r"/[A-Za-z0-9_]{1,32}(@[A-Za-z0-9_]+)?", text)
    return [{"type": "bot_command", "offset": 0, "length": match.end()}] if match else []


# --------------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    fake: FakeBotAPI

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client killed mid-request (tests SIGKILL the bot) is expected: no traceback."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps connections alive, as with the real API; without TCP_NODELAY every answer
    # (headers and body written separately) waits ~40 ms for a delayed ACK.
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request logging: the URL contains the bot token."""

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if len(body) < length:  # the client died mid-request (a SIGKILL): nothing to answer
            self.close_connection = True
            return
        content_type = self.headers.get("Content-Type", "")
        status, payload = self.server.fake._handle(
            self.path, body, self._client_alive, content_type
        )
        if payload is None:  # the client went away while we held its long poll
            self.close_connection = True
            return
        if isinstance(payload, bytes):  # a proxy's error page, not the Bot API
            data, kind = payload, "text/html; charset=utf-8"
        else:
            # ASCII escapes, as Telegram's own: a lone surrogate ("\\ud800") has no UTF-8 form.
            data, kind = json.dumps(payload).encode("utf-8"), "application/json"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _client_alive(self) -> bool:
        """False once the client closed its side (a cancelled long poll)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return not readable or self.connection.recv(1, socket.MSG_PEEK) != b""
        except OSError:
            return False


# --------------------------------------------------------------------------------------------
# The fake
# --------------------------------------------------------------------------------------------


class FakeBotAPI:
    """A fake Telegram Bot API on 127.0.0.1 for the real python-telegram-bot client.

    Use as a context manager (``with FakeBotAPI() as fake:``) and build the bot with
    ``.token(fake.token).base_url(fake.base_url)``. Inject updates with the ``send_*`` helpers;
    inspect the bot's requests with :meth:`calls`, :meth:`sent_messages`, :meth:`failed_calls`,
    :meth:`wait_for` (threads) or :meth:`async_wait_for` (async tests). All public methods are
    thread-safe.
    """

    #: The token the fake accepts; any other answers 401 like a revoked token.
    token = "123456:TEST"
    bot_user: ClassVar[JSON] = {
        "id": 123456,
        "is_bot": True,
        "first_name": "Rights Desk (test)",
        "username": "rightsdesk_test_bot",
    }

    def __init__(self) -> None:
        self.base_url = ""  # set on start: pass it to ``ApplicationBuilder().base_url()``
        self._cond = threading.Condition()
        self._calls: list[Call] = []
        self._updates: list[JSON] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._chats: dict[int, JSON] = {}
        self._last_user_message: dict[int, JSON] = {}
        self._last_bot_message: dict[int, JSON] = {}
        # Every message still in a chat, both sides: (chat id, message id) -> its date.
        self._present: dict[tuple[int, int], int] = {}
        self._documents: dict[tuple[int, int], Upload] = {}
        self._open_callback_queries: set[str] = set()
        self._failures: dict[str, list[_Failure]] = {}
        self._hangs: dict[str, list[float]] = {}
        self._token_rejected = False
        self._poll_generation = 0

    def __enter__(self) -> FakeBotAPI:
        """Serve on a free port in a daemon thread."""
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        host, port = self._server.server_address[:2]
        self.base_url = f"http://{host}:{port}/bot"  # PTB appends <token>/<method>
        # A short poll interval keeps shutdown (once per test) quick.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # ---- update injection --------------------------------------------------------------------

    def send_text(
        self,
        user_id: int,
        text: str,
        *,
        first_name: str = "Test",
        last_name: str | None = None,
        username: str | None = None,
    ) -> None:
        """A user writes ``text`` in their private chat with the bot.

        A leading ``/command`` gets its ``bot_command`` entity.
        """
        user = _user(user_id, first_name, last_name, username)
        self._user_message(user, _private_chat(user), text, _command_entities(text))

    def send_command(self, user_id: int, command: str) -> None:
        """A user sends ``/command`` (``command`` may carry arguments: ``"help 3"``)."""
        self.send_text(user_id, f"/{command}")

    def send_group_text(
        self, user_id: int, group_chat_id: int, text: str, mention: bool = False
    ) -> None:
        """A user writes in a supergroup; ``mention`` prefixes ``@botname`` as a mention."""
        entities = _command_entities(text)
        if mention:
            handle = f"@{self.bot_user['username']}"
            text = f"{handle} {text}"
            entities = [{"type": "mention", "offset": 0, "length": len(handle)}]
        chat = {"id": group_chat_id, "type": "supergroup", "title": "Test group"}
        self._user_message(_user(user_id), chat, text, entities)

    def send_photo(self, user_id: int) -> None:
        """A user sends a photo, without a caption."""
        user = _user(user_id)
        size = {
            "file_id": f"photo-{user_id}",
            "file_unique_id": f"ph{user_id}",
            "width": 1280,
            "height": 960,
        }
        self._user_message(user, _private_chat(user), photo=[size])

    def send_sticker(self, user_id: int) -> None:
        """A user sends a regular static sticker."""
        user = _user(user_id)
        sticker = {
            "file_id": f"sticker-{user_id}",
            "file_unique_id": f"st{user_id}",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
        }
        self._user_message(user, _private_chat(user), sticker=sticker)

    def send_edited_text(self, user_id: int, text: str) -> None:
        """The user edits their last message in their private chat (a photo too) to ``text``."""
        with self._cond:
            original = self._last_user_message.get(user_id)
            if original is None:
                raise LookupError(f"user {user_id} has sent no message to edit")
            edited = {**original, "text": text, "edit_date": int(time.time())}
            edited.pop("entities", None)
            self._push({"edited_message": edited})

    def send_channel_post(self, text: str) -> None:
        """A post in a channel where the bot is an admin (no ``from``, as Telegram sends it)."""
        chat = {"id": -1001000000001, "type": "channel", "title": "Test channel"}
        with self._cond:
            post = {"message_id": next(self._message_ids), "date": int(time.time()), "chat": chat}
            self._push({"channel_post": {**post, "sender_chat": chat, "text": text}})

    def send_callback(self, user_id: int, data: str) -> None:
        """A user presses an inline button carrying ``data`` under the bot's last message to them.

        Raises ``LookupError`` if the bot has sent them nothing yet.
        """
        with self._cond:
            message = self._last_bot_message.get(user_id)
            if message is None:
                raise LookupError(f"the bot has sent no message to {user_id} to press a button on")
            query_id = str(next(self._callback_ids))
            self._open_callback_queries.add(query_id)
            query = {
                "id": query_id,
                "from": _user(user_id),
                "chat_instance": str(user_id),
                "message": message,
                "data": data,
            }
            self._push({"callback_query": query})

    def _user_message(
        self, user: JSON, chat: JSON, text: str | None = None, entities: Any = (), **content: Any
    ) -> None:
        with self._cond:
            message = {
                "message_id": next(self._message_ids),
                "from": user,
                "chat": chat,
                "date": int(time.time()),
                **content,
            }
            if text is not None:
                message["text"] = text
            if entities:
                message["entities"] = entities
            self._chats[chat["id"]] = chat
            self._last_user_message[chat["id"]] = message
            self._present[(chat["id"], message["message_id"])] = message["date"]
            self._push({"message": message})

    def _push(self, update: JSON) -> None:
        with self._cond:
            self._updates.append({"update_id": next(self._update_ids), **update})
            self._cond.notify_all()

    # ---- inspection --------------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[Call]:
        """Recorded requests (all, or one method's), oldest first."""
        with self._cond:
            return [c for c in self._calls if method is None or c.method == method]

    def sent_messages(self, chat_id: int | None = None) -> list[Call]:
        """``sendMessage`` calls that Telegram accepted (to ``chat_id``), oldest first."""
        with self._cond:
            return [
                c
                for c in self._calls
                if c.method == "sendMessage"
                and c.ok
                and (chat_id is None or c.params["chat_id"] == chat_id)
            ]

    def failed_calls(self) -> list[Call]:
        """Requests the fake answered with an error: assert it is empty at the end of a test."""
        with self._cond:
            return [c for c in self._calls if c.failed]

    def wait_for(
        self,
        method: str,
        count: int = 1,
        timeout: float = 5.0,
        predicate: Callable[[Call], bool] | None = None,
    ) -> list[Call]:
        """Block until ``count`` recorded calls match, and return all matching calls.

        For threads and sync tests only: it blocks, so never call it on an event loop (use
        :meth:`async_wait_for`). Counts include calls made before the wait. Raises
        ``TimeoutError`` listing the calls seen.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(found := self._matching(method, predicate)) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._timeout_error(method, count, timeout, found)
                self._cond.wait(remaining)
            return found

    async def async_wait_for(
        self,
        method: str,
        count: int = 1,
        timeout: float = 5.0,
        predicate: Callable[[Call], bool] | None = None,
    ) -> list[Call]:
        """Like :meth:`wait_for`, but polls with ``await asyncio.sleep``: the loop keeps running."""
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                found = self._matching(method, predicate)
                if len(found) >= count:
                    return found
                if time.monotonic() >= deadline:
                    raise self._timeout_error(method, count, timeout, found)
            await asyncio.sleep(0.01)

    def _matching(self, method: str, predicate: Callable[[Call], bool] | None) -> list[Call]:
        return [
            c for c in self._calls if c.method == method and (predicate is None or predicate(c))
        ]

    def _timeout_error(
        self, method: str, count: int, timeout: float, found: list[Call]
    ) -> TimeoutError:
        recent = "\n  ".join(c.short() for c in self._calls[-20:]) or "(none)"
        return TimeoutError(
            f"waited {timeout}s for {count} {method} call(s), got {len(found)}.\n"
            f"Last calls:\n  {recent}"
        )

    # ---- failure injection -------------------------------------------------------------------

    def fail_next(
        self, method: str, *, status: int = 429, retry_after: int = 1, times: int = 1
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with an error instead of handling them.

        A 429 carries ``parameters.retry_after`` (PTB raises ``RetryAfter``); other statuses
        answer their HTTP reason phrase ("Bad Gateway"...) and ignore ``retry_after``. Calls to
        ``fail_next`` queue up in order.
        """
        if status == 429:
            description = f"Too Many Requests: retry after {retry_after}"
            failure = _Failure(429, description, {"retry_after": retry_after})
        else:
            failure = _Failure(status, HTTPStatus(status).phrase)
        with self._cond:
            self._failures.setdefault(method, []).extend([failure] * times)

    def fail_next_with_page(self, method: str, *, status: int = 502, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with an HTML page, not JSON, that quotes
        the request URL (token included), as a misconfigured proxy or captive portal does."""
        failure = _Failure(status, HTTPStatus(status).phrase, html=True)
        with self._cond:
            self._failures.setdefault(method, []).extend([failure] * times)

    def hang_next(self, method: str, seconds: float, *, times: int = 1) -> None:
        """Hold the next ``times`` calls of ``method`` for ``seconds`` (or until the client gives
        up), then close the connection without an answer and without carrying the call out."""
        with self._cond:
            self._hangs.setdefault(method, []).extend([seconds] * times)

    def accept_token(self) -> None:
        """Undo :meth:`reject_token`: requests are answered again."""
        with self._cond:
            self._token_rejected = False

    def push_update(self, update: JSON) -> int:
        """Queue ``update`` exactly as given, with the next ``update_id`` unless it has one, even
        if python-telegram-bot cannot read it. Returns its update id."""
        with self._cond:
            if "update_id" not in update:
                update = {"update_id": next(self._update_ids), **update}
            self._updates.append(update)
            self._cond.notify_all()
            return int(update["update_id"])

    def pending_update_ids(self) -> list[int]:
        """The ids of the updates Telegram still holds (not yet confirmed by an offset)."""
        with self._cond:
            return [u["update_id"] for u in self._updates]

    def reject_token(self) -> None:
        """Answer every request 401 Unauthorized, as Telegram does for a revoked token.

        PTB then raises ``InvalidToken`` from ``Application.initialize()``.
        """
        with self._cond:
            self._token_rejected = True

    # ---- request handling --------------------------------------------------------------------

    def _handle(
        self,
        path: str,
        body: bytes,
        client_alive: Callable[[], bool],
        content_type: str = "application/x-www-form-urlencoded",
    ) -> tuple[int, JSON | bytes | None]:
        """Answer ``/bot<token>/<method>``: (status, body), or body None to hang up. A bytes body
        is an HTML page, not the Bot API's JSON."""
        route = re.fullmatch(r"/bot([^/]+)/([^/?]+)", path)
        if route is None:
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        token, method = route.groups()
        files: dict[str, Upload] = {}
        if content_type.startswith("multipart/form-data"):
            raw, files = parse_multipart(body, content_type)
            params = decode_params(raw)
        elif content_type.startswith("application/json"):
            # The poller (httpx) posts JSON; read as a form, its offset was never seen, so
            # nothing was ever confirmed and no poll went past the first 100 updates.
            decoded = json.loads(body or b"{}")
            params = decoded if isinstance(decoded, dict) else {}
        else:
            params = decode_params(dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True)))
        call = Call(method, params, time.monotonic(), files=files)
        with self._cond:
            self._calls.append(call)
            self._cond.notify_all()
            hang = self._hangs[method].pop(0) if self._hangs.get(method) else None
        if hang is not None:
            deadline = time.monotonic() + hang
            while time.monotonic() < deadline and client_alive():
                time.sleep(0.05)
            return 0, None
        with self._cond:
            try:
                if token != self.token or self._token_rejected:
                    raise _BotAPIError(401, "Unauthorized")
                if self._failures.get(method):
                    failure = self._failures[method].pop(0)
                    if failure.html:
                        call.status = failure.status
                        call.response = {"ok": False, "error_code": failure.status}
                        url = self.base_url.rsplit("/bot", 1)[0] + path
                        page = (
                            f"<html><body><h1>{failure.description}</h1><p>{url}</p></body></html>"
                        )
                        self._cond.notify_all()
                        return failure.status, page.encode("utf-8")
                    raise _BotAPIError(failure.status, failure.description, failure.parameters)
                if method == "getUpdates":
                    result = self._get_updates(call.params, client_alive)
                elif method == "sendDocument":
                    result = self._send_document(call.params, call.files)
                elif method in self._HANDLERS:
                    result = self._HANDLERS[method](self, call.params)
                else:
                    raise _bad_request(f"method {method} not found")
            except _HangUp:
                return 0, None
            except _BotAPIError as error:
                call.status, call.response = error.status, error.payload()
            else:
                call.status, call.response = 200, {"ok": True, "result": result}
            self._cond.notify_all()
            return call.status, call.response

    # Everything below runs with self._cond held.

    def _get_updates(self, params: JSON, client_alive: Callable[[], bool]) -> list[JSON]:
        offset = params.get("offset")
        if offset:  # confirms every update below it
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        self._poll_generation += 1
        generation = self._poll_generation
        self._cond.notify_all()  # wakes an older poll, which this one terminates
        deadline = time.monotonic() + params.get("timeout", 0)
        while True:
            if not client_alive():
                raise _HangUp
            if generation != self._poll_generation:
                raise _BotAPIError(409, _CONFLICT_POLL)
            if self._updates:
                return self._updates[: min(100, params.get("limit") or 100)]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            self._cond.wait(min(remaining, 0.1))  # re-check client_alive() now and then

    def _get_me(self, params: JSON) -> JSON:
        return self.bot_user

    def _send_message(self, params: JSON) -> JSON:
        if not isinstance(params.get("chat_id"), int | str):
            raise _bad_request("chat_id is empty")  # as Telegram: 400, not a server error
        chat_id, text = params["chat_id"], params.get("text", "")
        parse_mode = params.get("parse_mode")
        if parse_mode == "HTML":
            text = parse_html(text)
        elif parse_mode is not None:
            raise _bad_request(f"unsupported parse_mode {parse_mode} (the fake checks only HTML)")
        if not text.strip():
            raise _bad_request("message text is empty")
        if len(text) > MAX_MESSAGE_LENGTH:
            raise _bad_request("message is too long")
        _check_reply_markup(params.get("reply_markup"))
        message = {
            "message_id": next(self._message_ids),
            "from": self.bot_user,
            "chat": self._chats.get(chat_id, {"id": chat_id, "type": "private"}),  # unseen: private
            "date": int(time.time()),
            "text": text,
        }
        self._last_bot_message[chat_id] = message
        self._present[(chat_id, message["message_id"])] = message["date"]
        return message

    def _send_document(self, params: JSON, files: dict[str, Upload]) -> JSON:
        chat_id = int(params["chat_id"])
        upload = files.get("document")
        if upload is None:
            raise _bad_request("there is no document in the request")
        if not upload.data:
            raise _bad_request("file must be non-empty")
        if len(params.get("caption", "")) > MAX_CAPTION_LENGTH:
            raise _bad_request("message caption is too long")
        message = {
            "message_id": next(self._message_ids),
            "from": self.bot_user,
            "chat": self._chats.get(chat_id, {"id": chat_id, "type": "private"}),
            "date": int(time.time()),
            "document": {
                "file_id": f"doc-{len(upload.data)}",
                "file_unique_id": f"u{len(upload.data)}",
                "file_name": upload.filename,
                "mime_type": "application/pdf" if upload.data[:5] == b"%PDF-" else "",
                "file_size": len(upload.data),
            },
            "caption": params.get("caption", ""),
        }
        self._documents[(chat_id, message["message_id"])] = upload
        self._present[(chat_id, message["message_id"])] = message["date"]
        return message

    def document(self, chat_id: int, message_id: int) -> Upload:
        """The file the bot sent in that message."""
        with self._cond:
            return self._documents[(chat_id, message_id)]

    def _delete_message(self, params: JSON) -> bool:
        # As Telegram: a bot may delete any message of a private chat for 48 hours.
        where = (int(params["chat_id"]), int(params["message_id"]))  # form fields arrive as text
        date = self._present.get(where)
        if date is None:
            raise _bad_request("message to delete not found")
        if time.time() - date > DELETE_WINDOW_S:
            raise _bad_request("message can't be deleted for everyone")
        del self._present[where]
        return True

    def messages_in(self, chat_id: int) -> list[int]:
        """The ids of the messages still in a chat (both sides), oldest first."""
        with self._cond:
            return sorted(m for c, m in self._present if c == chat_id)

    def age_messages(self, chat_id: int, seconds: float) -> None:
        """Make every message of a chat ``seconds`` older, as if time had passed."""
        with self._cond:
            for where, date in self._present.items():
                if where[0] == chat_id:
                    self._present[where] = int(date - seconds)

    def _answer_callback_query(self, params: JSON) -> bool:
        query_id = params.get("callback_query_id")
        if query_id not in self._open_callback_queries:
            raise _bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        self._open_callback_queries.discard(query_id)
        return True

    def _set_my_commands(self, params: JSON) -> bool:
        for command in params.get("commands", []):
            if not re.fullmatch(r"[a-z0-9_]{1,32}", command["command"]):
                raise _bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(command["description"]) <= 256:
                raise _bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        return True

    def _set_webhook(self, params: JSON) -> bool:
        url = params.get("url", "")
        if url and not url.startswith("https://"):
            raise _bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        return True

    def _delete_webhook(self, params: JSON) -> bool:
        return True

    _HANDLERS: ClassVar[dict[str, Callable[[FakeBotAPI, JSON], Any]]] = {
        "getMe": _get_me,
        "sendMessage": _send_message,
        "answerCallbackQuery": _answer_callback_query,
        "deleteMessage": _delete_message,
        "setMyCommands": _set_my_commands,
        "setWebhook": _set_webhook,
        "deleteWebhook": _delete_webhook,
    }


def _private_chat(user: JSON) -> JSON:
    names = {k: user[k] for k in ("first_name", "last_name", "username") if k in user}
    return {"id": user["id"], "type": "private", **names}


def _user(
    user_id: int,
    first_name: str = "Test",
    last_name: str | None = None,
    username: str | None = None,
) -> JSON:
    user: JSON = {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": "en"}
    if last_name:
        user["last_name"] = last_name
    if username:
        user["username"] = username
    return user
