"""The desk: the one service every adapter calls.

Telegram and the console chat only translate their input (a text, a button press, a
command, with who sent it) into a call here, and render the :class:`Reply` they get back.
Everything between lives here: choosing the reply language, matching, logging the question
to the anonymised query log, button side effects, the command table and admin reports. So
the same question gives the same reply and the same log row whichever adapter carried it.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TypeVar

from rightsdesk import admin_reports, analysis, languages, randomness
from rightsdesk.analysis_worker import AnalysisWorker
from rightsdesk.anonymise import iso_week, redact
from rightsdesk.config import Settings
from rightsdesk.conversation import NO_QUERY, Conversation, Reply
from rightsdesk.emergency import Emergencies
from rightsdesk.factsheet import FactSheetError, FactSheets
from rightsdesk.knowledge_base import KnowledgeBase, KnowledgeBaseError, Problem
from rightsdesk.languages import fold, tokens
from rightsdesk.localized import LANGUAGES
from rightsdesk.log_words import KnownWords, SharedWords
from rightsdesk.matching import Matcher, MatchResult
from rightsdesk.messages import Messages
from rightsdesk.query_log import NullQueryLog, QueryEvent, QueryLog, QueryLogError
from rightsdesk.referrals import Referrals
from rightsdesk.scope_model import ScopeModel
from rightsdesk.sectors import Sectors

log = logging.getLogger("rightsdesk.desk")

AnyQueryLog = QueryLog | NullQueryLog
T = TypeVar("T")
# Language choices are kept in memory only, for at most this many people (oldest forgotten).
CHOICES_KEPT = 100_000
# Feedback tokens kept in memory: a press on an older answer is thanked but not recorded.
TOKENS_KEPT = 200_000
# What is matched of a message. Questions are a sentence or two, and matching time grows with
# length: 100,000 characters took 8 s, during which nobody else got an answer.
QUESTION_CHARS = 1_000
# Telegram's own limit on button data: anything longer was not made by this bot.
BUTTON_DATA_CHARS = 64


@dataclass(frozen=True)
class Asker:
    """Who sent an update, as far as the desk needs to know: never written down as such.

    ``id`` is used for the weekly pseudonym, the admin check and the language choice;
    ``names`` (first name, last name, username) only to redact them from the logged text.
    Both are kept out of ``repr`` so that a log line or traceback cannot leak them.
    """

    id: int = field(repr=False)
    names: tuple[str, ...] = field(default=(), repr=False)
    language_code: str | None = None  # the app's interface language: a weak hint


@dataclass(frozen=True)
class Command:
    name: str
    admin: bool = False  # exists only for admins; to anyone else it is an unknown command
    slow: bool = False  # reads the whole log: adapters run it off their event loop


SHEETS_KEPT = 32  # PDFs of about 20 kB each, kept in memory

COMMANDS: tuple[Command, ...] = (
    Command("start"),
    Command("topics"),
    Command("for"),
    Command("examples"),
    Command("lang"),
    Command("country"),
    Command("contacts"),
    Command("discreet"),
    Command("wipe"),
    Command("privacy"),
    Command("help"),
    Command("about"),
    Command("stats", admin=True, slow=True),
    Command("gaps", admin=True, slow=True),
    Command("reload", admin=True, slow=True),
)
COMMANDS_BY_NAME = {c.name: c for c in COMMANDS}


@dataclass(frozen=True)
class FactSheetFile:
    data: bytes
    filename: str
    caption: str


class Desk:
    """Turns texts, button presses and commands into replies and query log events."""

    def __init__(
        self,
        settings: Settings,
        kb: KnowledgeBase,
        messages: Messages,
        query_log: AnyQueryLog | None = None,
        *,
        matcher: Matcher | None = None,
        emergencies: Emergencies | None = None,
        referrals: Referrals | None = None,
        sectors: Sectors | None = None,
        scope: ScopeModel | None = None,
        known_words: KnownWords | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        # Everything read from the content files, in one object that a reload replaces with
        # one assignment: a reply is built from one version or the other, never a mixture.
        self._library = Library.build(
            settings,
            kb,
            messages,
            matcher=matcher,
            emergencies=emergencies,
            referrals=referrals,
            sectors=sectors,
            scope=scope,
            known_words=known_words,
            today=lambda: self._clock().date(),
        )
        self.query_log: AnyQueryLog = query_log or NullQueryLog()
        self._clock = clock
        self._shared = SharedWords(settings.k_anonymity)
        # Both in memory only, keyed by the Telegram id, never written down.
        self._chosen: OrderedDict[int, str] = OrderedDict()
        self._zawgyi: OrderedDict[int, bool] = OrderedDict()
        self._last: OrderedDict[int, str] = OrderedDict()  # language of the last answer
        self._country: OrderedDict[int, str] = OrderedDict()  # chosen with /country
        # Button data holds a random token, never the log row's key: a seized phone's chat,
        # read together with the database, must not show which stored question was whose.
        # The token's meaning lives here, in memory only, and dies with the process.
        self._tokens: OrderedDict[str, str] = OrderedDict()
        self._answered: OrderedDict[int, bool] = OrderedDict()  # offered discreet mode once
        self._content_paths = (settings.kb_dir, settings.messages_path)
        self._worker: AnalysisWorker | None = None

    @classmethod
    def load(cls, settings: Settings, query_log: AnyQueryLog | None = None) -> Desk:
        """Content loaded and checked, matcher index built: everything a reply needs, once."""
        library = Library.load(settings, settings.kb_dir, settings.messages_path)
        desk = cls(
            settings,
            library.kb,
            library.messages,
            query_log,
            matcher=library.matcher,
            emergencies=library.emergencies,
            referrals=library.referrals,
            sectors=library.sectors,
        )
        languages.load_models()  # now, rather than during the first person's question
        if not isinstance(desk.query_log, NullQueryLog):
            desk.known_words()  # likewise
        return desk

    # -- the content, and replacing it while running ---------------------------------------

    @property
    def kb(self) -> KnowledgeBase:
        return self._library.kb

    @property
    def messages(self) -> Messages:
        return self._library.messages

    @property
    def matcher(self) -> Matcher:
        return self._library.matcher

    @property
    def conversation(self) -> Conversation:
        return self._library.conversation

    @property
    def factsheets(self) -> FactSheets:
        return self._library.factsheets

    @property
    def emergencies(self) -> Emergencies | None:
        return self._library.emergencies

    @property
    def referrals(self) -> Referrals | None:
        return self._library.referrals

    @property
    def version(self) -> str:
        """The live content's version, as `/reload` and `/about` report it."""
        return self._library.kb.version

    def reload(self, kb_dir: Path | None = None, messages_path: Path | None = None) -> str:
        """Check and load the content again (from the settings' folders unless told), build
        its index, and only then put it live; returns the new version.

        Raises :class:`ReloadError`, naming the file and line of each problem, and keeps
        serving the old content, if anything is wrong. Takes seconds (the matcher index):
        adapters call it off their event loop.
        """
        kb_dir = kb_dir or self.settings.kb_dir
        messages_path = messages_path or self.settings.messages_path
        library = Library.load(self.settings, kb_dir, messages_path)
        if not isinstance(self.query_log, NullQueryLog):
            library.known_words()
        self._library = library
        self._content_paths = (kb_dir, messages_path)
        if self._worker is not None:
            # From now on its answers carry the old version and are refused; a new worker
            # loads these folders.
            self._worker.reload(kb_dir, messages_path, library.analysis_version)
        log.info("content reloaded: %s", library.kb.version)
        return library.kb.version

    def close(self) -> None:
        self.query_log.close()

    # -- language -------------------------------------------------------------------------

    def language(self, asker: Asker, result: MatchResult | None = None) -> str:
        """The reply language, in this order: the person's own choice, the script they wrote
        in, language identification, the language of the phrasing that matched, their app's
        language, then the default (see :func:`rightsdesk.languages.reply_language`).

        Without a question (a button, a command) the language of the last answer stands in
        for the question's: a Thai writer's "More" is in Thai too."""
        chosen = self._chosen.get(asker.id)
        if chosen is None and result is None:
            chosen = self._last.get(asker.id)
        return languages.reply_language(
            available=self.messages.languages,
            chosen=chosen,
            script=result.script if result else "none",
            phrasing=result.phrasing_language if result else None,
            identified=result.identified if result else None,
            app_code=asker.language_code,
            default=self.settings.default_language,
        )

    def choose_language(self, asker: Asker, lang: str) -> None:
        if lang not in LANGUAGES:
            raise ValueError(f"unknown language {lang!r}")
        _remember(self._chosen, asker.id, lang)

    def country(self, asker: Asker, lang: str) -> str | None:
        """The person's country: their /country choice, else the one country whose language
        they write (Thai: Thailand), else None. Never written down."""
        chosen = self._country.get(asker.id)
        if chosen is not None:
            return chosen or None
        return self.referrals.guess(lang) if self.referrals else None

    def _for_phone(self, reply: Reply, asker: Asker) -> Reply:
        """A Zawgyi writer's phone shows Unicode Burmese as garbage: answer in Zawgyi."""
        if self._zawgyi.get(asker.id) and reply.lang == "my":
            return reply.converted(languages.unicode_to_zawgyi, "zawgyi")
        return reply

    # -- what adapters call ---------------------------------------------------------------

    def ask(self, text: str, asker: Asker) -> Reply:
        """A question typed by ``asker``: matched, logged, answered."""
        return self.answer(text, asker)[1]

    def answer(self, text: str, asker: Asker) -> tuple[MatchResult, Reply]:
        """:meth:`ask`, with what the matcher found (for `rightsdesk ask --json`)."""
        started = time.perf_counter()
        text = question_text(text)
        library = self._library  # one version for the whole reply, even if a reload lands
        return self._answer(text, asker, library, library.analyse(text), started)

    async def ask_async(self, text: str, asker: Asker) -> Reply:
        """:meth:`ask`, with the analysis done by the worker process when one serves this
        content version (see :mod:`rightsdesk.analysis_worker`), else here. Only the text
        crosses to the worker; the reply, the log row and every choice stay in this process.
        """
        started = time.perf_counter()
        text = question_text(text)
        library = self._library
        analysed = None
        if self._worker is not None:
            answer = await self._worker.analyse(text)
            if answer is not None and answer[0] == library.analysis_version:
                try:
                    analysed = analysis.from_wire(answer[1], library.kb)
                except ValueError:
                    log.warning("the analysis worker's answer was malformed; analysed here")
        if analysed is None:
            analysed = library.analyse(text)
        return self._answer(text, asker, library, analysed, started)[1]

    def _answer(
        self,
        text: str,
        asker: Asker,
        library: Library,
        analysed: analysis.Analysis,
        started: float,
    ) -> tuple[MatchResult, Reply]:
        result, found = analysed.result, analysed.found
        handling_ms = (time.perf_counter() - started) * 1000.0
        if result.encoding is not None:
            _remember(self._zawgyi, asker.id, result.encoding == "zawgyi")
        lang = self.language(asker, result)
        _remember(self._last, asker.id, lang)
        key = self._record(text, lang, result, asker, handling_ms, library)
        reply = library.conversation.reply_for(
            result,
            lang,
            self._token_for(key),
            emergency=found.kind if found else None,
            country=self.country(asker, lang),
            offer_discreet=asker.id not in self._answered,
        )
        _remember(self._answered, asker.id, True)
        return result, self._for_phone(reply, asker)

    # -- the analysis worker (the Telegram bot's; see rightsdesk.analysis_worker) ----------

    def start_worker(self, worker: AnalysisWorker | None = None) -> AnalysisWorker:
        """Start analysing questions in a worker process for :meth:`ask_async`; call on the
        event loop that will await it. Returns at once: until the worker has loaded the
        content (seconds), questions are analysed here."""
        if self._worker is None:
            self._worker = worker or AnalysisWorker(timeout_s=self.settings.worker_timeout_s)
            self._worker.start(*self._content_paths, self._library.analysis_version)
        return self._worker

    @property
    def worker(self) -> AnalysisWorker | None:
        return self._worker

    async def stop_worker(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            await worker.close()

    def press(self, data: str, asker: Asker) -> Reply:
        """A button pressed by ``asker``; ``data`` comes from the phone and may be forged."""
        lang = self.language(asker)
        pressed = self.conversation.press(button_data(data), lang)
        now = self._clock()
        try:
            if pressed.feedback and (key := self._tokens.get(pressed.feedback[0])):
                self.query_log.record_feedback(key, pressed.feedback[1], at=now)
            if pressed.choice and (key := self._tokens.get(pressed.choice[0])):
                self.query_log.record_choice(key, pressed.choice[1], at=now)
        except Exception:  # a log failure must never cost the user a reply
            log.exception("query log failed")
        if pressed.language:
            self.choose_language(asker, pressed.language)
        if pressed.country is not None:
            _remember(self._country, asker.id, pressed.country)
        if pressed.people:
            return self._for_phone(self.conversation.people(lang, self.country(asker, lang)), asker)
        if pressed.ask:
            return self.ask(pressed.ask, asker)
        assert pressed.reply is not None
        return self._for_phone(pressed.reply, asker)

    def command(self, name: str, asker: Asker) -> Reply:
        """``/name`` sent by ``asker``. Admin commands exist only for admins."""
        lang = self.language(asker)
        c = self.conversation
        name = name if isinstance(name, str) else ""
        command = COMMANDS_BY_NAME.get(name)
        if command is None or (command.admin and not self.is_admin(asker)):
            return self._for_phone(c.simple("unknown_command", lang), asker)
        if name == "reload":
            return c.text(self._reload(lang), lang)
        if command.admin:
            return c.text(self._report(name, lang), lang)
        builders: dict[str, Callable[[str], Reply]] = {
            "start": c.start,
            "help": c.help,
            "topics": c.topics,
            "for": c.sector_list,
            "examples": c.countries,
            "lang": c.languages,
            "country": c.country_picker,
            "contacts": lambda lang: c.people(lang, self.country(asker, lang)),
            "discreet": c.discreet_choice,
            "wipe": c.wipe,
            "privacy": c.privacy,
            "about": c.about,
        }
        return self._for_phone(builders[name](lang), asker)

    def factsheet(self, reply: Reply, asker: Asker) -> FactSheetFile | None:
        """The PDF a reply asks for, with a file name and caption; None when it cannot be
        made (the adapter then says so with :meth:`simple` ``factsheet_failed``).

        Slow the first time (about half a second of layout): adapters call it off their
        event loop. Sheets are kept in memory, a few dozen at most."""
        target = reply.factsheet
        if target is None:
            return None
        key = (target, reply.lang)
        library = self._library  # one version for the whole sheet, even if a reload lands
        try:
            data = library.sheets.get(key) or library.factsheets.pdf(target, reply.lang)
        except FactSheetError:
            log.exception("fact sheet %s (%s) failed", target, reply.lang)
            return None
        library.sheets[key] = data
        library.sheets.move_to_end(key)
        while len(library.sheets) > SHEETS_KEPT:
            library.sheets.popitem(last=False)
        entry = library.kb.get(target)
        name = (entry.ref or entry.id) if entry else target
        caption = library.messages.get("factsheet_caption", reply.lang)
        if self._zawgyi.get(asker.id) and reply.lang == "my":
            caption = languages.unicode_to_zawgyi(caption)
        return FactSheetFile(data, f"rights-desk-{name}-{reply.lang}.pdf", caption)

    def wiped(self, count: int, asker: Asker) -> Reply:
        """What the adapter says after deleting ``count`` messages of the chat."""
        return self._for_phone(self.conversation.wiped(count, self.language(asker)), asker)

    def simple(self, key: str, asker: Asker, **values: object) -> Reply:
        """One of the bot's own one-line texts (flood warning, media, edits, errors)."""
        reply = self.conversation.simple(key, self.language(asker), **values)
        return self._for_phone(reply, asker)

    def is_admin(self, asker: Asker) -> bool:
        return asker.id in self.settings.admins

    def command_descriptions(self, lang: str) -> list[tuple[str, str]]:
        """The public commands and what each does, for the app's command menu."""
        return [
            (c.name, self.messages.get(f"commands.{c.name}", lang)) for c in COMMANDS if not c.admin
        ]

    # -- inside ---------------------------------------------------------------------------

    def _record(
        self,
        text: str,
        lang: str,
        result: MatchResult,
        asker: Asker,
        handling_ms: float,
        library: Library,
    ) -> str:
        best = result.best
        if isinstance(self.query_log, NullQueryLog):
            return NO_QUERY
        try:
            event = QueryEvent(
                text=self._loggable(text, lang, asker, library),
                lang=lang,
                decision=result.decision,
                top_id=best.entry.id if best else None,
                top_score=best.score if best else None,
                runner_up_ids=tuple(m.entry.id for m in result.matches[1:4]),
                kb_version=library.kb.version,
                handling_ms=handling_ms,
                user_id=asker.id,
                sender_names=asker.names,
                at=self._clock(),
            )
            return self.query_log.record_query(event)
        except Exception:  # a log failure must never cost the user an answer
            log.exception("query log failed")
            return NO_QUERY

    def known_words(self) -> KnownWords:
        return self._library.known_words()

    def _loggable(self, text: str, lang: str, asker: Asker, library: Library) -> str:
        """The question as the log may keep it: identifiers replaced by placeholders, then
        every word the bot does not know (or that fewer than k people used this week)
        masked. See :mod:`rightsdesk.log_words`."""
        redacted = redact(text, names=asker.names)
        self._shared.saw(
            iso_week(self._clock()), asker.id, {fold(w) for w in tokens(redacted, folded=False)}
        )
        return library.known_words().mask(redacted, lang, self._shared)

    def _token_for(self, key: str) -> str:
        if key == NO_QUERY:
            return NO_QUERY
        token = randomness.token_urlsafe(6)  # 8 characters; 48 random bits
        self._tokens[token] = key
        while len(self._tokens) > TOKENS_KEPT:
            self._tokens.popitem(last=False)
        return token

    def _reload(self, lang: str) -> str:
        """What an admin's /reload says: the version now live, or why the old one stays."""
        try:
            version = self.reload()
        except ReloadError as error:
            return self.messages.get("reload_failed", lang, version=self.version, problems=error)
        return self.messages.get("reloaded", lang, version=version, entries=len(self.kb))

    def _report(self, name: str, lang: str) -> str:
        settings = self.settings
        try:
            if name == "stats":
                found = admin_reports.stats(settings.db_path, k=settings.k_anonymity)
                report = admin_reports.format_stats(found)
            else:
                report = admin_reports.format_gaps(
                    admin_reports.gaps(settings.db_path, k=settings.k_anonymity)
                )
        except Exception:
            log.exception("admin report %s failed", name)
            report = self.messages.get("error", lang)
        if name != "stats":
            return report
        # Even when the report itself failed: a database that cannot be read is often the
        # reason, and the admin should see it.
        return f"{report}\n\n{self._log_health(lang)}"

    def _log_health(self, lang: str) -> str:
        health = self.query_log.health()
        lines = [
            self.messages.get(
                "log_health",
                lang,
                waiting=health.waiting,
                lost=health.lost,
                restarts=health.restarts,
            )
        ]
        if not health.writable and health.last_error:
            lines.append(self.messages.get("log_unwritable", lang, error=health.last_error))
        return "\n".join(lines)


class ReloadError(KnowledgeBaseError):
    """Content failed its checks, at start or on a reload; the message lists the first
    problems (file:line: ...) and how many more there are, short enough for a chat."""

    def __init__(self, problems: Sequence[object]) -> None:
        lines = [str(p) for p in problems]
        more = len(lines) - 5
        Exception.__init__(
            self, "\n".join(lines[:5] + ([f"... and {more} more"] if more > 0 else []))
        )
        self.problems = [p for p in problems if isinstance(p, Problem)]


@dataclass
class Library:
    """The content a running desk serves, and what is built from it.

    Replaced whole by :meth:`Desk.reload`; nothing in it is changed after it goes live
    except the caches (fact sheets, the log's known words), which belong to this version.
    """

    kb: KnowledgeBase
    messages: Messages
    matcher: Matcher
    conversation: Conversation
    factsheets: FactSheets
    emergencies: Emergencies | None
    referrals: Referrals | None
    sectors: Sectors | None
    sheets: OrderedDict[tuple[str, str], bytes] = field(default_factory=OrderedDict)
    _known: KnownWords | None = None

    @classmethod
    def build(
        cls,
        settings: Settings,
        kb: KnowledgeBase,
        messages: Messages,
        *,
        matcher: Matcher | None = None,
        emergencies: Emergencies | None = None,
        referrals: Referrals | None = None,
        sectors: Sectors | None = None,
        scope: ScopeModel | None = None,
        known_words: KnownWords | None = None,
        today: Callable[[], date] | None = None,
    ) -> Library:
        conversation = Conversation(
            kb,
            messages,
            retention_days=settings.retention_days,
            k_anonymity=settings.k_anonymity,
            emergencies=emergencies,
            referrals=referrals,
            sectors=sectors,
            today=today or date.today,
        )
        return cls(
            kb,
            messages,
            matcher or Matcher(kb, scope=scope),
            conversation,
            FactSheets(kb, messages, sectors),
            emergencies,
            referrals,
            sectors,
            _known=known_words,
        )

    @classmethod
    def load(
        cls,
        settings: Settings,
        kb_dir: Path,
        messages_path: Path,
        today: Callable[[], date] | None = None,
    ) -> Library:
        """Every content file checked together (as `rightsdesk kb check` does), then built.

        Raises :class:`ReloadError` with every problem, each naming its file and line."""
        from rightsdesk.content import check_content

        found = check_content(kb_dir, messages_path)
        if (
            not found.ok
            or found.kb is None
            or found.messages is None
            or found.emergencies is None
            or found.referrals is None
        ):
            raise ReloadError(found.problems)
        return cls.build(
            settings,
            found.kb,
            found.messages,
            emergencies=found.emergencies,
            referrals=found.referrals,
            sectors=found.sectors,
            scope=found.scope,
            today=today,
        )

    @property
    def analysis_version(self) -> str:
        """What an analysis of a question depends on (see :func:`analysis.version`)."""
        return analysis.version(self.kb, self.emergencies, self.matcher.scope)

    def analyse(self, text: str) -> analysis.Analysis:
        return analysis.analyse(text, self.matcher, self.emergencies)

    def known_words(self) -> KnownWords:
        """What the log may keep of a question; built the first time something is logged
        (it takes about a second, which `rightsdesk ask` need not spend)."""
        if self._known is None:
            self._known = content_words(self.kb, self.messages)
        return self._known


def content_words(kb: KnowledgeBase, messages: Messages) -> KnownWords:
    """The words the log may keep: the knowledge base's and the bot's own, in every language."""
    return KnownWords.of(kb, [t for key in messages.texts for t in _texts(messages, key)])


def _texts(messages: Messages, key: str) -> list[str]:
    value = messages.texts[key]
    found: list[str] = []
    for item in value.all():
        found.extend(item if isinstance(item, (list, tuple)) else [str(item)])
    return found


def question_text(raw: object) -> str:
    """What of a typed text is matched and logged: its first :data:`QUESTION_CHARS` visible
    characters (see :func:`rightsdesk.languages.visible`); anything but a string is empty.

    Every adapter's text passes here, so odd input is made harmless once, for all of them."""
    if not isinstance(raw, str):
        return ""
    # Cut before scrubbing too, so that a huge text costs no more than a long one.
    return languages.visible(raw[: QUESTION_CHARS * 4])[:QUESTION_CHARS]


def button_data(raw: object) -> str:
    """Button data as the conversation may read it: "" (an out-of-date button) for anything
    this bot cannot have made: not a string, longer than Telegram allows, or not visible."""
    if not isinstance(raw, str) or len(raw) > BUTTON_DATA_CHARS:
        return ""
    return languages.visible(raw)


def _remember(memory: OrderedDict[int, T], key: int, value: T) -> None:
    memory[key] = value
    memory.move_to_end(key)
    while len(memory) > CHOICES_KEPT:
        memory.popitem(last=False)


def open_query_log(settings: Settings) -> AnyQueryLog:
    """The query log (a null log, with a warning, only for a fault no retry can fix).

    A database that cannot be opened or written does not turn logging off: the log opens
    anyway and retries in the background while rows wait (see :meth:`QueryLog.health`).
    A bad secret raises :class:`~rightsdesk.anonymise.SecretError`, because it stays bad
    until someone fixes it, and a bot that quietly ran without a log for months would be
    worse than one that does not start (``--no-log`` runs without one on purpose).
    """
    from rightsdesk.anonymise import load_secret

    secret = settings.secret or load_secret(settings.secret_path)
    try:
        return QueryLog(
            settings.db_path,
            secret=secret,
            keys_path=settings.week_key_path,
            retention_days=settings.retention_days,
        ).open()
    except (QueryLogError, OSError, ValueError) as error:
        log.warning("query log disabled (%s: %s); answering anyway", type(error).__name__, error)
        return NullQueryLog()
