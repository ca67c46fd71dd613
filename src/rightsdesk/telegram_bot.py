"""The Telegram adapter: updates in, :class:`~rightsdesk.conversation.Reply` out.

It decides nothing about content (that is the conversation core's job). What lives here is
what only Telegram has: HTML formatting and the 4096-character limit, inline keyboards,
rate limits and retries, per-user flood control, group etiquette, admin commands, and
handing each question to the query log with the sender's names for redaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import re
import secrets
import sys
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.constants import ChatType, MessageLimit, ParseMode
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, RetryAfter
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from rightsdesk.config import ConfigError, Settings
from rightsdesk.conversation import Block, Conversation, Reply
from rightsdesk.knowledge_base import KnowledgeBase, load_knowledge_base
from rightsdesk.matching import Matcher, MatchResult
from rightsdesk.messages import load_messages
from rightsdesk.query_log import NullQueryLog, QueryEvent, QueryLog

log = logging.getLogger("rightsdesk.telegram")

TEXT_LIMIT = MessageLimit.MAX_TEXT_LENGTH  # 4096
SEND_ATTEMPTS = 3
# Updates handled at once. Measured with tests/bench_telegram.py: 8 beat both 4 and 16, and
# PTB's default of 256 spent most of its time in httpx's connection-pool bookkeeping.
CONCURRENT_UPDATES = 8
FLOOD_USERS_KEPT = 10_000
COMMANDS = (
    ("start", "What this bot is and how to ask"),
    ("topics", "Browse the Guidelines part by part"),
    ("examples", "Good practice from the region"),
    ("privacy", "What is kept and what never is"),
    ("help", "How to use the bot"),
    ("about", "Sources and review dates"),
)
AnyLog = QueryLog | NullQueryLog


# -- formatting ---------------------------------------------------------------------------


def render_html(reply: Reply, *, limit: int = TEXT_LIMIT) -> list[str]:
    """The reply as Telegram HTML, split at paragraph boundaries into messages <= ``limit``.

    Every knowledge base text is escaped, and tags never span a split, so no raw markup can
    reach the user and no split can leave a tag open.
    """
    units: list[str] = []
    for block in reply.blocks:
        units.extend(_html_units(block, limit))
    chunks: list[str] = []
    current = ""
    for unit in units:
        candidate = f"{current}\n\n{unit}" if current else unit
        if len(candidate) <= limit:
            current = candidate
            continue
        if current:
            chunks.append(current)
        current = unit
    if current:
        chunks.append(current)
    return chunks or [""]


def _html_units(block: Block, limit: int) -> list[str]:
    """One block as one or more paragraphs, each short enough to send alone."""
    if block.style == "bullets":
        lines = [f"• {html.escape(item)}" for item in block.items]
        paragraphs: list[str] = []
        current = ""
        for line in lines:
            for piece in _hard_wrap(line, limit):
                candidate = f"{current}\n{piece}" if current else piece
                if len(candidate) > limit:
                    paragraphs.append(current)
                    current = piece
                else:
                    current = candidate
        return [*paragraphs, current] if current else paragraphs
    wrap = {"title": "b", "heading": "b", "source": "i", "note": "i"}.get(block.style)
    overhead = 7 if wrap else 0
    out = []
    for paragraph in block.text.split("\n\n"):
        # Escape after wrapping so an entity such as &amp; is never cut in half.
        for piece in _hard_wrap(paragraph, limit - overhead, escaped=False):
            text = html.escape(piece)
            out.append(f"<{wrap}>{text}</{wrap}>" if wrap else text)
    return out


def _hard_wrap(text: str, limit: int, *, escaped: bool = True) -> list[str]:
    # Escaping can grow a text up to 5 times (& -> &amp;), so unescaped pieces are kept small.
    budget = limit if escaped else limit // 5
    if len(text) <= budget:
        return [text]
    pieces: list[str] = []
    while len(text) > budget:
        cut = text.rfind(" ", 0, budget)
        cut = cut if cut > budget // 2 else budget
        pieces.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        pieces.append(text)
    return pieces


def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    if not reply.buttons:
        return None
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(b.label, callback_data=b.data) for b in row]
            for row in reply.buttons
        ]
    )


# -- flood control ------------------------------------------------------------------------


class FloodGate:
    """At most ``limit`` messages per user per ``window_s``; the rest get one polite warning.

    Counts live in memory only and are keyed by the Telegram id, which is never written down.
    """

    def __init__(self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.window_s = window_s
        self.clock = clock
        self._seen: dict[int, deque[float]] = defaultdict(deque)
        self._warned: dict[int, float] = {}

    def allow(self, user_id: int) -> bool | None:
        """True to handle, None to warn once, False to drop quietly."""
        now = self.clock()
        if len(self._seen) > FLOOD_USERS_KEPT:
            self._forget_quiet_users(now)
        seen = self._seen[user_id]
        while seen and now - seen[0] > self.window_s:
            seen.popleft()
        if len(seen) < self.limit:
            seen.append(now)
            self._warned.pop(user_id, None)
            return True
        if now - self._warned.get(user_id, -self.window_s - 1) > self.window_s:
            self._warned[user_id] = now
            return None
        return False

    def _forget_quiet_users(self, now: float) -> None:
        # Keeps memory flat on a bot that meets many people: only recent senders are kept.
        for user_id in [
            u for u, seen in self._seen.items() if not seen or now - seen[-1] > self.window_s
        ]:
            del self._seen[user_id]
            self._warned.pop(user_id, None)


# -- the bot ------------------------------------------------------------------------------


@dataclass
class BotDeps:
    """What the handlers share, kept in ``application.bot_data``."""

    conversation: Conversation
    query_log: AnyLog
    settings: Settings
    flood: FloodGate


def _deps(context: ContextTypes.DEFAULT_TYPE) -> BotDeps:
    return context.application.bot_data["deps"]


def _lang(update: Update, deps: BotDeps) -> str:
    user = update.effective_user
    return deps.conversation.messages.language_for(user.language_code if user else None)


def _sender_names(update: Update) -> tuple[str, ...]:
    user = update.effective_user
    if user is None:
        return ()
    return tuple(n for n in (user.first_name, user.last_name, user.username) if n)


async def send_reply(message: Message, reply: Reply) -> None:
    """Send a reply as one or more messages; buttons go on the last one."""
    chunks = render_html(reply)
    markup = keyboard(reply)
    for index, chunk in enumerate(chunks):
        last = index == len(chunks) - 1
        await _with_retries(
            lambda chunk=chunk, last=last: message.reply_text(
                chunk,
                parse_mode=ParseMode.HTML,
                reply_markup=markup if last else None,
                do_quote=False,
            )
        )


async def _with_retries(send: Callable[[], Any]) -> Any:
    """Retry network errors, timeouts and a RetryAfter that outlived the rate limiter."""
    for attempt in range(1, SEND_ATTEMPTS + 1):
        try:
            return await send()
        except (BadRequest, Forbidden, InvalidToken):
            raise  # retrying cannot fix these
        except RetryAfter as error:
            if attempt == SEND_ATTEMPTS:
                raise
            await asyncio.sleep(_seconds(error.retry_after))
        except NetworkError:
            if attempt == SEND_ATTEMPTS:
                raise
            await asyncio.sleep(0.5 * attempt)
    return None


def _seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


async def _gate(update: Update, deps: BotDeps) -> bool:
    user = update.effective_user
    if user is None:
        return True
    verdict = deps.flood.allow(user.id)
    if verdict is None and update.effective_message is not None:
        await send_reply(
            update.effective_message, deps.conversation.simple("flood", _lang(update, deps))
        )
    return bool(verdict)


async def answer_question(update: Update, context: ContextTypes.DEFAULT_TYPE, text: str) -> None:
    deps = _deps(context)
    message = update.effective_message
    if message is None or not await _gate(update, deps):
        return
    lang = _lang(update, deps)
    started = time.perf_counter()
    asked = deps.conversation.ask(text, lang)
    handling_ms = (time.perf_counter() - started) * 1000.0
    key = _record(deps, update, text, lang, asked.result, handling_ms)
    await send_reply(message, asked.reply(key))


def query_event(
    text: str,
    lang: str,
    result: MatchResult,
    kb_version: str,
    *,
    handling_ms: float = 0.0,
    user_id: int = 0,
    sender_names: tuple[str, ...] = (),
) -> QueryEvent:
    """What the query log is told about one question (it anonymises before writing)."""
    best = result.best
    return QueryEvent(
        text=text,
        lang=lang,
        decision=result.decision,
        top_id=best.entry.id if best else None,
        top_score=best.score if best else None,
        runner_up_ids=tuple(m.entry.id for m in result.matches[1:4]),
        kb_version=kb_version,
        handling_ms=handling_ms,
        user_id=user_id,
        sender_names=sender_names,
        at=datetime.now(UTC),
    )


def _record(
    deps: BotDeps, update: Update, text: str, lang: str, result: MatchResult, handling_ms: float
) -> str:
    user = update.effective_user
    event = query_event(
        text,
        lang,
        result,
        deps.conversation.kb.version,
        handling_ms=handling_ms,
        user_id=user.id if user else 0,
        sender_names=_sender_names(update),
    )
    try:
        return deps.query_log.record_query(event)
    except Exception:  # a log failure must never cost the user an answer
        log.exception("query log failed")
        return "-"


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    if message and message.text:
        await answer_question(update, context, message.text)


async def on_group_mention(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    username = context.bot.username
    if not message or not message.text or not username:
        return
    mention = re.compile(rf"@{re.escape(username)}\b", re.IGNORECASE)
    if not mention.search(message.text):
        return
    text = " ".join(mention.sub(" ", message.text).split())
    if text:
        await answer_question(update, context, text)
    else:
        deps = _deps(context)
        await send_reply(message, deps.conversation.help(_lang(update, deps)))


def _command(name: str) -> Callable[[Update, ContextTypes.DEFAULT_TYPE], Any]:
    async def handler(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        deps = _deps(context)
        message = update.effective_message
        if message is None or not await _gate(update, deps):
            return
        lang = _lang(update, deps)
        c = deps.conversation
        replies = {
            "start": c.start,
            "help": c.help,
            "topics": c.topics,
            "examples": c.countries,
            "privacy": c.privacy,
            "about": c.about,
        }
        await send_reply(message, replies[name](lang))

    handler.__name__ = f"on_{name}"
    return handler


def _admin_command(name: str) -> Callable[[Update, ContextTypes.DEFAULT_TYPE], Any]:
    async def handler(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        deps = _deps(context)
        message = update.effective_message
        user = update.effective_user
        if message is None:
            return
        lang = _lang(update, deps)
        # Anyone else sees exactly what an unknown command gets: the command does not exist.
        if user is None or user.id not in deps.settings.admins:
            await send_reply(message, deps.conversation.simple("unknown_command", lang))
            return
        from rightsdesk import admin_reports

        settings = deps.settings

        def report() -> str:
            if name == "stats":
                found = admin_reports.stats(settings.db_path, since=None, k=settings.k_anonymity)
                return admin_reports.format_stats(found)
            groups, withheld = admin_reports.gaps(settings.db_path, k=settings.k_anonymity)
            return admin_reports.format_gaps(groups, withheld)

        try:
            # Grouping thousands of questions takes seconds: keep other users' replies flowing.
            text = await asyncio.to_thread(report)
        except Exception:
            log.exception("admin report failed")
            text = deps.conversation.messages.get("error", lang)
        await send_reply(message, Reply((Block("text", text),)))

    handler.__name__ = f"on_{name}"
    return handler


def _one_line(key: str) -> Callable[[Update, ContextTypes.DEFAULT_TYPE], Any]:
    """A handler that answers with one of the bot's own texts (photos, edits, unknown ...)."""

    async def handler(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        deps = _deps(context)
        message = update.effective_message
        if message is None or not await _gate(update, deps):
            return
        await send_reply(message, deps.conversation.simple(key, _lang(update, deps)))

    handler.__name__ = f"on_{key}"
    return handler


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    deps = _deps(context)
    query = update.callback_query
    if query is None:
        return
    # Answer at once so the phone stops its spinner, whatever happens next.
    with contextlib.suppress(BadRequest):
        await query.answer()
    if not await _gate(update, deps):
        return
    lang = _lang(update, deps)
    pressed = deps.conversation.press(query.data or "", lang)
    now = datetime.now(UTC)
    try:
        if pressed.feedback:
            deps.query_log.record_feedback(*pressed.feedback, at=now)
        if pressed.choice:
            deps.query_log.record_choice(*pressed.choice, at=now)
    except Exception:
        log.exception("query log failed")
    message = query.message
    if not isinstance(message, Message):
        return  # an inaccessible old message: nothing to reply under
    if pressed.ask:
        await answer_question(update, context, pressed.ask)
    elif pressed.reply:
        await send_reply(message, pressed.reply)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log what failed without the user's text; tell the user something went wrong."""
    error = context.error
    update_id = update.update_id if isinstance(update, Update) else None
    trace = (type(error), error, error.__traceback__) if error else None
    log.error("update %s failed: %s", update_id, type(error).__name__, exc_info=trace)
    context.application.bot_data["errors"] = context.application.bot_data.get("errors", 0) + 1
    if isinstance(update, Update) and update.effective_message and update.effective_chat:
        if update.effective_chat.type != ChatType.PRIVATE:
            return
        deps = _deps(context)
        with contextlib.suppress(Exception):
            await update.effective_message.reply_text(
                deps.conversation.messages.get("error", _lang(update, deps))
            )


def build_application(
    settings: Settings,
    conversation: Conversation,
    query_log: AnyLog,
    *,
    builder: ApplicationBuilder | None = None,
    rate_limited: bool = True,
) -> Application:
    """The python-telegram-bot Application with every handler.

    ``builder`` lets tests set timeouts; ``rate_limited=False`` exists only to measure what
    the bot itself can handle: in production Telegram's limits must be respected.
    """
    assert settings.token, "build_application needs a token"
    builder = (builder or ApplicationBuilder()).token(settings.token).base_url(settings.api_url)
    if rate_limited:
        builder = builder.rate_limiter(AIORateLimiter(max_retries=3))
    builder = (
        builder.concurrent_updates(CONCURRENT_UPDATES)
        .connection_pool_size(CONCURRENT_UPDATES)
        .post_init(_post_init)
    )
    app = builder.build()
    app.bot_data["deps"] = BotDeps(
        conversation=conversation,
        query_log=query_log,
        settings=settings,
        flood=FloodGate(settings.flood_limit, settings.flood_window_s),
    )
    private = filters.ChatType.PRIVATE
    new = filters.UpdateType.MESSAGE
    for name, _ in COMMANDS:
        app.add_handler(CommandHandler(name, _command(name), filters=new))
    for name in ("stats", "gaps"):
        app.add_handler(CommandHandler(name, _admin_command(name), filters=new & private))
    app.add_handler(CallbackQueryHandler(on_button))
    app.add_handler(MessageHandler(new & private & filters.TEXT & ~filters.COMMAND, on_text))
    app.add_handler(MessageHandler(new & private & filters.COMMAND, _one_line("unknown_command")))
    groups = filters.ChatType.GROUPS
    app.add_handler(
        MessageHandler(new & groups & filters.TEXT & filters.Entity("mention"), on_group_mention)
    )
    # Edits, photos, stickers, voice, files ...: a short reply in private chats, never a crash.
    app.add_handler(
        MessageHandler(filters.UpdateType.EDITED_MESSAGE & private, _one_line("edited_message"))
    )
    app.add_handler(MessageHandler(new & private & ~filters.TEXT, _one_line("unsupported_media")))
    app.add_error_handler(on_error)
    return app


async def _post_init(app: Application) -> None:
    with contextlib.suppress(Exception):
        await app.bot.set_my_commands([BotCommand(n, d) for n, d in COMMANDS])


# -- running ------------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookOptions:
    listen: str
    port: int
    path: str
    url: str
    secret_token: str

    @classmethod
    def from_args(
        cls,
        *,
        listen: str,
        port: int,
        path: str,
        url: str | None,
        secret_token: str | None,
        env_secret: str | None,
    ) -> WebhookOptions:
        if not url:
            raise ConfigError("--webhook needs --url, the public https address Telegram calls.")
        # Telegram allows A-Z, a-z, 0-9, _ and - in the secret, up to 256 characters.
        secret = secret_token or env_secret or secrets.token_urlsafe(32)
        return cls(listen, port, path.strip("/"), url, secret)


def open_query_log(settings: Settings) -> AnyLog:
    """The query log, or a null log (with a warning) so a database problem never stops replies."""
    from rightsdesk.anonymise import load_secret

    try:
        secret = settings.secret or load_secret(None, settings.secret_path)
        query_log = QueryLog(
            settings.db_path, secret=secret, retention_days=settings.retention_days
        )
        query_log.open()
        return query_log
    except Exception as error:  # any failure here must not stop the bot
        print(
            f"rightsdesk: query log disabled ({type(error).__name__}: {error}); answering anyway.",
            file=sys.stderr,
        )
        return NullQueryLog()


def load_conversation(settings: Settings, *, kb_dir: Path | None = None) -> Conversation:
    """Content loaded and checked, matcher index built: everything a reply needs, once."""
    kb = load_knowledge_base(kb_dir or settings.kb_dir)
    return Conversation(
        kb,
        Matcher(kb),
        load_messages(settings.messages_path),
        retention_days=settings.retention_days,
        k_anonymity=settings.k_anonymity,
    )


class _NoTracebackForBadToken(logging.Filter):
    """python-telegram-bot logs a rejected token with a traceback; the CLI says it in a line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], InvalidToken))


def configure_logging() -> None:
    logging.basicConfig(
        format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(_NoTracebackForBadToken())
    # httpx logs every request URL at INFO, and Bot API URLs contain the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def run_bot(settings: Settings, *, webhook: WebhookOptions | None = None) -> int:
    """Run until SIGINT or SIGTERM; 0 on a clean stop, 1 with one sentence on a bad token."""
    configure_logging()
    conversation = load_conversation(settings)
    query_log = open_query_log(settings)
    app = build_application(settings, conversation, query_log)
    log.info(
        "Rights Desk starting: %s entries (%s), %s",
        len(conversation.kb),
        conversation.kb.version,
        "webhook" if webhook else "long polling",
    )
    try:
        if webhook:
            app.run_webhook(
                listen=webhook.listen,
                port=webhook.port,
                url_path=webhook.path,
                webhook_url=webhook.url,
                secret_token=webhook.secret_token,
                allowed_updates=Update.ALL_TYPES,
            )
        else:
            app.run_polling(allowed_updates=Update.ALL_TYPES)
    except InvalidToken:
        print(
            "rightsdesk: Telegram rejected the bot token. Check TELEGRAM_BOT_TOKEN"
            " (ask @BotFather for the token of your bot).",
            file=sys.stderr,
        )
        return 1
    except NetworkError as error:
        print(f"rightsdesk: cannot reach the Telegram Bot API ({error.message}).", file=sys.stderr)
        return 1
    finally:
        query_log.close()
    return 0


@contextlib.contextmanager
def console_logging(
    settings: Settings, kb: KnowledgeBase
) -> Iterator[tuple[Callable[..., str], Callable[..., None], Callable[..., None]]]:
    """Hooks that let the console chat log like the bot (for trying the admin reports)."""
    query_log = open_query_log(settings)

    def on_query(text: str, result: MatchResult) -> str:
        return query_log.record_query(query_event(text, "en", result, kb.version))

    def on_feedback(key: str, helpful: bool) -> None:
        query_log.record_feedback(key, helpful, at=datetime.now(UTC))

    def on_choice(key: str, entry_id: str) -> None:
        query_log.record_choice(key, entry_id, at=datetime.now(UTC))

    try:
        yield on_query, on_feedback, on_choice
    finally:
        query_log.close()
