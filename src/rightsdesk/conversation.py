"""The conversation core: what the user sees, for a text or a button press, in any adapter.

Pure Python, no Telegram and no I/O. The desk (:mod:`rightsdesk.desk`) calls it for every
adapter, so a behaviour cannot exist in the console and not in Telegram.

Button data stays far below Telegram's 64-byte limit: it holds short codes and entry ids
(at most 48 characters, checked by ``kb check``), never the user's text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Literal

from rightsdesk.decision import Decision
from rightsdesk.emergency import Emergencies
from rightsdesk.knowledge_base import Entry, KnowledgeBase
from rightsdesk.languages import NATIVE_NAMES
from rightsdesk.localized import DEFAULT_LANGUAGE, LANGUAGES
from rightsdesk.matching import MatchResult
from rightsdesk.messages import Messages
from rightsdesk.referrals import Referrals
from rightsdesk.sectors import Sectors

Style = Literal["title", "text", "heading", "bullets", "source", "note"]
PARTS = ("I", "II", "III", "IV", "V")
THEMES = "T"
RELATED_BUTTONS = 3
DISCREET_MINUTES = (5, 30, 120)
DISCREET_QUICK = 30
BUTTON_TITLE_MAX = 60
NO_QUERY = "-"  # feedback key when nothing was logged (browsing, a log that is off)


@dataclass(frozen=True)
class Block:
    """A piece of a reply: adapters choose how each style looks (bold, bullets, ...)."""

    style: Style
    text: str = ""
    items: tuple[str, ...] = ()


@dataclass(frozen=True)
class Button:
    label: str
    data: str


@dataclass(frozen=True)
class Reply:
    blocks: tuple[Block, ...]
    buttons: tuple[tuple[Button, ...], ...] = ()
    lang: str = DEFAULT_LANGUAGE  # the language the reply is written in
    encoding: str = "unicode"  # "zawgyi" when converted for a phone with the Zawgyi font
    emergency: str | None = None  # the kind of emergency card the reply opens with
    # For the adapter to act on: delete this chat's messages after so many minutes (0: stop
    # deleting), or delete them all now. Adapters that keep no chat ignore them.
    discreet: int | None = None
    wipe: bool = False
    # A fact sheet to send as a document: an entry's id or ``sector-<id>`` (see
    # :mod:`rightsdesk.factsheet`). Adapters that cannot send files say where to get it.
    factsheet: str | None = None

    def converted(self, convert: Callable[[str], str], encoding: str) -> Reply:
        """The same reply with every text and label passed through ``convert``."""
        blocks = tuple(
            replace(b, text=convert(b.text), items=tuple(convert(i) for i in b.items))
            for b in self.blocks
        )
        buttons = tuple(
            tuple(replace(b, label=convert(b.label)) for b in row) for row in self.buttons
        )
        return replace(self, blocks=blocks, buttons=buttons, encoding=encoding)


@dataclass(frozen=True)
class Pressed:
    """What a button press shows, and what the desk must do besides."""

    reply: Reply | None
    feedback: tuple[str, bool] | None = None  # (query key, helpful)
    choice: tuple[str, str] | None = None  # (query key, chosen entry id)
    ask: str | None = None  # an example question to run as if typed
    language: str | None = None  # the person chose this language
    country: str | None = None  # the person chose this country ("" to forget it)
    people: bool = False  # show who can help in the person's country


class Conversation:
    """Builds every :class:`Reply`. Knows the content and the bot's words, nothing else."""

    def __init__(
        self,
        kb: KnowledgeBase,
        messages: Messages,
        *,
        retention_days: int,
        k_anonymity: int,
        emergencies: Emergencies | None = None,
        referrals: Referrals | None = None,
        sectors: Sectors | None = None,
        today: Callable[[], date] = date.today,
    ) -> None:
        self.kb = kb
        self.today = today
        self.sectors = sectors
        self.messages = messages
        self.emergencies = emergencies
        self.referrals = referrals
        self.retention_days = retention_days
        self.k_anonymity = k_anonymity
        english = [e.country.get(DEFAULT_LANGUAGE) for e in kb.of_kind("example") if e.country]
        self._countries = sorted(set(english))

    # -- commands -----------------------------------------------------------------------

    def start(self, lang: str) -> Reply:
        m = self.messages
        examples = m.list("example_questions", lang)
        buttons: list[tuple[Button, ...]] = [(Button(q, f"q:{i}"),) for i, q in enumerate(examples)]
        buttons.extend(self._finding_rows(lang))
        buttons.append((Button(m.get("buttons.language", lang), "l"),))
        blocks = (
            Block("text", m.get("welcome", lang)),
            Block("note", m.get("disclaimer", lang)),
            Block("text", m.get("privacy_line", lang)),
            Block("text", m.get("how_to_ask", lang)),
            Block("note", self._language_line()),
        )
        return Reply(blocks, tuple(buttons), lang)

    def help(self, lang: str) -> Reply:
        blocks = (
            Block("text", self.messages.get("help", lang)),
            Block("note", self._language_line()),
        )
        return Reply(blocks, tuple(self._finding_rows(lang)), lang)

    def privacy(self, lang: str) -> Reply:
        text = self.messages.get(
            "privacy", lang, retention_days=self.retention_days, k=self.k_anonymity
        )
        return Reply(tuple(Block("text", p) for p in text.split("\n\n")), lang=lang)

    def about(self, lang: str) -> Reply:
        text = self.messages.get(
            "about",
            lang,
            version=self.kb.version,
            entries=len(self.kb),
            reviewed=self.kb.latest_review,
        )
        overdue = self.messages.get(
            "about_overdue", lang, count=len(self.kb.overdue_for_review(self.today()))
        )
        blocks = (*(Block("text", p) for p in text.split("\n\n")), Block("text", overdue))
        return Reply(blocks, lang=lang)

    def languages(self, lang: str) -> Reply:
        rows = tuple((Button(NATIVE_NAMES[code], f"l:{code}"),) for code in LANGUAGES)
        return Reply((Block("text", self.messages.get("choose_language", lang)),), rows, lang)

    def simple(self, key: str, lang: str, **values: object) -> Reply:
        """A one-line reply from the bot's own words (errors, flood, unknown command)."""
        return Reply((Block("text", self.messages.get(key, lang, **values)),), lang=lang)

    def text(self, text: str, lang: str) -> Reply:
        """A reply that is one plain text made elsewhere (an admin report)."""
        return Reply((Block("text", text),), lang=lang)

    # -- questions ----------------------------------------------------------------------

    def reply_for(
        self,
        result: MatchResult,
        lang: str,
        query_key: str = NO_QUERY,
        *,
        emergency: str | None = None,
        country: str | None = None,
        offer_discreet: bool = False,
    ) -> Reply:
        """The reply to a question; with ``emergency``, the card of that kind comes first,
        then the question's own answer or the kind's provision (never a decline: "I can't
        talk about doses" under an overdose card would read as a refusal to help)."""
        reply = self._reply_with_card(result, lang, query_key, emergency, country)
        if not offer_discreet:
            return reply
        quick = (Button(self.messages.get("buttons.discreet_quick", lang), f"d:{DISCREET_QUICK}"),)
        return replace(reply, buttons=(*reply.buttons, quick))

    def _reply_with_card(
        self,
        result: MatchResult,
        lang: str,
        query_key: str,
        emergency: str | None,
        country: str | None,
    ) -> Reply:
        if emergency is None or self.emergencies is None:
            return self._reply_for(result, lang, query_key)
        kind = self.emergencies.kinds[emergency]
        follow: Reply | None = None
        if result.decision == Decision.ANSWER and result.best is not None:
            follow = self.answer(result.best.entry, lang, query_key)
        elif kind.entry and (entry := self.kb.get(kind.entry)) is not None:
            follow = self.answer(entry, lang, query_key)
        blocks = list(self._card(emergency, lang, country))
        rows: list[tuple[Button, ...]] = [self._safety_row(lang)]
        if follow is not None:
            blocks.append(Block("heading", self.emergencies.text("then", lang)))
            blocks.extend(follow.blocks)
            rows.extend(follow.buttons)
        else:
            rows.append(self._browse_row(lang))
        return Reply(tuple(blocks), tuple(rows), lang, emergency=emergency)

    def _reply_for(self, result: MatchResult, lang: str, query_key: str) -> Reply:
        if result.decision == Decision.ANSWER and result.best is not None:
            return self.answer(result.best.entry, lang, query_key)
        if result.decision == Decision.CLARIFY:
            return self.clarify(result, lang, query_key)
        if result.declined is not None:
            text = result.declined.reason.get(lang)
            rows = [*self._choice_rows(result, lang, query_key), self._browse_row(lang)]
            if result.declined.offer == "contacts":
                rows.insert(0, self._safety_row(lang))
            return Reply((Block("text", text),), tuple(rows), lang)
        # The scope model may have declined a question that had choices: they go beside.
        return self.nothing_found(lang, self._choice_rows(result, lang, query_key))

    def answer(self, entry: Entry, lang: str, query_key: str = NO_QUERY) -> Reply:
        m = self.messages
        lang = self._content_language(entry, lang)
        blocks = [
            Block("title", entry.heading(lang)),
            Block("text", entry.summary.get(lang)),
            Block("heading", m.get("labels.what_you_can_do", lang)),
            Block("bullets", items=entry.what_you_can_do.get(lang)),
            Block("source", f"{m.get('labels.source', lang)}: {self._citation(entry, lang)}"),
            Block("note", self._status_note(entry, lang)),
        ]
        rows: list[tuple[Button, ...]] = [
            (
                Button(m.get("buttons.more", lang), f"m:{entry.id}"),
                Button(m.get("buttons.factsheet", lang), f"g:{entry.id}"),
            )
        ]
        if self._unreviewed(entry, lang):
            rows[0] += (Button(m.get("buttons.original", lang), f"o:{entry.id}"),)
        if query_key != NO_QUERY:
            rows.append(
                (
                    Button(m.get("buttons.helpful", lang), f"f:y:{query_key}"),
                    Button(m.get("buttons.not_helpful", lang), f"f:n:{query_key}"),
                )
            )
        # At most three related items and no browse row: the keyboard stays on one screen.
        rows.extend(self._related_rows(entry, lang, browse=False))
        return Reply(tuple(blocks), tuple(rows), lang)

    def more(self, entry: Entry, lang: str) -> Reply:
        m = self.messages
        lang = self._content_language(entry, lang)
        blocks = [Block("title", entry.heading(lang))]
        if entry.kind == "example" and entry.country and entry.period:
            blocks.append(
                Block("text", f"{m.get('labels.country', lang)}: {entry.country.get(lang)}")
            )
            blocks.append(
                Block("text", f"{m.get('labels.period', lang)}: {entry.period.get(lang)}")
            )
        else:
            blocks.append(Block("heading", m.get("labels.details", lang)))
        levels = entry.details.get(lang)
        for level in ("shall", "should", "may", "notes"):
            if levels.get(level):
                blocks.append(Block("heading", m.get(f"labels.{level}", lang)))
                blocks.append(Block("bullets", items=levels[level]))
        if entry.kind == "example":
            blocks.append(Block("heading", m.get("labels.lessons", lang)))
            blocks.append(Block("bullets", items=entry.lessons.get(lang)))
            refs = ", ".join(m.get("labels.guidelines_ref", lang, ref=r) for r in entry.provisions)
            blocks.append(Block("text", f"{m.get('labels.provisions', lang)}: {refs}"))
        if entry.legal_basis:
            blocks.append(Block("heading", m.get("labels.legal_basis", lang)))
            items = []
            for basis in entry.legal_basis:
                article = f", art. {basis.article}" if basis.article else ""
                how = m.get(f"labels.basis_{basis.basis}", lang)
                items.append(f"{basis.instrument}{article} ({how})")
            blocks.append(Block("bullets", items=tuple(items)))
        blocks.append(Block("source", f"{m.get('labels.source', lang)}: {entry.source}"))
        blocks.append(Block("note", self._status_note(entry, lang)))
        return Reply(tuple(blocks), tuple(self._related_rows(entry, lang)), lang)

    def clarify(self, result: MatchResult, lang: str, query_key: str = NO_QUERY) -> Reply:
        rows = [*self._choice_rows(result, lang, query_key), self._browse_row(lang)]
        return Reply((Block("text", self.messages.get("did_you_mean", lang)),), tuple(rows), lang)

    def _choice_rows(
        self, result: MatchResult, lang: str, query_key: str
    ) -> list[tuple[Button, ...]]:
        return [
            (Button(self._button_title(c.entry, lang), f"c:{query_key}:{c.entry.id}"),)
            for c in result.choices
        ]

    def nothing_found(self, lang: str, choices: Sequence[tuple[Button, ...]] = ()) -> Reply:
        m = self.messages
        blocks = (
            Block("text", m.get("none_found", lang)),
            Block("text", m.get("rephrase_hint", lang)),
        )
        return Reply(blocks, (*choices, self._browse_row(lang)), lang)

    # -- safety -------------------------------------------------------------------------

    def _card(self, name: str, lang: str, country: str | None) -> list[Block]:
        assert self.emergencies is not None
        e = self.emergencies
        kind = e.kinds[name]
        card = e.card(name, lang)
        blocks = [Block("title", e.text("heading", lang)), Block("heading", card.title)]
        if kind.call != "none":
            found = self.referrals.country(country) if self.referrals else None
            if found is None:
                blocks.append(Block("text", e.text("call_unknown_country", lang)))
            elif numbers := found.numbers_for(kind.call):
                for n in numbers:
                    blocks.append(
                        Block(
                            "text",
                            e.text(
                                "call_medical",
                                lang,
                                number=n.number,
                                service=e.service_name(n.service, lang),
                                country=e.country_name(found.code, lang),
                            ),
                        )
                    )
            else:
                name_there = e.country_name(found.code, lang)
                blocks.append(Block("text", e.text("no_number", lang, country=name_there)))
        blocks.append(Block("bullets", items=card.steps))
        org = self.referrals.organisation if self.referrals else None
        if org is not None and org.hotline:
            hotline = e.text("hotline", lang, organisation=org.name or "", hotline=org.hotline)
            blocks.append(Block("text", hotline))
        blocks.append(Block("source", f"{e.text('source', lang)}: {kind.cite}"))
        translation = e.translation(lang)
        if translation is not None and not translation.reviewed:
            note = self.messages.get(f"labels.translation_{translation.status}", lang)
            blocks.append(Block("note", note))
        return blocks

    def people(self, lang: str, country: str | None) -> Reply:
        """Who can help in ``country``: what is configured, or plainly that nothing is."""
        m = self.messages
        found = self.referrals.country(country) if self.referrals else None
        if found is None:
            return self.country_picker(lang, m.get("people_no_country", lang))
        name = self._safety_country_name(found.code, lang)
        blocks = [Block("title", m.get("people_heading", lang, country=name))]
        if found.emergency:
            numbers = ", ".join(
                f"{n.number} ({self._service(n.service, lang)})" for n in found.emergency
            )
            blocks.append(Block("text", m.get("people_emergency", lang, numbers=numbers)))
        org = self.referrals.organisation if self.referrals else None
        items = []
        if org is not None and org.hotline:
            items.append(f"{org.name or ''}: {org.hotline}".lstrip(": "))
        for service in found.services:
            hours = f", {service.hours}" if service.hours else ""
            checked = m.get("people_checked", lang, date=service.checked.isoformat())
            items.append(f"{service.name}: {service.contact}{hours} ({checked})")
        if items:
            blocks.append(Block("bullets", items=tuple(items)))
        else:
            blocks.append(Block("text", m.get("people_none", lang, country=name)))
        rows = ((Button(m.get("buttons.country", lang), "k"),), self._browse_row(lang))
        return Reply(tuple(blocks), rows, lang)

    def country_picker(self, lang: str, text: str | None = None) -> Reply:
        m = self.messages
        codes = sorted(self.referrals.countries) if self.referrals else []
        rows = [(Button(self._safety_country_name(c, lang), f"k:{c}"),) for c in codes]
        rows.append((Button(m.get("buttons.other_country", lang), "k:-"),))
        return Reply(
            (Block("text", text or m.get("choose_your_country", lang)),), tuple(rows), lang
        )

    def country_chosen(self, code: str | None, lang: str) -> Reply:
        m = self.messages
        if code is None:
            return self.simple("country_cleared", lang)
        text = m.get("country_set", lang, country=self._safety_country_name(code, lang))
        rows = ((Button(m.get("buttons.talk_to_person", lang), "h"),),)
        return Reply((Block("text", text),), rows, lang)

    def discreet_choice(self, lang: str) -> Reply:
        m = self.messages
        row = tuple(
            Button(m.get("buttons.minutes", lang, minutes=n), f"d:{n}") for n in DISCREET_MINUTES
        )
        rows = (row, (Button(m.get("buttons.off", lang), "d:0"),))
        return Reply((Block("text", m.get("discreet_choose", lang)),), rows, lang)

    def discreet_set(self, minutes: int, lang: str) -> Reply:
        m = self.messages
        text = (
            m.get("discreet_on", lang, minutes=minutes) if minutes else m.get("discreet_off", lang)
        )
        return Reply((Block("text", text),), lang=lang, discreet=minutes)

    def wipe(self, lang: str) -> Reply:
        """Asks the adapter to delete the chat; its words come from :meth:`wiped`."""
        return Reply((), lang=lang, wipe=True)

    def wiped(self, count: int, lang: str) -> Reply:
        return Reply((Block("text", self.messages.get("wipe_done", lang, count=count)),), lang=lang)

    def _safety_row(self, lang: str) -> tuple[Button, ...]:
        m = self.messages
        return (
            Button(m.get("buttons.talk_to_person", lang), "h"),
            Button(m.get("buttons.country", lang), "k"),
        )

    def _safety_country_name(self, code: str, lang: str) -> str:
        return self.emergencies.country_name(code, lang) if self.emergencies else code

    def _service(self, service: str, lang: str) -> str:
        return self.emergencies.service_name(service, lang) if self.emergencies else service

    # -- browsing -----------------------------------------------------------------------

    def topics(self, lang: str) -> Reply:
        m = self.messages
        rows = [(Button(m.get(f"parts.{part}", lang), f"p:{part}"),) for part in PARTS]
        rows.append((Button(m.get("parts.topics", lang), f"p:{THEMES}"),))
        return Reply((Block("text", m.get("choose_topic", lang)),), tuple(rows), lang)

    def part(self, part: str, lang: str) -> Reply:
        m = self.messages
        if part == THEMES:
            entries = self.kb.of_kind("topic")
            name = m.get("parts.topics", lang)
        else:
            entries = sorted(
                (e for e in self.kb.entries if e.part == part), key=lambda e: _ref_key(e.ref)
            )
            name = m.get(f"parts.{part}", lang)
        rows = [(Button(self._button_title(e, lang), f"e:{e.id}"),) for e in entries]
        rows.append((Button(m.get("buttons.back", lang), "t"),))
        return Reply((Block("text", m.get("choose_item", lang, part=name)),), tuple(rows), lang)

    def sector_list(self, lang: str) -> Reply:
        """``/for``: the sectors as buttons."""
        m = self.messages
        if not self.sectors:
            return self.topics(lang)
        rows = [(Button(s.name.get(lang), f"s:{s.id}"),) for s in self.sectors]
        return Reply((Block("text", m.get("choose_sector", lang)),), tuple(rows), lang)

    def sector(self, sector_id: str, lang: str) -> Reply | None:
        """One sector's items, each with what it asks of people in that role; each item's
        button opens its usual answer."""
        found = self.sectors.get(sector_id) if self.sectors else None
        if found is None:
            return None
        assert self.sectors is not None
        m = self.messages
        items = []
        rows: list[tuple[Button, ...]] = []
        for item in found.items:
            entry = self.kb.get(item.entry_id)
            if entry is None:
                continue
            shown = self._content_language(entry, lang)
            items.append(f"{entry.heading(shown)}: {item.asks.get(lang)}")
            rows.append((Button(self._button_title(entry, shown), f"e:{entry.id}"),))
        blocks = [
            Block("title", found.name.get(lang)),
            Block("text", found.intro.get(lang)),
            Block("bullets", items=tuple(items)),
        ]
        translation = self.sectors.translation(lang)
        notes = []
        if translation is not None and not translation.reviewed:
            notes.append(m.get(f"labels.translation_{translation.status}", lang))
        notes += [m.get("labels.guidance_only", lang), m.get("labels.not_advice", lang)]
        blocks.append(Block("note", " ".join(notes)))
        rows.append(
            (
                Button(m.get("buttons.factsheet", lang), f"g:sector-{found.id}"),
                Button(m.get("buttons.back", lang), "s"),
            )
        )
        return Reply(tuple(blocks), tuple(rows), lang)

    def factsheet(self, target: str, lang: str) -> Reply | None:
        """Asks the adapter to send ``target``'s fact sheet (None if there is no such sheet)."""
        entry = self.kb.get(target)
        sector_id = target.removeprefix("sector-") if target.startswith("sector-") else None
        if entry is None and (
            sector_id is None or not self.sectors or not self.sectors.get(sector_id)
        ):
            return None
        return Reply((), lang=lang, factsheet=target)

    def countries(self, lang: str) -> Reply:
        rows = [
            (Button(self._country_name(c, lang), f"x:{i}"),) for i, c in enumerate(self._countries)
        ]
        return Reply((Block("text", self.messages.get("choose_country", lang)),), tuple(rows), lang)

    def country(self, index: int, lang: str) -> Reply | None:
        if not 0 <= index < len(self._countries):
            return None
        name = self._countries[index]
        examples = [
            e
            for e in self.kb.of_kind("example")
            if e.country and e.country.get(DEFAULT_LANGUAGE) == name
        ]
        rows = [(Button(self._button_title(e, lang), f"e:{e.id}"),) for e in examples]
        rows.append((Button(self.messages.get("buttons.back", lang), "x"),))
        text = self.messages.get("choose_example", lang, country=self._country_name(name, lang))
        return Reply((Block("text", text),), tuple(rows), lang)

    # -- buttons ------------------------------------------------------------------------

    def press(self, data: str, lang: str) -> Pressed:
        """Dispatch button data made by this class. Unknown, stale or forged data gets a
        safe reply: the data comes from the phone and may be anything."""
        code, _, rest = data.partition(":")
        if code in ("e", "m", "o"):
            entry = self.kb.get(rest)
            if entry is None:
                return Pressed(self.simple("not_found", lang))
            if code == "o":
                return Pressed(self.answer(entry, DEFAULT_LANGUAGE))
            return Pressed(self.answer(entry, lang) if code == "e" else self.more(entry, lang))
        if code == "c":
            key, _, entry_id = rest.partition(":")
            entry = self.kb.get(entry_id)
            if entry is None:
                return Pressed(self.simple("not_found", lang))
            choice = (key, entry_id) if key != NO_QUERY else None
            return Pressed(self.answer(entry, lang, key), choice=choice)
        if code == "f":
            verdict, _, key = rest.partition(":")
            helpful = verdict == "y"
            text = "feedback_thanks" if helpful else "feedback_sorry"
            feedback = (key, helpful) if key and key != NO_QUERY else None
            return Pressed(self.simple(text, lang), feedback=feedback)
        if code == "t":
            return Pressed(self.topics(lang))
        if code == "s":
            return Pressed((self.sector(rest, lang) if rest else None) or self.sector_list(lang))
        if code == "g":
            return Pressed(self.factsheet(rest, lang) or self.simple("not_found", lang))
        if code == "p" and (rest in PARTS or rest == THEMES):
            return Pressed(self.part(rest, lang))
        if code == "x":
            if not rest:
                return Pressed(self.countries(lang))
            reply = self.country(int(rest), lang) if _is_small_number(rest) else None
            return Pressed(reply or self.countries(lang))
        if code == "q" and _is_small_number(rest):
            examples = self.messages.list("example_questions", lang)
            if int(rest) < len(examples):
                return Pressed(None, ask=examples[int(rest)])
        if code == "h":
            return Pressed(None, people=True)
        if code == "d":
            if rest == "0" or (_is_small_number(rest) and int(rest) in DISCREET_MINUTES):
                return Pressed(self.discreet_set(int(rest), lang))
            return Pressed(self.discreet_choice(lang))
        if code == "k":
            if rest == "-":
                return Pressed(self.country_chosen(None, lang), country="")
            if self.referrals is not None and rest in self.referrals.countries:
                return Pressed(self.country_chosen(rest, lang), country=rest)
            return Pressed(self.country_picker(lang))
        if code == "l":
            if rest in LANGUAGES:
                return Pressed(self.simple("language_set", rest), language=rest)
            return Pressed(self.languages(lang))
        return Pressed(self.simple("not_found", lang))

    # -- helpers ------------------------------------------------------------------------

    def _content_language(self, entry: Entry, lang: str) -> str:
        """The language an entry is shown in: the one asked for if translated, else English."""
        return lang if entry.summary.has(lang) else DEFAULT_LANGUAGE

    def _unreviewed(self, entry: Entry, lang: str) -> bool:
        translation = entry.translation(lang)
        return translation is not None and not translation.reviewed

    def _status_note(self, entry: Entry, lang: str) -> str:
        m = self.messages
        parts = [self._review_line(entry, lang)]
        translation = entry.translation(lang)
        if translation is not None and not translation.reviewed:
            parts.append(m.get(f"labels.translation_{translation.status}", lang))
        parts.append(m.get("labels.guidance_only", lang))
        parts.append(m.get("labels.not_advice", lang))
        return " ".join(p if p.endswith(".") else f"{p}." for p in parts)

    def _citation(self, entry: Entry, lang: str) -> str:
        if entry.ref:
            return self.messages.get("labels.guidelines_ref", lang, ref=entry.ref)
        return entry.source

    def _button_title(self, entry: Entry, lang: str) -> str:
        text = entry.heading(lang)
        if entry.kind == "example" and entry.country:
            country = entry.country.get(lang)
            # Example titles usually start with their country already ("Viet Nam: ...").
            if not text.casefold().startswith(country.casefold()):
                text = f"{country}: {text}"
        if len(text) <= BUTTON_TITLE_MAX:
            return text
        return text[: BUTTON_TITLE_MAX - 3].rstrip() + "..."

    def _country_name(self, english: str, lang: str) -> str:
        for e in self.kb.of_kind("example"):
            if e.country and e.country.get(DEFAULT_LANGUAGE) == english:
                return e.country.get(lang)
        return english

    def _review_line(self, entry: Entry, lang: str) -> str:
        m = self.messages
        status = m.get(f"labels.status_{entry.review.status}", lang)
        return m.get("labels.reviewed", lang, status=status, date=entry.review.date)

    def _related_rows(
        self, entry: Entry, lang: str, *, browse: bool = True
    ) -> list[tuple[Button, ...]]:
        rows: list[tuple[Button, ...]] = []
        for related_id in entry.related[:RELATED_BUTTONS]:
            other = self.kb.get(related_id)
            if other is not None:
                label = self.messages.get(
                    "buttons.related", lang, title=self._button_title(other, lang)
                )
                rows.append((Button(label, f"e:{other.id}"),))
        if browse:
            rows.append(self._browse_row(lang))
        return rows

    def _finding_rows(self, lang: str) -> list[tuple[Button, ...]]:
        """For people who do not know the words to ask: their work's list, or the topics."""
        m = self.messages
        rows = [(Button(m.get("buttons.sectors", lang), "s"),)] if self.sectors else []
        return [*rows, self._browse_row(lang)]

    def _browse_row(self, lang: str) -> tuple[Button, ...]:
        m = self.messages
        return (
            Button(m.get("buttons.topics", lang), "t"),
            Button(m.get("buttons.examples", lang), "x"),
        )

    def _language_line(self) -> str:
        return "🌐 /lang: " + " · ".join(NATIVE_NAMES[code] for code in LANGUAGES)


def _is_small_number(text: str) -> bool:
    # str.isdigit() accepts "²" and other digits int() refuses: button data may be forged.
    return 0 < len(text) <= 4 and text.isascii() and text.isdigit()


def _ref_key(ref: str | None) -> tuple[int, ...]:
    if not ref:
        return ()
    part, *numbers = ref.split(".")
    return (PARTS.index(part), *(int(n) for n in numbers))
