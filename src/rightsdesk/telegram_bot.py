"""The Telegram adapter: updates in, the desk's replies out.

It decides nothing about content or logging (that is the desk's job). What lives here is what
only Telegram has: handlers, the flood gate as the first handler of every update, sending with
retries, group etiquette, and running by long polling or webhook. Rendering (HTML, keyboards,
the 4096-character limit) is in :mod:`rightsdesk.telegram_render`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from telegram import Bot, BotCommand, Message, Update
from telegram.constants import ChatType, ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.request import BaseRequest

from rightsdesk import log_hygiene
from rightsdesk.config import ConfigError, Settings
from rightsdesk.conversation import Reply
from rightsdesk.desk import (
    COMMANDS,
    COMMANDS_BY_NAME,
    Asker,
    Desk,
    FactSheetFile,
    ReloadError,
    open_query_log,
)
from rightsdesk.flood import FloodGate, Verdict
from rightsdesk.kb_updates import KbUpdater
from rightsdesk.telegram_delivery import Poller, TokenRevoked, WebhookReceiver
from rightsdesk.telegram_discreet import Shredder
from rightsdesk.telegram_render import keyboard, render_html
from rightsdesk.telegram_request import JsonRequest

log = logging.getLogger("rightsdesk.telegram")

Context = ContextTypes.DEFAULT_TYPE
T = TypeVar("T")


def asker_of(update: Update) -> Asker | None:
    user = update.effective_user
    if user is None or not _is_id(user.id):
        return None
    names = tuple(
        n for n in (user.first_name, user.last_name, user.username) if isinstance(n, str) and n
    )
    code = user.language_code if _is_text(user.language_code) else None
    return Asker(id=user.id, names=names, language_code=code)


def well_formed(update: Update) -> bool:
    """Whether the fields the handlers read have the types Telegram documents.

    The library does not check types: a text that is a list, or a chat id that is a string,
    would otherwise fail deep in a filter or a send, and a send to a chat that does not exist
    is retried, holding back the confirmation of every later update."""
    user, chat, message = update.effective_user, update.effective_chat, update.effective_message
    query = update.callback_query
    return (
        (user is None or _is_id(user.id))
        and (chat is None or (_is_id(chat.id) and _is_text(chat.type)))
        and (
            message is None
            or (
                _is_id(message.message_id)
                and (message.text is None or isinstance(message.text, str))
                and (chat is not None)
            )
        )
        and (query is None or query.data is None or isinstance(query.data, str))
    )


def _is_id(value: object) -> bool:
    # Telegram ids fit in 52 bits; bool is an int to Python but never an id.
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**53


def _is_text(value: object) -> bool:
    return isinstance(value, str) and bool(value)


def command_name(text: str) -> str:
    """'/Stats@RightsDeskBot now' -> 'stats'."""
    return text.split()[0][1:].split("@")[0].casefold() if text.startswith("/") else ""


class Sender:
    """Sends a reply as one or more messages, buttons on the last. The one retry layer:
    the rate limiter does not retry (``max_retries=0``).

    Anything that waiting can fix (429, 5xx, a 404 from a proxy, a timeout, a reset, a
    garbled answer) is retried with backoff for up to ``patience_s``; an answer sent twice
    is better than none. What waiting cannot fix (400, 403, a migrated chat) is raised at
    once. The patience is bounded because Telegram confirms updates in order: a reply that
    never goes out would hold back the confirmation of everything after it.
    """

    def __init__(self, patience_s: float = 300.0, max_backoff_s: float = 30.0) -> None:
        self.patience_s = patience_s
        self.max_backoff_s = max_backoff_s
        self.retries = 0

    async def send(self, message: Message, reply: Reply) -> list[Message]:
        chunks = render_html(reply)
        markup = keyboard(reply)
        sent = []
        for index, chunk in enumerate(chunks):
            last = index == len(chunks) - 1
            sent.append(
                await self.retrying(
                    lambda chunk=chunk, last=last: message.reply_text(  # type: ignore[misc]
                        chunk,
                        parse_mode=ParseMode.HTML,
                        do_quote=False,
                        # Plain data, passed through as it is (see telegram_render.keyboard).
                        api_kwargs={"reply_markup": markup} if last and markup else None,
                    )
                )
            )
        return sent

    async def document(self, message: Message, sheet: FactSheetFile) -> Message:
        return await self.retrying(
            lambda: message.reply_document(
                sheet.data, filename=sheet.filename, caption=sheet.caption, do_quote=False
            )
        )

    async def retrying(self, send: Callable[[], Awaitable[T]]) -> T:
        deadline = time.monotonic() + self.patience_s
        failures = 0
        while True:
            try:
                return await send()
            except (BadRequest, Forbidden, ChatMigrated, EndPointNotFound):
                raise  # waiting cannot fix these
            except TelegramError as error:
                if isinstance(error, RetryAfter):
                    delay = _seconds(error.retry_after)
                else:
                    delay = min(self.max_backoff_s, 0.25 * 2 ** min(failures, 10))
                failures += 1
                if time.monotonic() + delay > deadline:
                    raise
            self.retries += 1
            await asyncio.sleep(delay)


def _seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class Handlers:
    """One handler, one job. Their shared, typed dependencies are attributes, not bot_data."""

    def __init__(
        self, desk: Desk, flood: FloodGate, sender: Sender, shredder: Shredder | None = None
    ) -> None:
        self.desk = desk
        self.flood = flood
        self.sender = sender
        self.shredder = shredder
        self.errors = 0
        self.malformed = 0

    async def respond(self, update: Update, message: Message, reply: Reply, asker: Asker) -> None:
        """Send ``reply``; in a private chat, let the shredder know both sides of it."""
        chat = update.effective_chat
        shredder = self.shredder
        if reply.factsheet is not None:
            sent_sheet = await self._send_factsheet(message, reply, asker)
            private = chat is not None and chat.type == ChatType.PRIVATE
            if sent_sheet is not None and shredder is not None and chat is not None and private:
                shredder.saw(chat.id, [sent_sheet.message_id])
            return
        if shredder is None or chat is None or chat.type != ChatType.PRIVATE:
            if reply.blocks:
                await self.sender.send(message, reply)
            return
        if update.message is not None:
            shredder.saw(chat.id, [update.message.message_id])
        if reply.wipe:
            reply = self.desk.wiped(await shredder.wipe(chat.id), asker)
        if reply.discreet is not None:
            shredder.set_delay(chat.id, reply.discreet)
        sent = await self.sender.send(message, reply)
        shredder.saw(chat.id, [m.message_id for m in sent])

    async def _send_factsheet(self, message: Message, reply: Reply, asker: Asker) -> Message | None:
        """The PDF as a document; laid out off the event loop, so nobody else waits for it."""
        sheet = await asyncio.to_thread(self.desk.factsheet, reply, asker)
        if sheet is None:
            sent = await self.sender.send(message, self.desk.simple("factsheet_failed", asker))
            return sent[-1] if sent else None
        return await self.sender.document(message, sheet)

    async def gate(self, update: Update, context: Context) -> None:
        """Group -1, before every other handler: one flood check per update, whatever it is.
        Malformed updates stop here, before any filter reads them."""
        if not well_formed(update):
            self.malformed += 1
            log.warning("update %s dropped: fields of the wrong type", update.update_id)
            raise ApplicationHandlerStop
        asker = asker_of(update)
        if asker is None:
            return
        verdict = self.flood.check(asker.id)
        if verdict is Verdict.ALLOW:
            return
        if update.callback_query is not None:
            with contextlib.suppress(BadRequest):
                await update.callback_query.answer()
        message = update.effective_message
        chat = update.effective_chat
        if verdict is Verdict.WARN and message is not None and chat and chat.type == "private":
            await self.respond(update, message, self.desk.simple("flood", asker), asker)
        raise ApplicationHandlerStop

    async def on_text(self, update: Update, context: Context) -> None:
        message, asker = update.effective_message, asker_of(update)
        if message and message.text and asker:
            await self.respond(
                update, message, await self.desk.ask_async(message.text, asker), asker
            )

    async def on_group_mention(self, update: Update, context: Context) -> None:
        message, asker = update.effective_message, asker_of(update)
        username = context.bot.username
        if not message or not message.text or not username or not asker:
            return
        mention = re.compile(rf"@{re.escape(username)}\b", re.IGNORECASE)
        if not mention.search(message.text):
            return
        text = " ".join(mention.sub(" ", message.text).split())
        reply = await self.desk.ask_async(text, asker) if text else self.desk.command("help", asker)
        await self.respond(update, message, reply, asker)

    async def on_command(self, update: Update, context: Context) -> None:
        message, asker, chat = update.effective_message, asker_of(update), update.effective_chat
        if not message or not message.text or not asker or not chat:
            return
        name = command_name(message.text)
        command = COMMANDS_BY_NAME.get(name)
        if command is not None and command.admin and chat.type != ChatType.PRIVATE:
            name = ""  # an admin report never goes to a group, even an admin's
        if command is not None and command.slow and self.desk.is_admin(asker):
            # Reading the whole log takes seconds: keep other people's replies flowing.
            reply = await asyncio.to_thread(self.desk.command, name, asker)
        else:
            reply = self.desk.command(name, asker)
        await self.respond(update, message, reply, asker)

    async def on_button(self, update: Update, context: Context) -> None:
        query, asker = update.callback_query, asker_of(update)
        if query is None or asker is None:
            return
        # Answer at once so the phone stops its spinner, whatever happens next.
        with contextlib.suppress(BadRequest):
            await query.answer()
        reply = self.desk.press(query.data or "", asker)
        if isinstance(query.message, Message):  # else an old, inaccessible message
            await self.respond(update, query.message, reply, asker)

    async def tell_admins(self, bot: Bot, key: str, **values: object) -> None:
        """One of the bot's own texts to every admin's private chat, in their language.

        For what happens without anyone asking (a reload on SIGHUP, a knowledge-base update);
        an admin who never opened a chat with the bot is skipped, not retried for ever."""
        for admin in sorted(self.desk.settings.admins):
            text = self.desk.messages.get(key, self.desk.language(Asker(id=admin)), **values)
            try:
                await self.sender.retrying(
                    lambda admin=admin, text=text: bot.send_message(admin, text)  # type: ignore[misc]
                )
            except TelegramError as error:
                log.warning("could not tell an admin (%s)", type(error).__name__)

    async def reload(self, bot: Bot) -> None:
        """SIGHUP: check and load the content off the event loop, swap it in, tell admins."""
        before = self.desk.version
        try:
            version = await asyncio.to_thread(self.desk.reload)
        except ReloadError as error:
            log.warning("reload failed; %s stays live:\n%s", before, error)
            await self.tell_admins(bot, "reload_failed", version=before, problems=error)
            return
        await self.tell_admins(bot, "reloaded", version=version, entries=len(self.desk.kb))

    def install_update(self, folder: Path) -> str:
        """The knowledge-base updater's install callback (runs in its worker thread)."""
        return self.desk.reload(folder / "knowledge_base", folder / "bot" / "messages.yaml")

    def one_line(self, key: str) -> Callable[[Update, Context], Coroutine[Any, Any, None]]:
        """A handler that answers with one of the bot's own texts (photos, edits ...)."""

        async def handler(update: Update, context: Context) -> None:
            message, asker = update.effective_message, asker_of(update)
            if message and asker:
                await self.respond(update, message, self.desk.simple(key, asker), asker)

        handler.__name__ = f"on_{key}"
        return handler

    async def on_error(self, update: object, context: Context) -> None:
        """Log what failed without the user's text; tell the user something went wrong."""
        self.errors += 1
        error = context.error
        update_id = update.update_id if isinstance(update, Update) else None
        trace = (type(error), error, error.__traceback__) if error else None
        log.error("update %s failed: %s", update_id, type(error).__name__, exc_info=trace)
        if not isinstance(update, Update) or not update.effective_message:
            return
        chat, asker = update.effective_chat, asker_of(update)
        if chat is None or chat.type != ChatType.PRIVATE or asker is None:
            return
        with contextlib.suppress(Exception):
            await update.effective_message.reply_text(
                self.desk.simple("error", asker).blocks[0].text
            )


