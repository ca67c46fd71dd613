"""The conversation core: what the user sees, for a text or a button press, in any adapter.

Pure Python, no Telegram and no I/O. The Telegram adapter and the console chat both turn
updates into calls here and render the :class:`Reply` they get back, so a behaviour cannot
exist in one and not the other.

Button data stays far below Telegram's 64-byte limit: it holds short codes and entry ids
(at most 48 characters, checked by ``kb check``), never the user's text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from rightsdesk.knowledge_base import Entry, KnowledgeBase
from rightsdesk.matching import Matcher, MatchResult
from rightsdesk.messages import Messages

Style = Literal["title", "text", "heading", "bullets", "source", "note"]
PARTS = ("I", "II", "III", "IV", "V")
THEMES = "T"
RELATED_BUTTONS = 3
NO_QUERY = "-"  # feedback key when nothing was logged (browsing, console without a log)


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


@dataclass(frozen=True)
class Asked:
    """A question matched: log ``result`` first, then build the reply with the log's key."""

    result: MatchResult
    conversation: Conversation = field(repr=False)
    lang: str = "en"

    def reply(self, query_key: str = NO_QUERY) -> Reply:
        return self.conversation.reply_for(self.result, self.lang, query_key)


@dataclass(frozen=True)
class Pressed:
    """What a button press shows, and what it tells the query log."""

    reply: Reply | None
    feedback: tuple[str, bool] | None = None  # (query key, helpful)
    choice: tuple[str, str] | None = None  # (query key, chosen entry id)
    ask: str | None = None  # an example question to run as if typed


