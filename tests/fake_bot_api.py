"""A fake Telegram Bot API server for end-to-end tests that never touch the internet.

The real python-telegram-bot client talks HTTP to this server exactly as it would talk to
``api.telegram.org``: point it here with ``ApplicationBuilder().base_url(fake.base_url)`` and PTB
calls ``<base_url><TOKEN>/<method>``. Tests inject updates (a user's message, a button press, ...)
and then inspect what the bot asked Telegram to do (:class:`Call`). Because the client side is the
real library, the tests also catch mistakes that a mocked ``Bot`` would hide: markup Telegram would
reject, ``callback_data`` over 64 bytes, over-long messages, double-answered callback queries,
edits of messages that do not exist.

Design notes (why it looks like this):

* stdlib only (``http.server.ThreadingHTTPServer`` + ``threading``): it must run anywhere the
  tests run, including as a subprocess (``python tests/fake_bot_api.py --port 8081``).
* ``getUpdates`` is a real long poll held open for its ``timeout``; answering at once would make
  the client spin. One :class:`threading.Condition` guards all state, so update injection from the
  test thread wakes a waiting poll immediately.
* Requests are form-encoded by PTB: strings raw, everything else JSON-encoded. Fields are decoded
  per name (see :func:`decode_params`) so a ``text`` that happens to read ``42`` stays a string.
* Answers are shaped like the Bot API (``{"ok": true, "result": ...}``; errors with
  ``error_code``/``description``/``parameters``) because PTB maps the HTTP status and
  ``parameters.retry_after`` to its exceptions (400 BadRequest, 401 InvalidToken, 429 RetryAfter).
  Unknown methods answer 400, not 404: PTB reports 404 as InvalidToken, which misleads.
* Wall-clock dates (``date``) use ``time.time()``; :attr:`Call.time` uses ``time.monotonic()`` so
  tests can measure gaps (for example a retry after a 429) without clock jumps.

Typical use (``fake_bot_api`` is the fixture in ``tests/conftest.py``)::

    app = ApplicationBuilder().token(fake.token).base_url(fake.base_url).build()
    ...  # add handlers, then: async with app: start_polling(timeout=1), app.start()
    fake.send_text(42, "hello")
    [reply] = await fake.async_wait_for("sendMessage")
    assert reply.text == "hello" and fake.failed_calls() == []

Deliberate simplifications: message ids come from one counter for all chats; HTML is checked and
converted to entities, MarkdownV2 is only checked for unescaped reserved characters, legacy
Markdown is not checked; text is not trimmed; webhooks are recorded but never delivered.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import email.parser
import email.policy
import itertools
import json
import re
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

__all__ = [
    "MAX_CALLBACK_DATA_BYTES",
    "MAX_MESSAGE_LENGTH",
    "BotAPIError",
    "Call",
    "FakeBotAPI",
    "check_markdown_v2",
    "decode_params",
    "parse_html",
]

JSON = dict[str, Any]
MethodHandler = Callable[[JSON], Any]

#: Telegram's limit on a message's text after entity parsing.
MAX_MESSAGE_LENGTH = 4096
#: Telegram's limit on an inline button's ``callback_data``, in UTF-8 bytes.
MAX_CALLBACK_DATA_BYTES = 64
#: Telegram never holds a long poll longer than this.
MAX_POLL_TIMEOUT = 50.0
#: Update types delivered when ``allowed_updates`` was never set (Telegram's default).
_NOT_DELIVERED_BY_DEFAULT = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
_CONFLICT_POLL = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance "
    "is running"
)
_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: _CONFLICT_POLL,
    500: "Internal Server Error",
    502: "Bad Gateway",
}


# --------------------------------------------------------------------------------------------
# Recorded calls and errors
# --------------------------------------------------------------------------------------------


class BotAPIError(Exception):
    """An error answer of the Bot API; raise it from an :meth:`FakeBotAPI.on_method` handler.

    It becomes ``{"ok": false, "error_code": status, "description": ..., "parameters": ...}``
    with the same HTTP status, which is what PTB turns into its exception classes.
    """

    def __init__(self, status: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(f"{status} {description}")
        self.status = status
        self.description = description
        self.parameters = parameters

    def payload(self) -> JSON:
        """The JSON body Telegram would answer."""
        body: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def _bad_request(description: str) -> BotAPIError:
    return BotAPIError(400, f"Bad Request: {description}")


@dataclass
class Call:
    """One request the bot made, as the fake understood and answered it.

    ``params`` holds decoded values (see :func:`decode_params`), ``raw`` the strings as received.
    ``time`` is ``time.monotonic()`` when the request arrived. ``status``/``response`` are the HTTP
    status and JSON body sent back; both stay ``None`` while a long poll is open and when the client
    went away before an answer (PTB cancels its open ``getUpdates`` on stop).
    """

    method: str
    params: JSON
    time: float
    raw: dict[str, str] = field(default_factory=dict, repr=False)
    status: int | None = None
    response: JSON | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        """True when the fake answered ``{"ok": true, ...}``."""
        return bool(self.response and self.response.get("ok"))

    @property
    def failed(self) -> bool:
        """True when the fake answered with an error (an unanswered call is not a failure)."""
        return self.response is not None and not self.response.get("ok")

    @property
    def result(self) -> Any:
        """The ``result`` of a successful answer (a Message dict, ``True``...), else None."""
        return self.response.get("result") if self.response else None

    @property
    def description(self) -> str | None:
        """The error description of a failed answer, else None."""
        return self.response.get("description") if self.response else None

    @property
    def text(self) -> str | None:
        """Shortcut for ``params["text"]`` (the text as the bot sent it, markup included)."""
        value = self.params.get("text")
        return value if isinstance(value, str) else None

    def short(self) -> str:
        """A one-line summary for failure messages."""
        shown = {k: v for k, v in self.params.items() if k not in ("reply_markup", "entities")}
        status = self.status if self.status is not None else "-"
        return f"{self.method}[{status}] {json.dumps(shown, ensure_ascii=False)[:160]}"


# --------------------------------------------------------------------------------------------
# Parameter decoding
# --------------------------------------------------------------------------------------------

#: Fields PTB sends as JSON (objects/arrays); decoded with ``json.loads``.
JSON_FIELDS = frozenset(
    {
        "allowed_updates",
        "button",
        "caption_entities",
        "commands",
        "entities",
        "explanation_entities",
        "input_message_content",
        "link_preview_options",
        "media",
        "menu_button",
        "message_ids",
        "options",
        "permissions",
        "prices",
        "question_entities",
        "reaction",
        "reply_markup",
        "reply_parameters",
        "results",
        "rights",
        "scope",
        "shipping_options",
    }
)
#: Fields that are strings whatever they look like ("42", "true" stay strings).
STRING_FIELDS = frozenset(
    {
        "action",
        "address",
        "animation",
        "audio",
        "business_connection_id",
        "callback_query_id",
        "caption",
        "certificate",
        "cover",
        "currency",
        "custom_emoji_id",
        "data",
        "description",
        "document",
        "emoji",
        "file_id",
        "file_unique_id",
        "first_name",
        "foursquare_id",
        "gift_id",
        "google_place_id",
        "inline_message_id",
        "inline_query_id",
        "ip_address",
        "language_code",
        "last_name",
        "message_effect_id",
        "name",
        "next_offset",
        "parse_mode",
        "payload",
        "phone_number",
        "photo",
        "pre_checkout_query_id",
        "provider_token",
        "question",
        "secret_token",
        "shipping_query_id",
        "short_description",
        "start_parameter",
        "sticker",
        "text",
        "thumbnail",
        "title",
        "url",
        "vcard",
        "video",
        "video_note",
        "voice",
        "web_app_query_id",
    }
)
#: Numeric fields that do not end in ``_id``.
NUMBER_FIELDS = frozenset(
    {
        "cache_time",
        "close_date",
        "duration",
        "heading",
        "height",
        "horizontal_accuracy",
        "latitude",
        "length",
        "limit",
        "live_period",
        "longitude",
        "max_connections",
        "offset",
        "open_period",
        "proximity_alert_radius",
        "timeout",
        "until_date",
        "width",
    }
)
_INT_RE = re.compile(r"-?\d+")
_FLOAT_RE = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")


def decode_params(raw: dict[str, str]) -> JSON:
    """Decode form fields the way PTB encoded them, field by field.

    PTB sends strings raw and everything else ``json.dumps``-ed, so the type cannot be recovered
    from the value alone: a message ``text`` of ``42`` must stay ``"42"``. Rules, in order:
    known JSON fields are parsed as JSON; known string fields stay strings; ``true``/``false``
    become booleans; integer-looking ``*_id`` fields (``chat_id``, ``message_id``...) and known
    numeric fields become numbers (``chat_id="@channel"`` stays a string); anything else stays a
    string. A value that is not a ``str`` (a JSON request body, an uploaded file) is kept as is.
    """
    out: JSON = {}
    for name, value in raw.items():
        if not isinstance(value, str):
            out[name] = value
        elif name in JSON_FIELDS:
            try:
                out[name] = json.loads(value)
            except ValueError:
                out[name] = value
        elif name in STRING_FIELDS:
            out[name] = value
        elif value in ("true", "false"):
            out[name] = value == "true"
        elif (name.endswith("_id") or name in NUMBER_FIELDS) and _INT_RE.fullmatch(value):
            out[name] = int(value)
        elif name in NUMBER_FIELDS and _FLOAT_RE.fullmatch(value):
            out[name] = float(value)
        else:
            out[name] = value
    return out


def _parse_body(content_type: str, body: bytes, query: str) -> dict[str, Any]:
    """Form fields of a request: query string, then urlencoded, multipart or JSON body."""
    fields: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    ctype = content_type.split(";", 1)[0].strip().lower()
    if not body:
        return fields
    if ctype == "application/json":
        data = json.loads(body.decode("utf-8"))
        if isinstance(data, dict):
            for key, value in data.items():
                # Keep the "JSON fields are strings" convention so decode_params treats both alike.
                fields[key] = json.dumps(value) if key in JSON_FIELDS else value
    elif ctype == "multipart/form-data":
        head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1")
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not isinstance(name, str):
                continue
            data = part.get_payload(decode=True) or b""
            filename = part.get_filename()
            if filename is None and part.get_content_type() in ("text/plain", "application/json"):
                fields[name] = data.decode("utf-8")
            else:
                fields[name] = {
                    "filename": filename,
                    "content_type": part.get_content_type(),
                    "size": len(data),
                }
    else:
        fields.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    return fields


# --------------------------------------------------------------------------------------------
# Text checks: HTML, MarkdownV2, inline keyboards
# --------------------------------------------------------------------------------------------

#: Tags Telegram's HTML parse mode accepts.
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
        "span",
        "strike",
        "strong",
        "tg-emoji",
        "tg-spoiler",
        "u",
    }
)
_TAG_ENTITY = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "code": "code",
    "pre": "pre",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "blockquote": "blockquote",
}
_HTML_ENTITY_RE = re.compile(r"&(lt|gt|amp|quot|#[0-9]+|#[xX][0-9a-fA-F]+);")
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_TAG_NAME_RE = re.compile(r"[^\s>/]*")
_ATTR_RE = re.compile(r"""\s*([a-zA-Z_:][-\w:.]*)\s*(?:=\s*("[^"]*"|'[^']*'|[^\s"'>]+))?""")


def _u16(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def _unescape(value: str) -> str:
    def repl(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in _NAMED_ENTITIES:
            return _NAMED_ENTITIES[name]
        number = int(name[2:], 16) if name[1] in "xX" else int(name[1:])
        try:
            return chr(number)
        except (ValueError, OverflowError):
            return match.group(0)

    return _HTML_ENTITY_RE.sub(repl, value)


def _find_tag_end(text: str, start: int) -> int:
    """Index of the ``>`` closing a tag, skipping quoted attribute values; -1 if none."""
    quote = ""
    for index in range(start, len(text)):
        char = text[index]
        if quote:
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == ">":
            return index
    return -1


def parse_html(text: str) -> tuple[str, list[JSON]]:
    """Parse Telegram-flavoured HTML into (plain text, entities), or raise ``BotAPIError`` 400.

    Mirrors Telegram's parser closely enough to catch real bugs: a stray ``<`` (``a < b``,
    ``<user@example.com>``), an unknown tag such as ``<br>`` or ``<p>``, unbalanced or crossed
    tags. Only ``&lt; &gt; &amp; &quot;`` and numeric entities are decoded; other ``&...`` text is
    kept literally, as Telegram does. Byte offsets in errors are UTF-8 offsets, as Telegram's.
    """
    out: list[str] = []
    out_len = 0  # UTF-16 length of the plain text so far
    stack: list[tuple[str, int, dict[str, str]]] = []
    entities: list[JSON] = []
    index = 0

    def fail(message: str) -> BotAPIError:
        return _bad_request(f"can't parse entities: {message}")

    def byte_offset(position: int) -> int:
        return len(text[:position].encode("utf-8"))

    while index < len(text):
        char = text[index]
        if char == "&":
            match = _HTML_ENTITY_RE.match(text, index)
            piece = _unescape(match.group(0)) if match else "&"
            out.append(piece)
            out_len += _u16(piece)
            index = match.end() if match else index + 1
            continue
        if char != "<":
            out.append(char)
            out_len += _u16(char)
            index += 1
            continue
        offset = byte_offset(index)
        if text.startswith("</", index):
            end = text.find(">", index)
            if end == -1:
                raise fail(f"Can't find end tag at byte offset {offset}")
            name = text[index + 2 : end].strip().lower()
            if not stack:
                raise fail(f"Unexpected end tag at byte offset {offset}")
            open_name, start, attrs = stack.pop()
            if name != open_name:
                raise fail(
                    f'Unmatched end tag at byte offset {offset}, expected "</{open_name}>", '
                    f'found "</{name}>"'
                )
            _close_entity(open_name, start, out_len, attrs, stack, entities)
            index = end + 1
            continue
        name_match = _TAG_NAME_RE.match(text, index + 1)
        name = name_match.group(0).lower()
        if name not in HTML_TAGS:
            raise fail(f'Unsupported start tag "{name}" at byte offset {offset}')
        end = _find_tag_end(text, name_match.end())
        if end == -1:
            raise fail(f"Unclosed start tag at byte offset {offset}")
        attrs = {
            m.group(1).lower(): _unescape((m.group(2) or "").strip("\"'"))
            for m in _ATTR_RE.finditer(text, name_match.end(), end)
            if m.group(1)
        }
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise fail('Tag "span" must have class "tg-spoiler"')
        stack.append((name, out_len, attrs))
        index = end + 1
    if stack:
        raise fail(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _close_entity(
    name: str,
    start: int,
    end: int,
    attrs: dict[str, str],
    stack: list[tuple[str, int, dict[str, str]]],
    entities: list[JSON],
) -> None:
    if end <= start:
        return
    entity: JSON = {"offset": start, "length": end - start}
    if name == "a":
        href = attrs.get("href", "")
        if not href:
            return
        user = re.fullmatch(r"tg://user\?id=(\d+)", href)
        if user:
            entity.update(
                type="text_mention",
                user={"id": int(user.group(1)), "is_bot": False, "first_name": ""},
            )
        else:
            entity.update(type="text_link", url=href)
    elif name == "tg-emoji":
        if "emoji-id" not in attrs:
            return
        entity.update(type="custom_emoji", custom_emoji_id=attrs["emoji-id"])
    elif name == "code" and stack and stack[-1][0] == "pre":
        language = attrs.get("class", "")
        if language.startswith("language-"):
            stack[-1][2]["language"] = language.removeprefix("language-")
        return
    elif name == "blockquote" and "expandable" in attrs:
        entity["type"] = "expandable_blockquote"
    else:
        entity["type"] = _TAG_ENTITY[name]
        if name == "pre" and attrs.get("language"):
            entity["language"] = attrs["language"]
    entities.append(entity)


_MDV2_ALWAYS_RESERVED = "#+-={}.!()>"


def check_markdown_v2(text: str) -> None:
    """Raise ``BotAPIError`` 400 for an unescaped reserved character in MarkdownV2 text.

    Only the commonest mistake is checked (``.``, ``!``, ``-``, ``(``... left unescaped, which
    Telegram rejects with "Character '.' is reserved and must be escaped with the preceding '\\'");
    balanced markup is not verified.
    """
    index, in_pre, in_code, in_url, line_start = 0, False, False, False, True
    while index < len(text):
        char = text[index]
        at_line_start, line_start = line_start, char == "\n"
        if char == "\\":
            index += 2
            continue
        if text.startswith("```", index):
            in_pre = not in_pre
            index += 3
            continue
        if in_pre:
            index += 1
            continue
        if char == "`":
            in_code = not in_code
        elif in_code:
            pass
        elif in_url:
            in_url = char != ")"
        elif char == "]" and text.startswith("(", index + 1):
            in_url = True
            index += 2
            continue
        elif char in _MDV2_ALWAYS_RESERVED and not (
            (char == "!" and text.startswith("[", index + 1)) or (char == ">" and at_line_start)
        ):
            raise _bad_request(
                f"can't parse entities: Character '{char}' is reserved and must be escaped with "
                "the preceding '\\'"
            )
        index += 1


def _check_reply_markup(markup: Any) -> None:
    """Reject keyboards Telegram rejects: bad JSON, text-only inline buttons, long callback_data."""
    if markup is None:
        return
    if not isinstance(markup, dict):
        raise _bad_request("can't parse reply keyboard markup JSON object")
    rows = markup.get("inline_keyboard")
    if rows is None:
        return
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise _bad_request('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array')
    if sum(len(row) for row in rows) > 100:
        raise _bad_request("reply markup is too long")
    for button in itertools.chain.from_iterable(rows):
        if not isinstance(button, dict) or not button.get("text"):
            raise _bad_request("can't parse inline keyboard button: Text must be non-empty")
        if set(button) == {"text"}:
            raise _bad_request(
                "can't parse inline keyboard button: Text buttons are unallowed in the inline "
                "keyboard"
            )
        if "callback_data" in button:
            data = button["callback_data"]
            size = len(data.encode("utf-8")) if isinstance(data, str) else 0
            if not 1 <= size <= MAX_CALLBACK_DATA_BYTES:
                raise _bad_request("BUTTON_DATA_INVALID")
        if "url" in button and not button["url"]:
            raise _bad_request("BUTTON_URL_INVALID")


def _inline_markup(markup: Any) -> JSON | None:
    """The markup a Message object shows: only inline keyboards are visible on messages."""
    if isinstance(markup, dict) and "inline_keyboard" in markup:
        return copy.deepcopy(markup)
    return None


# --------------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeBotAPI

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up (PTB cancelling its long poll on stop) is normal, not an error.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps connections alive, as with the real API; without TCP_NODELAY every answer
    # (headers and body written separately) waits ~40 ms for a delayed ACK.
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.fake._track_connection(self.connection, add=True)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        self.server.fake._track_connection(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request logging: the URL contains the bot token."""

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        status, payload = self.server.fake._handle_http(
            url.path, url.query, self.headers.get("Content-Type", ""), body, self._client_alive
        )
        if payload is None:  # the client went away while we held its long poll
            self.close_connection = True
            return
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:  # broken pipe / reset: the client cancelled the request
            self.close_connection = True

    do_GET = do_POST

    def _client_alive(self) -> bool:
        """False once the client closed its side (a cancelled long poll)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if not readable:
                return True
            return self.connection.recv(1, socket.MSG_PEEK) != b""
        except (OSError, ValueError):
            return False


# --------------------------------------------------------------------------------------------
# The fake
# --------------------------------------------------------------------------------------------


@dataclass
class _Failure:
    status: int
    description: str
    parameters: JSON | None


class FakeBotAPI:
    """A fake Telegram Bot API on 127.0.0.1 for the real python-telegram-bot client.

    Use as a context manager (``with FakeBotAPI() as fake:``) or ``start()``/``stop()``. Build the
    bot with ``.token(fake.token).base_url(fake.base_url)``. Inject updates with the ``send_*``
    helpers or :meth:`push_update`; inspect the bot's requests with :meth:`calls`,
    :meth:`sent_messages`, :meth:`wait_for` (threads) or :meth:`async_wait_for` (async tests).
    All public methods are thread-safe.
    """

    def __init__(
        self,
        token: str = "123456:TEST",
        *,
        username: str = "rightsdesk_test_bot",
        first_name: str = "Rights Desk (test)",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        bot_id, _, _ = token.partition(":")
        self._token = token
        self._host = host
        self._port = port
        self.bot_user: JSON = {
            "id": int(bot_id) if bot_id.isdigit() else 123456,
            "is_bot": True,
            "first_name": first_name,
            "username": username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        self._cond = threading.Condition()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._stopping = False
        self._reset_state()

    def _reset_state(self) -> None:
        self._calls: list[Call] = []
        self._updates: list[JSON] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._messages: dict[tuple[int | str, int], JSON] = {}
        self._chats: dict[int | str, JSON] = {}
        self._last_bot_message: dict[int | str, int] = {}
        self._last_user_message: dict[tuple[int | str, int], int] = {}
        self._open_callback_queries: set[str] = set()
        self._failures: dict[str, list[_Failure]] = {}
        self._token_rejected = False
        self._allowed_updates: list[str] | None = None
        self._webhook: JSON | None = None
        self._commands: dict[tuple[str, str], list[JSON]] = {}
        self._poll_generation = 0
        self._custom: dict[str, MethodHandler] = {}
        self._listeners: list[Callable[[Call], None]] = []

    # ---- lifecycle ---------------------------------------------------------------------------

    @property
    def token(self) -> str:
        """The token the fake accepts; any other answers 401 like a revoked token."""
        return self._token

    @property
    def username(self) -> str:
        """The bot's username (``getMe``), needed for ``/cmd@username`` to match."""
        return str(self.bot_user["username"])

    @property
    def url(self) -> str:
        """Root URL of the server, e.g. ``http://127.0.0.1:40123``."""
        if self._server is None:
            raise RuntimeError("FakeBotAPI is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def base_url(self) -> str:
        """What to pass to ``ApplicationBuilder().base_url()``: PTB appends ``<token>/<method>``."""
        return f"{self.url}/bot"

    def start(self) -> FakeBotAPI:
        """Bind (port 0 picks a free port) and serve in a daemon thread. Returns self."""
        if self._server is not None:
            raise RuntimeError("FakeBotAPI already started")
        self._stopping = False
        server = _Server((self._host, self._port), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-bot-api",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Release open long polls, stop serving and close every connection. Idempotent."""
        server, self._server = self._server, None
        if server is None:
            return
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        server.shutdown()
        with self._cond:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeBotAPI:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _track_connection(self, conn: socket.socket, *, add: bool) -> None:
        with self._cond:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    # ---- update injection --------------------------------------------------------------------

    def push_update(self, update: JSON) -> JSON:
        """Queue a raw update for ``getUpdates`` and return it (with ``update_id`` filled in).

        Messages inside it are remembered, so the bot can later edit, delete or reply to them.
        Telegram's ``allowed_updates`` rules apply: with none set, ``chat_member`` and reaction
        updates are not delivered unless the bot asks for them.
        """
        update = copy.deepcopy(update)
        with self._cond:
            if "update_id" in update:
                next_id = next(self._update_ids)
                self._update_ids = itertools.count(max(next_id, int(update["update_id"]) + 1))
            else:
                update = {"update_id": next(self._update_ids), **update}
            for key in ("message", "edited_message", "channel_post", "edited_channel_post"):
                if isinstance(update.get(key), dict):
                    self._remember(update[key])
            self._updates.append(update)
            self._cond.notify_all()
            return copy.deepcopy(update)

    def send_text(
        self,
        user_id: int,
        text: str,
        *,
        chat_type: str = "private",
        chat_id: int | None = None,
        first_name: str = "Test",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
        entities: list[JSON] | None = None,
        reply_to_message_id: int | None = None,
    ) -> JSON:
        """A user sends ``text``. A leading ``/command`` gets its ``bot_command`` entity."""
        user = self._user(user_id, first_name, last_name, username, language_code)
        chat = self._chat_for(user, chat_type, chat_id)
        message = self._user_message(user, chat, text=text)
        if entities is None:
            entities = _command_entities(text)
        if entities:
            message["entities"] = entities
        if reply_to_message_id is not None:
            with self._cond:
                replied = self._messages.get((chat["id"], reply_to_message_id))
            if replied is not None:
                message["reply_to_message"] = copy.deepcopy(replied)
        return self.push_update({"message": message})

    def send_command(
        self,
        user_id: int,
        command: str,
        args: str | Iterable[str] = "",
        *,
        chat_type: str = "private",
        chat_id: int | None = None,
        first_name: str = "Test",
        username: str | None = None,
        language_code: str | None = "en",
        mention_bot: bool = False,
    ) -> JSON:
        """A user sends ``/command [args]`` (``mention_bot`` writes ``/command@botname``)."""
        name = command.removeprefix("/")
        if mention_bot:
            name = f"{name}@{self.username}"
        arg_text = args if isinstance(args, str) else " ".join(args)
        text = f"/{name} {arg_text}".rstrip()
        return self.send_text(
            user_id,
            text,
            chat_type=chat_type,
            chat_id=chat_id,
            first_name=first_name,
            username=username,
            language_code=language_code,
        )

    def send_callback(
        self,
        user_id: int,
        data: str,
        *,
        message: JSON | int | None = None,
        chat_id: int | None = None,
        first_name: str = "Test",
    ) -> JSON:
        """A user presses an inline button carrying ``data``.

        ``message`` is the message the button is on: by default the last message the bot sent to
        the chat (``chat_id``, default the user's private chat), so the press refers to a real bot
        message; an int picks a bot message by id. Raises ``LookupError`` if there is none.
        """
        chat_key = user_id if chat_id is None else chat_id
        with self._cond:
            if message is None:
                last = self._last_bot_message.get(chat_key)
                if last is None:
                    raise LookupError(
                        f"the bot has sent no message to chat {chat_key} to press a button on"
                    )
                message = last
            if isinstance(message, int):
                stored = self._messages.get((chat_key, message))
                if stored is None:
                    raise LookupError(f"no message {message} in chat {chat_key}")
                message = copy.deepcopy(stored)
            query_id = f"{user_id}{next(self._callback_ids):06d}"
            self._open_callback_queries.add(query_id)
        query = {
            "id": query_id,
            "from": self._user(user_id, first_name, None, None, "en"),
            "chat_instance": str(abs(hash(("chat_instance", chat_key))) % 10**18),
            "message": message,
            "data": data,
        }
        return self.push_update({"callback_query": query})

    def send_photo(
        self, user_id: int, *, caption: str | None = None, chat_id: int | None = None
    ) -> JSON:
        """A user sends a photo (two sizes, as Telegram delivers), with an optional caption."""
        sizes = [
            {
                "file_id": f"photo-{user_id}-{w}",
                "file_unique_id": f"ph{user_id}{w}",
                "width": w,
                "height": w * 3 // 4,
                "file_size": w * 50,
            }
            for w in (90, 1280)
        ]
        extra: JSON = {"photo": sizes}
        if caption is not None:
            extra["caption"] = caption
        return self._send_media(user_id, chat_id, extra)

    def send_sticker(self, user_id: int, *, emoji: str = "👍", chat_id: int | None = None) -> JSON:
        """A user sends a regular static sticker."""
        sticker = {
            "file_id": f"sticker-{user_id}",
            "file_unique_id": f"st{user_id}",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
        }
        return self._send_media(user_id, chat_id, {"sticker": sticker})

    def send_voice(self, user_id: int, *, duration: int = 3, chat_id: int | None = None) -> JSON:
        """A user sends a voice note."""
        voice = {
            "file_id": f"voice-{user_id}",
            "file_unique_id": f"vo{user_id}",
            "duration": duration,
            "mime_type": "audio/ogg",
            "file_size": duration * 4000,
        }
        return self._send_media(user_id, chat_id, {"voice": voice})

    def send_edited_text(
        self,
        user_id: int,
        text: str,
        *,
        message_id: int | None = None,
        chat_id: int | None = None,
    ) -> JSON:
        """The user edits one of their messages (default: their last one in the chat)."""
        chat_key = user_id if chat_id is None else chat_id
        with self._cond:
            if message_id is None:
                message_id = self._last_user_message.get((chat_key, user_id))
            original = self._messages.get((chat_key, message_id)) if message_id else None
            if original is None:
                raise LookupError(f"user {user_id} has no message to edit in chat {chat_key}")
            edited = copy.deepcopy(original)
        edited.update(text=text, edit_date=int(time.time()))
        edited.pop("entities", None)
        entities = _command_entities(text)
        if entities:
            edited["entities"] = entities
        return self.push_update({"edited_message": edited})

    def send_channel_post(
        self, text: str, *, channel_id: int = -1001000000001, title: str = "Test channel"
    ) -> JSON:
        """A post in a channel where the bot is an admin (no ``from``, as Telegram sends it)."""
        chat = {"id": channel_id, "type": "channel", "title": title}
        post = {
            "message_id": self._next_message_id(),
            "date": int(time.time()),
            "chat": chat,
            "sender_chat": chat,
            "text": text,
        }
        return self.push_update({"channel_post": post})

    def send_group_text(
        self,
        user_id: int,
        group_chat_id: int,
        text: str,
        mention: bool = False,
        *,
        first_name: str = "Test",
        username: str | None = None,
    ) -> JSON:
        """A user writes in a group; ``mention`` prefixes ``@botname`` with a mention entity.

        Chat ids starting with ``-100`` are supergroups, other ones basic groups.
        """
        chat_type = "supergroup" if str(group_chat_id).startswith("-100") else "group"
        entities: list[JSON] | None = None
        if mention:
            handle = f"@{self.username}"
            text = f"{handle} {text}"
            entities = [{"type": "mention", "offset": 0, "length": _u16(handle)}]
        return self.send_text(
            user_id,
            text,
            chat_type=chat_type,
            chat_id=group_chat_id,
            first_name=first_name,
            username=username,
            entities=entities,
        )

    # ---- inspection --------------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[Call]:
        """Recorded requests (all, or one method's), oldest first."""
        with self._cond:
            return [c for c in self._calls if method is None or c.method == method]

    def sent_messages(
        self, chat_id: int | str | None = None, *, include_failed: bool = False
    ) -> list[Call]:
        """``sendMessage`` and ``editMessageText`` calls that Telegram accepted, oldest first.

        ``include_failed`` adds the rejected ones (check ``call.ok`` / ``call.description``).
        """
        with self._cond:
            return [
                c
                for c in self._calls
                if c.method in ("sendMessage", "editMessageText")
                and (include_failed or c.ok)
                and (chat_id is None or str(c.params.get("chat_id")) == str(chat_id))
            ]

    def failed_calls(self) -> list[Call]:
        """Requests the fake answered with an error: assert it is empty at the end of a test."""
        with self._cond:
            return [c for c in self._calls if c.failed]

    def last_bot_message(self, chat_id: int | str) -> JSON | None:
        """The bot's latest message in a chat as it stands now (edits applied), or None."""
        with self._cond:
            message_id = self._last_bot_message.get(chat_id)
            message = self._messages.get((chat_id, message_id)) if message_id else None
            return copy.deepcopy(message)

    def pending_updates(self) -> list[JSON]:
        """Updates not yet confirmed by the bot (``getUpdates`` with a higher offset)."""
        with self._cond:
            return copy.deepcopy(self._updates)

    def clear_calls(self) -> None:
        """Forget recorded calls, so counts in :meth:`wait_for` start again from zero."""
        with self._cond:
            self._calls = [c for c in self._calls if c.method == "getUpdates" and not c.status]

    def add_listener(self, listener: Callable[[Call], None]) -> None:
        """Call ``listener(call)`` after each answered request (runs on a server thread)."""
        with self._cond:
            self._listeners.append(listener)

    def wait_for(
        self,
        method: str | None,
        count: int = 1,
        timeout: float = 5.0,
        predicate: Callable[[Call], bool] | None = None,
    ) -> list[Call]:
        """Block until ``count`` recorded calls match, and return all matching calls.

        For threads and sync tests only: it blocks, so never call it on an event loop (use
        :meth:`async_wait_for`). Counts include calls made before the wait (see
        :meth:`clear_calls`). Raises ``TimeoutError`` listing the calls seen.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = self._matching(method, predicate)
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._timeout_error(method, count, timeout, predicate, found)
                self._cond.wait(remaining)

    async def async_wait_for(
        self,
        method: str | None,
        count: int = 1,
        timeout: float = 5.0,
        predicate: Callable[[Call], bool] | None = None,
        *,
        interval: float = 0.01,
    ) -> list[Call]:
        """Like :meth:`wait_for`, but polls with ``await asyncio.sleep``: the loop keeps running."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            with self._cond:
                found = self._matching(method, predicate)
            if len(found) >= count:
                return found
            if loop.time() >= deadline:
                with self._cond:
                    raise self._timeout_error(method, count, timeout, predicate, found)
            await asyncio.sleep(interval)

    def _matching(self, method: str | None, predicate: Callable[[Call], bool] | None) -> list[Call]:
        return [
            c
            for c in self._calls
            if (method is None or c.method == method) and (predicate is None or predicate(c))
        ]

    def _timeout_error(
        self,
        method: str | None,
        count: int,
        timeout: float,
        predicate: Callable[[Call], bool] | None,
        found: list[Call],
    ) -> TimeoutError:
        what = method or "any method"
        extra = " matching the predicate" if predicate else ""
        recent = "\n  ".join(c.short() for c in self._calls[-20:]) or "(none)"
        return TimeoutError(
            f"waited {timeout}s for {count} {what} call(s){extra}, got {len(found)}.\n"
            f"Last calls:\n  {recent}"
        )

    # ---- failure injection and extension -----------------------------------------------------

    def fail_next(
        self,
        method: str,
        *,
        status: int = 429,
        retry_after: int = 1,
        times: int = 1,
        description: str | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with an error instead of handling them.

        A 429 carries ``parameters.retry_after`` (PTB raises ``RetryAfter``; ``AIORateLimiter``
        waits and retries); ``retry_after`` is ignored for other statuses, whose description
        defaults to Telegram's usual one (403 "Forbidden: bot was blocked by the user", ...).
        Calls to ``fail_next`` queue up in order.
        """
        if status == 429:
            desc = description or f"Too Many Requests: retry after {retry_after}"
            parameters: JSON | None = {"retry_after": retry_after}
        else:
            desc = description or _DEFAULT_DESCRIPTIONS.get(status, "Error")
            parameters = None
        with self._cond:
            queue = self._failures.setdefault(_CANONICAL.get(method.lower(), method), [])
            queue.extend(_Failure(status, desc, parameters) for _ in range(times))

    def reject_token(self, rejected: bool = True) -> None:
        """Answer every request 401 Unauthorized, as Telegram does for a revoked token.

        PTB then raises ``InvalidToken`` from ``Application.initialize()``.
        """
        with self._cond:
            self._token_rejected = rejected

    def on_method(self, method: str, handler: MethodHandler) -> None:
        """Answer ``method`` with ``handler(params)`` (its return value is the ``result``).

        Extends or overrides the built-in methods without editing the fake. The handler runs on
        a server thread while the fake's lock is held: keep it quick, and raise
        :class:`BotAPIError` for an error answer.
        """
        with self._cond:
            self._custom[method.lower()] = handler

    # ---- request handling --------------------------------------------------------------------

    def _handle_http(
        self,
        path: str,
        query: str,
        content_type: str,
        body: bytes,
        client_alive: Callable[[], bool],
    ) -> tuple[int, JSON | None]:
        """Route ``/bot<token>/<method>``; returns (status, body) or body None to hang up."""
        if not path.startswith("/bot") or "/" not in path[4:]:
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        token, _, method_name = path[4:].partition("/")
        if not method_name:
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        method = _CANONICAL.get(method_name.lower(), method_name)
        try:
            raw = _parse_body(content_type, body, query)
        except ValueError:
            return 400, _bad_request("can't parse request body").payload()
        call = Call(
            method,
            decode_params(raw),
            time.monotonic(),
            raw={k: v if isinstance(v, str) else json.dumps(v) for k, v in raw.items()},
        )
        with self._cond:
            self._calls.append(call)
            self._cond.notify_all()
            try:
                if token != self._token or self._token_rejected:
                    raise BotAPIError(401, "Unauthorized")
                failures = self._failures.get(method)
                if failures:
                    failure = failures.pop(0)
                    raise BotAPIError(failure.status, failure.description, failure.parameters)
                result = self._dispatch(call, client_alive)
            except BotAPIError as exc:
                status, payload = exc.status, exc.payload()
            except _HangUp:
                status, payload = 0, None
            except Exception as exc:  # a bug in an on_method handler: answer, don't hang
                status = 500
                payload = {
                    "ok": False,
                    "error_code": 500,
                    "description": f"Internal Server Error: {exc!r}",
                }
            else:
                status, payload = 200, {"ok": True, "result": result}
            if payload is not None:
                call.status, call.response = status, payload
            listeners = list(self._listeners)
            self._cond.notify_all()
        for listener in listeners:
            listener(call)
        return status, copy.deepcopy(payload)

    def _dispatch(self, call: Call, client_alive: Callable[[], bool]) -> Any:
        custom = self._custom.get(call.method.lower())
        if custom is not None:
            return custom(call.params)
        if call.method == "getUpdates":
            return self._get_updates(call.params, client_alive)
        handler = self._HANDLERS.get(call.method)
        if handler is None:
            raise _bad_request(f"method {call.method} not found")
        return handler(self, call.params)

    # Everything below runs with self._cond held.

    def _get_updates(self, params: JSON, client_alive: Callable[[], bool]) -> list[JSON]:
        if self._webhook is not None:
            raise BotAPIError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use "
                "deleteWebhook to delete the webhook first",
            )
        offset = params.get("offset")
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = min(max(float(params.get("timeout") or 0), 0.0), MAX_POLL_TIMEOUT)
        if "allowed_updates" in params:
            self._allowed_updates = list(params["allowed_updates"] or []) or None
        if isinstance(offset, int) and offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif isinstance(offset, int) and offset < 0:
            self._updates = self._updates[offset:]
        # A newer getUpdates terminates an older one still waiting, as on Telegram.
        self._poll_generation += 1
        generation = self._poll_generation
        self._cond.notify_all()
        deadline = time.monotonic() + timeout
        while True:
            if self._stopping:
                return []
            if generation != self._poll_generation:
                if not client_alive():
                    raise _HangUp
                raise BotAPIError(409, _CONFLICT_POLL)
            self._updates = [u for u in self._updates if self._deliverable(u)]
            if self._updates:
                return copy.deepcopy(self._updates[:limit])
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            if not client_alive():
                raise _HangUp
            self._cond.wait(min(remaining, 0.1))

    def _deliverable(self, update: JSON) -> bool:
        kind = next((k for k in update if k != "update_id"), "")
        if self._allowed_updates is None:
            return kind not in _NOT_DELIVERED_BY_DEFAULT
        return kind in self._allowed_updates

    def _get_me(self, params: JSON) -> JSON:
        return copy.deepcopy(self.bot_user)

    def _send_message(self, params: JSON) -> JSON:
        chat_id = _require(params, "chat_id", "chat_id is empty")
        text, entities = self._format_text(params)
        markup = params.get("reply_markup")
        _check_reply_markup(markup)
        message = self._bot_message(chat_id, {"text": text})
        if entities:
            message["entities"] = entities
        self._attach_reply(message, params)
        inline = _inline_markup(markup)
        if inline:
            message["reply_markup"] = inline
        self._remember(message)
        return copy.deepcopy(message)

    def _send_photo(self, params: JSON) -> JSON:
        chat_id = _require(params, "chat_id", "chat_id is empty")
        _require(params, "photo", "there is no photo in the request")
        sizes = [
            {
                "file_id": f"bot-photo-{w}",
                "file_unique_id": f"bp{w}",
                "width": w,
                "height": w * 3 // 4,
                "file_size": w * 50,
            }
            for w in (90, 1280)
        ]
        return self._send_with_caption(chat_id, params, {"photo": sizes})

    def _send_document(self, params: JSON) -> JSON:
        chat_id = _require(params, "chat_id", "chat_id is empty")
        document = _require(params, "document", "there is no document in the request")
        name = document.get("filename") if isinstance(document, dict) else None
        doc = {
            "file_id": "bot-document",
            "file_unique_id": "bd1",
            "file_name": name or "document",
            "file_size": 1024,
        }
        return self._send_with_caption(chat_id, params, {"document": doc})

    def _send_with_caption(self, chat_id: int | str, params: JSON, media: JSON) -> JSON:
        markup = params.get("reply_markup")
        _check_reply_markup(markup)
        message = self._bot_message(chat_id, media)
        caption = params.get("caption")
        if caption:
            plain, entities = self._format(
                caption, params.get("parse_mode"), params.get("caption_entities")
            )
            if len(plain) > 1024:
                raise _bad_request("message caption is too long")
            message["caption"] = plain
            if entities:
                message["caption_entities"] = entities
        inline = _inline_markup(markup)
        if inline:
            message["reply_markup"] = inline
        self._remember(message)
        return copy.deepcopy(message)

    def _edit_message_text(self, params: JSON) -> JSON | bool:
        text, entities = self._format_text(params)
        markup = params.get("reply_markup")
        _check_reply_markup(markup)
        if params.get("inline_message_id"):
            return True
        message = self._editable(params, "message to edit not found")
        if "text" not in message:
            raise _bad_request("there is no text in the message to edit")
        inline = _inline_markup(markup)
        if (message["text"], message.get("entities") or None, message.get("reply_markup")) == (
            text,
            entities or None,
            inline,
        ):
            raise _bad_request(_NOT_MODIFIED)
        message["text"] = text
        _set_or_drop(message, "entities", entities or None)
        _set_or_drop(message, "reply_markup", inline)
        message["edit_date"] = int(time.time())
        return copy.deepcopy(message)

    def _edit_message_reply_markup(self, params: JSON) -> JSON | bool:
        markup = params.get("reply_markup")
        _check_reply_markup(markup)
        if params.get("inline_message_id"):
            return True
        message = self._editable(params, "message to edit not found")
        inline = _inline_markup(markup)
        if message.get("reply_markup") == inline:
            raise _bad_request(_NOT_MODIFIED)
        _set_or_drop(message, "reply_markup", inline)
        message["edit_date"] = int(time.time())
        return copy.deepcopy(message)

    def _delete_message(self, params: JSON) -> bool:
        chat_id = _require(params, "chat_id", "chat_id is empty")
        message_id = _require(params, "message_id", "message identifier is not specified")
        if self._messages.pop((chat_id, message_id), None) is None:
            raise _bad_request("message to delete not found")
        return True

    def _answer_callback_query(self, params: JSON) -> bool:
        query_id = str(params.get("callback_query_id", ""))
        if query_id not in self._open_callback_queries:
            raise _bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        self._open_callback_queries.discard(query_id)
        return True

    def _set_my_commands(self, params: JSON) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise _bad_request("can't parse commands JSON object")
        for command in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command", ""))):
                raise _bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise _bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        self._commands[_commands_key(params)] = copy.deepcopy(commands)
        return True

    def _get_my_commands(self, params: JSON) -> list[JSON]:
        return copy.deepcopy(self._commands.get(_commands_key(params), []))

    def _delete_my_commands(self, params: JSON) -> bool:
        self._commands.pop(_commands_key(params), None)
        return True

    def _set_webhook(self, params: JSON) -> bool:
        url = str(params.get("url") or "")
        if not url:
            self._webhook = None
            return True
        if not url.startswith("https://"):
            raise _bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        self._webhook = {"url": url, "has_custom_certificate": False}
        if params.get("max_connections"):
            self._webhook["max_connections"] = params["max_connections"]
        if params.get("allowed_updates"):
            self._allowed_updates = list(params["allowed_updates"])
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _delete_webhook(self, params: JSON) -> bool:
        self._webhook = None
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _get_webhook_info(self, params: JSON) -> JSON:
        info: JSON = {"url": "", "has_custom_certificate": False}
        if self._webhook:
            info.update(self._webhook)
            if self._allowed_updates:
                info["allowed_updates"] = list(self._allowed_updates)
        info["pending_update_count"] = len(self._updates)
        return info

    def _true(self, params: JSON) -> bool:
        return True

    def _send_chat_action(self, params: JSON) -> bool:
        _require(params, "chat_id", "chat_id is empty")
        _require(params, "action", "wrong parameter action in request")
        return True

    _HANDLERS: ClassVar[dict[str, Callable[[FakeBotAPI, JSON], Any]]] = {
        "getMe": _get_me,
        "sendMessage": _send_message,
        "sendPhoto": _send_photo,
        "sendDocument": _send_document,
        "editMessageText": _edit_message_text,
        "editMessageReplyMarkup": _edit_message_reply_markup,
        "deleteMessage": _delete_message,
        "answerCallbackQuery": _answer_callback_query,
        "sendChatAction": _send_chat_action,
        "setMyCommands": _set_my_commands,
        "getMyCommands": _get_my_commands,
        "deleteMyCommands": _delete_my_commands,
        "setWebhook": _set_webhook,
        "deleteWebhook": _delete_webhook,
        "getWebhookInfo": _get_webhook_info,
        "setMyDescription": _true,
        "setMyShortDescription": _true,
        "setChatMenuButton": _true,
        "logOut": _true,
        "close": _true,
    }

    # ---- helpers (lock held where they touch state) ------------------------------------------

    def _format_text(self, params: JSON) -> tuple[str, list[JSON]]:
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise _bad_request("message text is empty")
        plain, entities = self._format(text, params.get("parse_mode"), params.get("entities"))
        if not plain.strip():
            raise _bad_request("message text is empty")
        if len(plain) > MAX_MESSAGE_LENGTH:
            raise _bad_request("message is too long")
        return plain, entities

    @staticmethod
    def _format(text: str, parse_mode: Any, entities: Any) -> tuple[str, list[JSON]]:
        mode = str(parse_mode or "").lower()
        if mode == "html":
            return parse_html(text)
        if mode == "markdownv2":
            check_markdown_v2(text)
        elif mode not in ("", "markdown"):
            raise _bad_request(f"unsupported parse_mode {parse_mode}")
        return text, list(entities) if isinstance(entities, list) else []

    def _editable(self, params: JSON, missing: str) -> JSON:
        chat_id = _require(params, "chat_id", "chat_id is empty")
        message_id = _require(params, "message_id", "message identifier is not specified")
        message = self._messages.get((chat_id, message_id))
        if message is None:
            raise _bad_request(missing)
        if message.get("from", {}).get("id") != self.bot_user["id"]:
            raise _bad_request("message can't be edited")
        return message

    def _attach_reply(self, message: JSON, params: JSON) -> None:
        reply = params.get("reply_parameters")
        reply_id = reply.get("message_id") if isinstance(reply, dict) else None
        reply_id = reply_id or params.get("reply_to_message_id")
        replied = self._messages.get((message["chat"]["id"], reply_id)) if reply_id else None
        if replied is not None:
            message["reply_to_message"] = copy.deepcopy(replied)

    def _bot_message(self, chat_id: int | str, content: JSON) -> JSON:
        chat = copy.deepcopy(self._chats.get(chat_id) or _guess_chat(chat_id))
        message = {
            "message_id": self._next_message_id(),
            "from": copy.deepcopy(self.bot_user),
            "chat": chat,
            "date": int(time.time()),
        }
        message.update(content)
        return message

    def _remember(self, message: JSON) -> None:
        chat = message.get("chat") or {}
        chat_id = chat.get("id")
        if chat_id is None:
            return
        self._chats.setdefault(chat_id, copy.deepcopy(chat))
        self._messages[(chat_id, message["message_id"])] = message
        sender = (message.get("from") or {}).get("id")
        if sender == self.bot_user["id"]:
            self._last_bot_message[chat_id] = message["message_id"]
        elif sender is not None:
            self._last_user_message[(chat_id, sender)] = message["message_id"]

    def _next_message_id(self) -> int:
        with self._cond:
            return next(self._message_ids)

    @staticmethod
    def _user(
        user_id: int,
        first_name: str,
        last_name: str | None,
        username: str | None,
        language_code: str | None,
    ) -> JSON:
        user: JSON = {"id": user_id, "is_bot": False, "first_name": first_name}
        for key, value in (
            ("last_name", last_name),
            ("username", username),
            ("language_code", language_code),
        ):
            if value is not None:
                user[key] = value
        return user

    @staticmethod
    def _chat_for(user: JSON, chat_type: str, chat_id: int | None) -> JSON:
        if chat_type == "private":
            chat = {k: user[k] for k in ("first_name", "last_name", "username") if k in user}
            return {"id": user["id"] if chat_id is None else chat_id, "type": "private", **chat}
        if chat_id is None:
            chat_id = -1001000000000 - user["id"] if chat_type != "group" else -user["id"]
        return {"id": chat_id, "type": chat_type, "title": f"Test {chat_type}"}

    def _user_message(self, user: JSON, chat: JSON, **content: Any) -> JSON:
        return {
            "message_id": self._next_message_id(),
            "from": user,
            "chat": chat,
            "date": int(time.time()),
            **content,
        }

    def _send_media(self, user_id: int, chat_id: int | None, content: JSON) -> JSON:
        user = self._user(user_id, "Test", None, None, "en")
        chat = self._chat_for(user, "private" if chat_id is None else _type_of(chat_id), chat_id)
        return self.push_update({"message": self._user_message(user, chat, **content)})


class _HangUp(Exception):
    """The client closed the connection while we held its request: send nothing."""


_CANONICAL = {name.lower(): name for name in [*FakeBotAPI._HANDLERS, "getUpdates"]}


def _require(params: JSON, name: str, message: str) -> Any:
    value = params.get(name)
    if value is None or value == "":
        raise _bad_request(message)
    return value


def _set_or_drop(message: JSON, key: str, value: Any) -> None:
    if value is None:
        message.pop(key, None)
    else:
        message[key] = value


def _commands_key(params: JSON) -> tuple[str, str]:
    scope = params.get("scope") or {"type": "default"}
    return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")


def _type_of(chat_id: int | str) -> str:
    text = str(chat_id)
    if text.startswith("@"):
        return "channel"
    if text.startswith("-100"):
        return "supergroup"
    return "group" if text.startswith("-") else "private"


def _guess_chat(chat_id: int | str) -> JSON:
    """A chat the bot writes to without having seen it (a broadcast to a stored user id)."""
    kind = _type_of(chat_id)
    if kind == "private":
        return {"id": chat_id, "type": "private", "first_name": "User"}
    if kind == "channel":
        return {
            "id": -1009999999999,
            "type": "channel",
            "title": str(chat_id),
            "username": str(chat_id)[1:],
        }
    return {"id": chat_id, "type": kind, "title": f"Test {kind}"}


def _command_entities(text: str) -> list[JSON]:
    """A ``bot_command`` entity for a leading ``/command`` (PTB routes commands on it)."""
    match = re.match(r"/[A-Za-z0-9_]{1,32}(@[A-Za-z0-9_]+)?", text)
    if not match:
        return []
    return [{"type": "bot_command", "offset": 0, "length": _u16(match.group(0))}]


# --------------------------------------------------------------------------------------------
# Standalone use
# --------------------------------------------------------------------------------------------


def _run_script(fake: FakeBotAPI, steps: list[JSON]) -> None:
    """Inject scripted updates. Each step is a raw update, or one of the shorthand forms
    ``{"sleep": s}``, ``{"wait_for": "sendMessage", "count": n, "timeout": s}``,
    ``{"text": ..., "user_id": ...}``, ``{"command": ..., "user_id": ...}``,
    ``{"callback": data, "user_id": ...}``, ``{"photo"|"sticker"|"voice": true, "user_id": ...}``.
    """
    for step in steps:
        user_id = int(step.get("user_id", 1))
        if "sleep" in step:
            time.sleep(float(step["sleep"]))
        elif "wait_for" in step:
            fake.wait_for(
                step["wait_for"], int(step.get("count", 1)), float(step.get("timeout", 30))
            )
        elif "text" in step:
            fake.send_text(user_id, step["text"])
        elif "command" in step:
            fake.send_command(user_id, step["command"], step.get("args", ""))
        elif "callback" in step:
            fake.send_callback(user_id, step["callback"])
        elif step.get("photo"):
            fake.send_photo(user_id, caption=step.get("caption"))
        elif step.get("sticker"):
            fake.send_sticker(user_id)
        elif step.get("voice"):
            fake.send_voice(user_id)
        else:
            fake.push_update(step)


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM/Ctrl-C; the first stdout line is the base URL."""
    parser = argparse.ArgumentParser(description="Fake Telegram Bot API for local testing.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081, help="0 picks a free port")
    parser.add_argument("--token", default="123456:TEST")
    parser.add_argument("--username", default="rightsdesk_test_bot")
    parser.add_argument("--script", help="JSON list of updates to inject (see _run_script)")
    parser.add_argument(
        "--log-calls", action="store_true", help="print each answered call as a JSON line on stdout"
    )
    args = parser.parse_args(argv)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    fake = FakeBotAPI(args.token, username=args.username, host=args.host, port=args.port)
    fake.start()
    print(fake.base_url, flush=True)
    print(f"token: {fake.token}  (Ctrl-C or SIGTERM to stop)", file=sys.stderr, flush=True)
    if args.log_calls:
        fake.add_listener(
            lambda c: print(
                json.dumps(
                    {"method": c.method, "params": c.params, "status": c.status},
                    ensure_ascii=False,
                    default=str,
                ),
                flush=True,
            )
        )
    if args.script:
        with open(args.script, encoding="utf-8") as handle:
            steps = json.load(handle)
        threading.Thread(target=_run_script, args=(fake, steps), daemon=True).start()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