def build_application(
    settings: Settings,
    desk: Desk,
    *,
    builder: ApplicationBuilder | None = None,  # type: ignore[type-arg]
    request: BaseRequest | None = None,
    rate_limited: bool = True,
) -> tuple[Application, Handlers]:  # type: ignore[type-arg]
    """The python-telegram-bot Application with every handler, and the handlers' state.

    ``builder`` lets tests set timeouts and ``request`` replace HTTP altogether (handler tests);
    ``rate_limited=False`` exists only to measure what the bot itself can handle: in
    production Telegram's limits must be respected.
    """
    if not settings.token:
        raise ConfigError("The Telegram bot needs a token (TELEGRAM_BOT_TOKEN).")
    builder = (builder or ApplicationBuilder()).token(settings.token).base_url(settings.api_url)
    if rate_limited:
        builder = builder.rate_limiter(AIORateLimiter(max_retries=0))
    if request is not None:
        builder = builder.request(request).get_updates_request(request)
    else:
        builder = builder.request(JsonRequest(settings.concurrent_updates))

    async def post_init(app: Application) -> None:  # type: ignore[type-arg]
        shredder.start()
        if settings.analysis_worker:
            desk.start_worker()  # returns at once; questions are analysed here until it loads
        await _commands_menu(desk)(app)

    async def post_stop(app: Application) -> None:  # type: ignore[type-arg]
        await shredder.stop()  # pending deletions are carried out, not forgotten
        await desk.stop_worker()

    # No python-telegram-bot Updater: it confirms updates as soon as it fetches them, and
    # rightsdesk.telegram_delivery confirms them only once they are handled.
    app = (
        builder.updater(None)
        .concurrent_updates(settings.concurrent_updates)
        .post_init(post_init)
        .post_stop(post_stop)
        .build()
    )
    sender = Sender(settings.send_patience_s)

    async def delete(chat_id: int, message_id: int) -> bool:
        try:
            return bool(await sender.retrying(lambda: app.bot.delete_message(chat_id, message_id)))
        except (BadRequest, Forbidden):
            return False  # already gone, older than 48 hours, or the chat was blocked

    shredder = Shredder(delete)
    handlers = Handlers(
        desk, FloodGate(settings.flood_limit, settings.flood_window_s), sender, shredder
    )
    private = filters.ChatType.PRIVATE
    new = filters.UpdateType.MESSAGE
    app.add_handler(TypeHandler(Update, handlers.gate), group=-1)
    app.add_handler(CommandHandler([c.name for c in COMMANDS], handlers.on_command, filters=new))
    app.add_handler(CallbackQueryHandler(handlers.on_button))
    app.add_handler(
        MessageHandler(new & private & filters.TEXT & ~filters.COMMAND, handlers.on_text)
    )
    app.add_handler(MessageHandler(new & private & filters.COMMAND, handlers.on_command))
    groups = filters.ChatType.GROUPS
    app.add_handler(
        MessageHandler(
            new & groups & filters.TEXT & filters.Entity("mention"), handlers.on_group_mention
        )
    )
    # Edits, photos, stickers, voice, files ...: a short reply in private chats, never a crash.
    app.add_handler(
        MessageHandler(
            filters.UpdateType.EDITED_MESSAGE & private, handlers.one_line("edited_message")
        )
    )
    app.add_handler(
        MessageHandler(new & private & ~filters.TEXT, handlers.one_line("unsupported_media"))
    )
    app.add_error_handler(handlers.on_error)
    return app, handlers