class Conversation:
    def __init__(
        self,
        kb: KnowledgeBase,
        matcher: Matcher,
        messages: Messages,
        *,
        retention_days: int = 180,
        k_anonymity: int = 3,
    ) -> None:
        self.kb = kb
        self.matcher = matcher
        self.messages = messages
        self.retention_days = retention_days
        self.k_anonymity = k_anonymity
        self._countries = sorted({e.country for e in kb.of_kind("example") if e.country})

    # -- commands -----------------------------------------------------------------------

    def start(self, lang: str) -> Reply:
        m = self.messages
        examples = m.list("example_questions", lang)
        buttons = [(Button(q, f"q:{i}"),) for i, q in enumerate(examples)]
        buttons.append(self._browse_row(lang))
        return Reply(
            (
                Block("text", m.get("welcome", lang)),
                Block("note", m.get("disclaimer", lang)),
                Block("text", m.get("privacy_line", lang)),
                Block("text", m.get("how_to_ask", lang)),
            ),
            tuple(buttons),
        )

    def help(self, lang: str) -> Reply:
        return Reply((Block("text", self.messages.get("help", lang)),), (self._browse_row(lang),))

    def privacy(self, lang: str) -> Reply:
        text = self.messages.get(
            "privacy", lang, retention_days=self.retention_days, k=self.k_anonymity
        )
        return Reply(tuple(Block("text", p) for p in text.split("\n\n")))

    def about(self, lang: str) -> Reply:
        text = self.messages.get(
            "about",
            lang,
            version=self.kb.version,
            entries=len(self.kb),
            reviewed=self.kb.latest_review,
        )
        return Reply(tuple(Block("text", p) for p in text.split("\n\n")))

    def simple(self, key: str, lang: str) -> Reply:
        """A one-line reply from the bot's own words (errors, flood, unknown command)."""
        return Reply((Block("text", self.messages.get(key, lang)),))

    # -- questions ----------------------------------------------------------------------

    def ask(self, text: str, lang: str) -> Asked:
        return Asked(self.matcher.match(text), self, lang)

    def reply_for(self, result: MatchResult, lang: str, query_key: str) -> Reply:
        if result.decision == "answer" and result.best is not None:
            return self.answer(result.best.entry, lang, query_key)
        if result.decision == "clarify":
            return self.clarify(result, lang, query_key)
        if result.declined is not None:
            reason = result.declined.reason
            text = reason.get(lang) or reason["en"]
            return Reply((Block("text", text),), (self._browse_row(lang),))
        return self.nothing_found(lang)

    def answer(self, entry: Entry, lang: str, query_key: str = NO_QUERY) -> Reply:
        m = self.messages
        blocks = [
            Block("title", self._heading(entry, lang)),
            Block("text", entry.text("summary", lang)),
            Block("heading", m.get("labels.what_you_can_do", lang)),
            Block("bullets", items=entry.items("what_you_can_do", lang)),
            Block("source", f"{m.get('labels.source', lang)}: {entry.citation}"),
            Block("note", f"{self._review_line(entry, lang)}. {m.get('labels.not_advice', lang)}"),
        ]
        rows: list[tuple[Button, ...]] = [(Button(m.get("buttons.more", lang), f"m:{entry.id}"),)]
        if query_key != NO_QUERY:
            rows.append(
                (
                    Button(m.get("buttons.helpful", lang), f"f:y:{query_key}"),
                    Button(m.get("buttons.not_helpful", lang), f"f:n:{query_key}"),
                )
            )
        rows.extend(self._related_rows(entry, lang))
        return Reply(tuple(blocks), tuple(rows))

    def more(self, entry: Entry, lang: str) -> Reply:
        m = self.messages
        blocks = [Block("title", self._heading(entry, lang))]
        if entry.kind == "example":
            blocks.append(Block("text", f"{m.get('labels.country', lang)}: {entry.country}"))
            blocks.append(Block("text", f"{m.get('labels.period', lang)}: {entry.period}"))
        else:
            blocks.append(Block("heading", m.get("labels.details", lang)))
        levels = entry.detail_levels(lang)
        for level in ("shall", "should", "may", "notes"):
            if levels.get(level):
                blocks.append(Block("heading", m.get(f"labels.{level}", lang)))
                blocks.append(Block("bullets", items=levels[level]))
        if entry.kind == "example":
            blocks.append(Block("heading", m.get("labels.lessons", lang)))
            blocks.append(Block("bullets", items=entry.items("lessons", lang)))
            refs = ", ".join(f"Guidelines {ref}" for ref in entry.provisions)
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
        blocks.append(Block("note", self._review_line(entry, lang)))
        return Reply(tuple(blocks), tuple(self._related_rows(entry, lang)))

    def clarify(self, result: MatchResult, lang: str, query_key: str) -> Reply:
        choices = result.choices(self.matcher.thresholds)
        rows = [
            (Button(self._button_title(c.entry, lang), f"c:{query_key}:{c.entry.id}"),)
            for c in choices
        ]
        rows.append(self._browse_row(lang))
        return Reply((Block("text", self.messages.get("did_you_mean", lang)),), tuple(rows))

    def nothing_found(self, lang: str) -> Reply:
        m = self.messages
        return Reply(
            (Block("text", m.get("none_found", lang)), Block("text", m.get("rephrase_hint", lang))),
            (self._browse_row(lang),),
        )

    # -- browsing -----------------------------------------------------------------------

    def topics(self, lang: str) -> Reply:
        m = self.messages
        rows = [(Button(m.get(f"parts.{part}", lang), f"p:{part}"),) for part in PARTS]
        rows.append((Button(m.get("parts.topics", lang), f"p:{THEMES}"),))
        return Reply((Block("text", m.get("choose_topic", lang)),), tuple(rows))

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
        return Reply((Block("text", m.get("choose_item", lang, part=name)),), tuple(rows))

    def countries(self, lang: str) -> Reply:
        rows = [(Button(c, f"x:{i}"),) for i, c in enumerate(self._countries)]
        return Reply((Block("text", self.messages.get("choose_country", lang)),), tuple(rows))

    def country(self, index: int, lang: str) -> Reply | None:
        if not 0 <= index < len(self._countries):
            return None
        name = self._countries[index]
        examples = [e for e in self.kb.of_kind("example") if e.country == name]
        rows = [(Button(e.text("title", lang), f"e:{e.id}"),) for e in examples]
        rows.append((Button(self.messages.get("buttons.back", lang), "x"),))
        text = self.messages.get("choose_example", lang, country=name)
        return Reply((Block("text", text),), tuple(rows))

    # -- buttons ------------------------------------------------------------------------

    def press(self, data: str, lang: str) -> Pressed:
        """Dispatch button data made by this class. Unknown or stale data gets a safe reply."""
        code, _, rest = data.partition(":")
        if code == "e" or code == "m":
            entry = self.kb.get(rest)
            if entry is None:
                return Pressed(self.simple("not_found", lang))
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
        if code == "p" and (rest in PARTS or rest == THEMES):
            return Pressed(self.part(rest, lang))
        if code == "x":
            if not rest:
                return Pressed(self.countries(lang))
            reply = self.country(int(rest), lang) if rest.isdigit() else None
            return Pressed(reply or self.countries(lang))
        if code == "q" and rest.isdigit():
            examples = self.messages.list("example_questions", lang)
            if int(rest) < len(examples):
                return Pressed(None, ask=examples[int(rest)])
        return Pressed(self.simple("not_found", lang))

    # -- helpers ------------------------------------------------------------------------

    def _heading(self, entry: Entry, lang: str) -> str:
        title = entry.text("title", lang)
        return f"{entry.ref} {title}" if entry.ref else title

    def _button_title(self, entry: Entry, lang: str) -> str:
        text = self._heading(entry, lang)
        if entry.kind == "example" and entry.country:
            text = f"{entry.country}: {entry.text('title', lang)}"
        return text if len(text) <= 60 else text[:57].rstrip() + "..."

    def _review_line(self, entry: Entry, lang: str) -> str:
        m = self.messages
        status = m.get(f"labels.status_{entry.review.status}", lang)
        return m.get("labels.reviewed", lang, status=status, date=entry.review.date)

    def _related_rows(self, entry: Entry, lang: str) -> list[tuple[Button, ...]]:
        rows = []
        for related_id in entry.related[:RELATED_BUTTONS]:
            other = self.kb.get(related_id)
            if other is not None:
                label = self.messages.get(
                    "buttons.related", lang, title=self._button_title(other, lang)
                )
                rows.append((Button(label, f"e:{other.id}"),))
        rows.append(self._browse_row(lang))
        return rows

    def _browse_row(self, lang: str) -> tuple[Button, ...]:
        m = self.messages
        return (
            Button(m.get("buttons.topics", lang), "t"),
            Button(m.get("buttons.examples", lang), "x"),
        )


def _ref_key(ref: str | None) -> tuple[int, ...]:
    if not ref:
        return ()
    part, *numbers = ref.split(".")
    return (PARTS.index(part), *(int(n) for n in numbers))