def _commands_menu(
    desk: Desk,
) -> Callable[[Application], Coroutine[Any, Any, None]]:  # type: ignore[type-arg]
    async def post_init(app: Application) -> None:  # type: ignore[type-arg]
        # One menu per language the app may be set to; Telegram picks the phone's own.
        for lang in desk.messages.languages:
            commands = [BotCommand(n, d) for n, d in desk.command_descriptions(lang)]
            code = None if lang == desk.settings.default_language else lang
            with contextlib.suppress(Exception):
                await app.bot.set_my_commands(commands, language_code=code)

    return post_init


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
        secret = secret_token or env_secret or secrets.token_urlsafe(32)
        return cls(listen, port, path.strip("/"), url, secret)


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO
    )
    log_hygiene.install([settings.token or "", settings.webhook_secret or ""])
    # httpx logs every request URL at INFO, and Bot API URLs contain the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    # It reports every 429 it passes on; our own retry layer logs what finally failed.
    logging.getLogger("telegram.ext.AIORateLimiter").setLevel(logging.CRITICAL)


def run_bot(
    settings: Settings, *, webhook: WebhookOptions | None = None, log_queries: bool = True
) -> int:
    """Run until SIGINT or SIGTERM: 0 on a clean stop; 1 with one sentence if the token is
    rejected or Telegram cannot be reached at start; 3 if Telegram revokes the token later
    (so that the service manager sees it).

    A bad pseudonym secret raises :class:`~rightsdesk.anonymise.SecretError` before anything
    is sent to Telegram; ``log_queries=False`` runs without a query log instead."""
    configure_logging(settings)
    if log_queries:
        query_log = open_query_log(settings)
    else:
        log.warning("running without a query log (--no-log): no question will be recorded")
        query_log = None
    desk = Desk.load(settings, query_log)
    app, handlers = build_application(settings, desk)
    log.info(
        "Rights Desk starting: %s entries (%s), %s",
        len(desk.kb),
        desk.kb.version,
        "webhook" if webhook else "long polling",
    )
    try:
        return asyncio.run(serve(app, settings, webhook=webhook, handlers=handlers))
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
        desk.close()


async def serve(
    app: Application,  # type: ignore[type-arg]
    settings: Settings,
    *,
    webhook: WebhookOptions | None = None,
    poll_timeout: float = 10.0,
    handlers: Handlers | None = None,
) -> int:
    """Initialise ``app``, receive updates until SIGINT or SIGTERM, and shut down cleanly.

    Updates are confirmed to Telegram only once handled (see
    :mod:`rightsdesk.telegram_delivery`), in both polling and webhook mode. With ``handlers``,
    SIGHUP reloads the content and, if ``RIGHTSDESK_KB_URL`` is set, signed updates are
    pulled on schedule; both tell the admins what happened.
    """
    loop = asyncio.get_running_loop()
    async with app:
        if app.post_init is not None:
            await app.post_init(app)
        receiver: Poller | WebhookReceiver
        if webhook is None:
            await app.bot.delete_webhook(drop_pending_updates=False)
            receiver = Poller(
                app.bot,
                app.process_update,
                concurrency=settings.concurrent_updates,
                poll_timeout=poll_timeout,
                revoked_after_s=settings.token_revoked_after_s,
            )
        else:
            receiver = WebhookReceiver(
                app.bot,
                app.process_update,
                secret_token=webhook.secret_token,
                path=webhook.path,
                concurrency=settings.concurrent_updates,
            )
        signals = (signal.SIGINT, signal.SIGTERM)
        for number in signals:
            loop.add_signal_handler(number, receiver.stop)
        chores: set[asyncio.Task[None]] = set()

        def soon(job: Coroutine[Any, Any, None]) -> None:
            task = loop.create_task(job)
            chores.add(task)
            task.add_done_callback(chores.discard)

        if handlers is not None:
            loop.add_signal_handler(signal.SIGHUP, lambda: soon(handlers.reload(app.bot)))
            if settings.kb_url is not None:
                updater = _kb_updater(settings, handlers, app.bot, soon)
                soon(updater.run())
        try:
            if isinstance(receiver, Poller):
                await receiver.run()
            elif webhook is not None:
                serving = asyncio.create_task(receiver.serve(webhook.listen, webhook.port))
                await app.bot.set_webhook(
                    webhook.url, secret_token=webhook.secret_token, allowed_updates=Update.ALL_TYPES
                )
                await serving
        except TokenRevoked:
            print(
                "rightsdesk: Telegram has revoked the bot token (it kept answering 401)."
                " Get a new token from @BotFather and set TELEGRAM_BOT_TOKEN.",
                file=sys.stderr,
            )
            return 3
        finally:
            for number in (*signals, signal.SIGHUP):
                loop.remove_signal_handler(number)
            for task in chores:
                task.cancel()
            if app.post_stop is not None:
                await app.post_stop(app)
    return 0


def _kb_updater(
    settings: Settings,
    handlers: Handlers,
    bot: Bot,
    soon: Callable[[Coroutine[Any, Any, None]], None],
) -> KbUpdater:
    loop = asyncio.get_running_loop()

    def install(folder: Path) -> str:
        version = handlers.install_update(folder)
        loop.call_soon_threadsafe(
            soon, handlers.tell_admins(bot, "kb_update_installed", version=version)
        )
        return version

    def report(sentence: str) -> None:
        soon(handlers.tell_admins(bot, "kb_update_failed", reason=sentence))

    return KbUpdater(settings, install=install, report=report, live_version=handlers.desk.version)
