"""The knowledge base: entries and synonyms loaded from YAML, validated before use.

Loading and checking are one step: the bot never runs on content that `rightsdesk kb check`
would reject, and every problem names its file and line so a non-programmer can fix it.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

from rightsdesk import languages
from rightsdesk.localized import DEFAULT_LANGUAGE, LANGUAGES, Localized
from rightsdesk.yaml_source import YamlDocument, YamlSyntaxError, load_yaml

KINDS = ("principle", "provision", "topic", "example")
DETAIL_LEVELS = ("shall", "should", "may", "notes")
SUMMARY_MAX = 350
MIN_QUESTIONS = 10
REF_PATTERN = re.compile(r"^(I|II|III|IV|V)\.[1-9][0-9]?(\.[1-9][0-9]?)?$")
ID_PATTERN = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
ID_MAX = 48  # ids travel in Telegram button data, which is at most 64 bytes
REVIEW_STATUSES = ("draft", "reviewed")
TRANSLATION_STATUSES = ("machine", "community", "reviewed")
SYNONYMS_FILE = "synonyms.yaml"
DECLINE_FILE = "out_of_scope.yaml"
TRANSLATIONS_DIR = "translations"
# Read by rightsdesk.sectors, not as an entry: the sector views point to entries by id.
SECTORS_FILE = "sectors.yaml"
WORDS_DIR = "languages"
MIN_DECLINE_QUESTIONS = 5
MIN_TRANSLATED_QUESTIONS = 20
REVIEW_EVERY_MONTHS = 12  # an entry last reviewed longer ago than this is due again
Details = Mapping[str, tuple[str, ...]]  # "shall" / "should" / "may" / "notes" -> items


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the content, where to find it and what to do."""

    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{_display(self.path)}:{self.line}: {self.message}"


def _display(path: Path) -> str:
    """A path relative to the working directory where possible: shorter for editors to read."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


class KnowledgeBaseError(Exception):
    """The content has problems; the bot must not start on it."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class LegalBasis:
    instrument: str
    basis: str
    article: str | None = None


@dataclass(frozen=True)
class Review:
    status: str
    by: str
    date: str


@dataclass(frozen=True)
class Translation:
    """Who translated an entry (or the bot's words) into one language, and how far to trust it.

    ``machine``: written by a program or an AI helper; ``community``: by a fluent volunteer;
    ``reviewed``: checked by a named expert. Only ``reviewed`` text is shown without a warning.
    """

    status: str
    by: str
    date: str

    @property
    def reviewed(self) -> bool:
        return self.status == "reviewed"


Texts = Localized[tuple[str, ...]]


@dataclass(frozen=True)
class Entry:
    """One principle, provision, topic or example, with every text keyed by language."""

    id: str
    kind: str
    ref: str | None
    title: Localized[str]
    summary: Localized[str]
    details: Localized[Details]
    what_you_can_do: Texts
    legal_basis: tuple[LegalBasis, ...]
    questions: Texts
    keywords: Texts
    related: tuple[str, ...]
    source: str
    review: Review
    path: Path
    country: Localized[str] | None = None
    period: Localized[str] | None = None
    provisions: tuple[str, ...] = ()
    lessons: Texts = field(default_factory=Localized)
    translations: Mapping[str, Translation] = field(default_factory=dict)
    editor_notes: tuple[str, ...] = ()

    @property
    def part(self) -> str | None:
        """The Guidelines part ("I" .. "V") of a principle or provision."""
        return self.ref.split(".")[0] if self.ref else None

    @property
    def languages(self) -> tuple[str, ...]:
        """Languages the answer can be read in (questions may exist in more)."""
        return self.summary.languages

    def translation(self, lang: str) -> Translation | None:
        """How ``lang``'s text was made; None for English, the source."""
        return self.translations.get(lang)

    def heading(self, lang: str) -> str:
        """The title as answers and fact sheets show it: "II.7 Freedom from ..." """
        title = self.title.get(lang)
        return f"{self.ref} {title}" if self.ref else title


@dataclass(frozen=True)
class Decline:
    """A kind of question the bot must decline although it shares words with the base."""

    id: str
    reason: Localized[str]
    questions: Texts
    # What the reply offers beside the reason: "contacts" adds the "Talk to a person" and
    # country buttons, for questions the referrals can answer better than a refusal can.
    offer: str | None = None


# The values a decline's 'offer' may take.
DECLINE_OFFERS = frozenset({"contacts"})


@dataclass(frozen=True)
class LanguageWords:
    """Per language: words that say nothing about a topic, and slang mapped to known words."""

    stopwords: frozenset[str] = frozenset()
    slang: Mapping[str, str] = field(default_factory=dict)
    rights_words: tuple[str, ...] = ()  # a message with one of these is never declined


@dataclass(frozen=True)
class KnowledgeBase:
    entries: tuple[Entry, ...]
    synonyms: Mapping[str, str]
    version: str
    root: Path
    declines: tuple[Decline, ...] = ()
    rights_words: tuple[str, ...] = ()  # a message with one of these is never declined
    words: Mapping[str, LanguageWords] = field(default_factory=dict)
    _by_id: Mapping[str, Entry] = field(init=False, repr=False, compare=False)
    _by_ref: Mapping[str, Entry] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {e.id: e for e in self.entries})
        object.__setattr__(self, "_by_ref", {e.ref: e for e in self.entries if e.ref})

    def get(self, entry_id: str) -> Entry | None:
        return self._by_id.get(entry_id)

    def by_ref(self, ref: str) -> Entry | None:
        return self._by_ref.get(ref)

    def __len__(self) -> int:
        return len(self.entries)

    def of_kind(self, *kinds: str) -> list[Entry]:
        return [e for e in self.entries if e.kind in kinds]

    @property
    def latest_review(self) -> str:
        return max((e.review.date for e in self.entries), default="")

    def overdue_for_review(self, today: date) -> tuple[Entry, ...]:
        """Entries last reviewed more than :data:`REVIEW_EVERY_MONTHS` months before ``today``:
        the law and the practice they describe may have moved on since."""
        due = _months_before(today, REVIEW_EVERY_MONTHS)
        return tuple(e for e in self.entries if date.fromisoformat(e.review.date) < due)


def _months_before(day: date, months: int) -> date:
    """The same day ``months`` earlier, or the month's last day when it is shorter
    (29 February one year back is 28 February)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    for last in (day.day, 30, 29, 28):
        try:
            return date(year, month + 1, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("every month has 28 days")


def review_warnings(kb: KnowledgeBase, today: date) -> list[Problem]:
    """One line per entry overdue for review, pointing at its review date: not a problem
    that stops the bot, but work for the editors."""
    warnings = []
    for entry in kb.overdue_for_review(today):
        try:
            line = load_yaml(entry.path).line_of("review", "date")
        except (OSError, YamlSyntaxError):
            line = 1
        warnings.append(
            Problem(
                entry.path,
                line,
                f"warning: '{entry.id}' was last reviewed on {entry.review.date}, more than "
                f"{REVIEW_EVERY_MONTHS} months ago: check it and update review.date",
            )
        )
    return warnings


def load_knowledge_base(root: Path) -> KnowledgeBase:
    """Load and validate every entry under ``root``; raise KnowledgeBaseError listing problems."""
    problems, kb = _load(root)
    if problems or kb is None:
        raise KnowledgeBaseError(problems)
    return kb


def check_knowledge_base(root: Path) -> tuple[list[Problem], KnowledgeBase | None]:
    """Every problem in the content (empty when all is well) and the loaded base if usable."""
    return _load(root)


def entry_files(root: Path) -> list[Path]:
    """The English entry files: every YAML file but the word lists and the translations."""
    return sorted(
        p
        for p in root.rglob("*.yaml")
        if p.name not in (SYNONYMS_FILE, DECLINE_FILE, SECTORS_FILE)
        and not p.name.startswith(".")
        and p.relative_to(root).parts[0] not in (TRANSLATIONS_DIR, WORDS_DIR)
    )


def translation_files(root: Path) -> dict[str, list[Path]]:
    """Language code -> its translation files, for every folder under ``translations/``."""
    folder = root / TRANSLATIONS_DIR
    if not folder.is_dir():
        return {}
    return {
        lang_dir.name: sorted(lang_dir.glob("*.yaml"))
        for lang_dir in sorted(folder.iterdir())
        if lang_dir.is_dir() and not lang_dir.name.startswith(".")
    }


def _load(root: Path) -> tuple[list[Problem], KnowledgeBase | None]:
    problems: list[Problem] = []
    if not root.is_dir():
        return [Problem(root, 1, "knowledge base folder not found")], None
    files = entry_files(root)
    if not files:
        problems.append(Problem(root, 1, "no entry files (*.yaml) found"))
    entries: list[Entry] = []
    docs: dict[Path, YamlDocument] = {}
    declared_ids: set[str] = set()
    declared_refs: set[str] = set()
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
        try:
            doc = load_yaml(path)
        except YamlSyntaxError as error:
            problems.append(Problem(error.path, error.line, error.message))
            # Its id is its file name; its ref is unknown until the syntax is fixed.
            declared_ids.add(path.stem)
            declared_refs.add("*")
            continue
        docs[path] = doc
        if isinstance(doc.data, dict):
            # Links to an entry that has problems of its own are not reported twice.
            declared_ids.add(str(doc.data.get("id")))
            declared_refs.add(str(doc.data.get("ref")))
        entry = _EntryReader(doc, problems).read()
        if entry is not None:
            entries.append(entry)
    synonyms_path = root / SYNONYMS_FILE
    synonyms: dict[str, str] = {}
    if synonyms_path.exists():
        digest.update(synonyms_path.read_bytes())
        synonyms = _read_synonyms(synonyms_path, problems)
    declines: list[Decline] = []
    rights_words: tuple[str, ...] = ()
    declines_path = root / DECLINE_FILE
    if declines_path.exists():
        digest.update(declines_path.read_bytes())
        declines, rights_words = _read_declines(declines_path, problems, entries)
    problems.extend(_cross_check(entries, docs, declared_ids, declared_refs))
    translated = _TranslationReader(root, entries, declines, problems, digest)
    entries, declines = translated.read()
    problems.extend(_duplicate_questions(entries, translated.docs | docs))
    words = _read_words(root, problems, digest)
    problems.sort(key=lambda p: (str(p.path), p.line))
    if problems:
        return problems, None
    version = f"kb-{digest.hexdigest()[:10]}"
    return [], KnowledgeBase(
        tuple(entries), synonyms, version, root, tuple(declines), rights_words, words
    )


class _EntryReader:
    """Reads one entry document, collecting problems instead of stopping at the first."""

    def __init__(self, doc: YamlDocument, problems: list[Problem]) -> None:
        self.doc = doc
        self.problems = problems
        self.start = len(problems)

    def problem(self, key: tuple[str | int, ...], message: str) -> None:
        self.problems.append(Problem(self.doc.path, self.doc.line_of(*key), message))

    def read(self) -> Entry | None:
        data = self.doc.data
        if not isinstance(data, dict):
            self.problem((), "an entry must be a mapping of fields (id:, kind:, title:, ...)")
            return None
        known = {
            "id", "kind", "ref", "title", "summary", "details", "what_you_can_do",
            "legal_basis", "questions", "keywords", "related", "source", "review",
            "country", "period", "provisions", "lessons", "editor_notes",
        }  # fmt: skip
        for key in data:
            if key not in known:
                self.problem((str(key),), f"unknown field '{key}'")
        entry_id = self.string("id")
        if entry_id is not None:
            if not ID_PATTERN.match(entry_id):
                self.problem(("id",), f"id '{entry_id}' must be small letters, digits and hyphens")
            elif len(entry_id) > ID_MAX:
                self.problem(("id",), f"id '{entry_id}' is longer than {ID_MAX} characters")
            elif entry_id != self.doc.path.stem:
                self.problem(("id",), f"id '{entry_id}' differs from the file name")
        kind = self.string("kind")
        if kind is not None and kind not in KINDS:
            self.problem(("kind",), f"kind must be one of {', '.join(KINDS)}, not '{kind}'")
        ref = self.ref(kind)
        title = self.localized("title")
        summary = self.localized("summary", max_length=SUMMARY_MAX)
        details = self.details()
        what = self.localized_list("what_you_can_do")
        legal = self.legal_basis()
        questions = self.localized_list("questions", min_items=MIN_QUESTIONS)
        keywords = self.localized_list("keywords")
        related = self.string_list("related", required=False)
        source = self.string("source")
        review = self.review()
        # For the people who keep the base: what was not read or not confirmed. Checked as
        # text so a typo shows, but the bot never shows it to a reader.
        editor_notes = self.string_list("editor_notes", required=False)
        country: Localized[str] | None = None
        period: Localized[str] | None = None
        provisions: tuple[str, ...] = ()
        lessons: Texts = Localized()
        if kind == "example":
            country_text = self.string("country")
            period_text = self.string("period")
            country = Localized({DEFAULT_LANGUAGE: country_text}) if country_text else None
            period = Localized({DEFAULT_LANGUAGE: period_text}) if period_text else None
            provisions = self.string_list("provisions")
            for i, item in enumerate(provisions):
                if not REF_PATTERN.match(item):
                    self.problem(("provisions", i), f"'{item}' is not a Guidelines ref like II.7")
            lessons = self.localized_list("lessons")
        else:
            for name in ("country", "period", "provisions", "lessons"):
                if name in data:
                    self.problem((name,), f"'{name}' is only for examples")
        if len(self.problems) > self.start:
            return None
        assert entry_id and kind and source and review  # guaranteed when no problem was added
        return Entry(
            id=entry_id, kind=kind, ref=ref, title=title, summary=summary, details=details,
            what_you_can_do=what, legal_basis=legal, questions=questions, keywords=keywords,
            related=related, source=source, review=review, path=self.doc.path,
            country=country, period=period, provisions=provisions, lessons=lessons,
            editor_notes=editor_notes,
        )  # fmt: skip

    def string(self, name: str, *, data: Any = None, key: tuple[str | int, ...] = ()) -> str | None:
        data = self.doc.data if data is None else data
        key = key or (name,)
        value = data.get(name)
        if value is None:
            self.problem(key[:-1] if len(key) > 1 else (), f"missing required field '{name}'")
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float | date):
            self.problem(key, f"'{name}' must be a text")
            return None
        text = str(value).strip()
        if not text:
            self.problem(key, f"'{name}' is empty")
            return None
        return text

    def ref(self, kind: str | None) -> str | None:
        value = self.doc.data.get("ref")
        needs_ref = kind in ("principle", "provision")
        if value is None:
            if needs_ref:
                self.problem((), f"a {kind} needs a 'ref' (the Guidelines' number, like II.7)")
            return None
        if not needs_ref and kind is not None:
            self.problem(("ref",), f"{kind}s have no 'ref'; cite items in 'source' or 'related'")
            return None
        ref = str(value).strip()
        if not REF_PATTERN.match(ref):
            self.problem(("ref",), f"ref '{ref}' is not well formed (like I.4, II.1.2, III.2.1)")
            return None
        if kind == "principle" and not ref.startswith("I."):
            self.problem(("ref",), "principles are Part I items; use kind 'provision'")
        if kind == "provision" and ref.startswith("I."):
            self.problem(("ref",), "Part I items are principles; use kind 'principle'")
        return ref

    def languages(self, name: str) -> dict[str, Any] | None:
        value = self.doc.data.get(name)
        if value is None:
            self.problem((), f"missing required field '{name}'")
            return None
        if not isinstance(value, dict):
            self.problem((name,), f"'{name}' must be keyed by language, like '{name}: {{en: ...}}'")
            return None
        ok = True
        for lang in value:
            if lang not in LANGUAGES:
                self.problem((name, str(lang)), f"unknown language code '{lang}' in '{name}'")
                ok = False
        if DEFAULT_LANGUAGE not in value:
            self.problem((name,), f"'{name}' has no English ('en') text")
            ok = False
        return value if ok else None

    def localized(self, name: str, *, max_length: int | None = None) -> Localized[str]:
        value = self.languages(name)
        result: dict[str, str] = {}
        for lang, text in (value or {}).items():
            checked = self.text(text, (name, lang), f"'{name}' ({lang})", max_length=max_length)
            if checked is not None:
                result[lang] = checked
        return Localized(result) if DEFAULT_LANGUAGE in result else Localized()

    def text(
        self, value: Any, key: tuple[str | int, ...], label: str, *, max_length: int | None = None
    ) -> str | None:
        if not isinstance(value, str) or not value.strip():
            self.problem(key, f"{label} must be a non-empty text")
            return None
        text = " ".join(value.split())
        if max_length is not None and len(text) > max_length:
            self.problem(
                key,
                f"{label} is {len(text)} characters; at most {max_length} fit one phone screen",
            )
        broken = broken_script(text)
        if broken:
            self.problem(key, f"{label} {broken}")
        return text

    def text_list(self, value: Any, key: tuple[str | int, ...], label: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not value:
            self.problem(key, f"'{label}' must be a non-empty list of texts")
            return ()
        items: list[str] = []
        for i, item in enumerate(value):
            if not isinstance(item, str | int | float) or isinstance(item, bool):
                self.problem((*key, i), f"item {i + 1} of '{label}' must be a text")
            elif not str(item).strip():
                self.problem((*key, i), f"item {i + 1} of '{label}' is empty")
            else:
                text = " ".join(str(item).split())
                broken = broken_script(text)
                if broken:
                    self.problem((*key, i), f"item {i + 1} of '{label}' {broken}")
                items.append(text)
        return tuple(items)

    def localized_list(self, name: str, *, min_items: int = 1) -> Texts:
        value = self.languages(name)
        result: dict[str, tuple[str, ...]] = {}
        for lang, items in (value or {}).items():
            texts = self.text_list(items, (name, lang), f"{name} ({lang})")
            if texts and lang == DEFAULT_LANGUAGE and len(texts) < min_items:
                self.problem(
                    (name, lang), f"'{name}' has {len(texts)}; at least {min_items} needed"
                )
            result[lang] = texts
        return Localized(result) if DEFAULT_LANGUAGE in result else Localized()

    def string_list(self, name: str, *, required: bool = True) -> tuple[str, ...]:
        value = self.doc.data.get(name)
        if value is None:
            if required:
                self.problem((), f"missing required field '{name}'")
            return ()
        if value == []:
            return ()
        return self.text_list(value, (name,), name)

    def details(self) -> Localized[Details]:
        value = self.languages("details")
        result: dict[str, Details] = {}
        for lang, levels in (value or {}).items():
            parsed = self.detail_levels(levels, ("details", lang))
            if parsed is not None:
                result[lang] = parsed
        return Localized(result) if DEFAULT_LANGUAGE in result else Localized()

    def detail_levels(self, levels: Any, key: tuple[str | int, ...]) -> Details | None:
        if not isinstance(levels, dict) or not levels:
            self.problem(key, "details must list 'shall', 'should', 'may' or 'notes' items")
            return None
        parsed: dict[str, tuple[str, ...]] = {}
        for level, items in levels.items():
            if level not in DETAIL_LEVELS:
                self.problem(
                    (*key, str(level)),
                    f"'{level}' is not one of {', '.join(DETAIL_LEVELS)}"
                    " (keep the Guidelines' shall / should / may apart)",
                )
                continue
            parsed[level] = self.text_list(items, (*key, level), f"details {level}")
        return parsed

    def legal_basis(self) -> tuple[LegalBasis, ...]:
        value = self.doc.data.get("legal_basis")
        if value is None:
            self.problem((), "missing required field 'legal_basis' (use [] when there is none)")
            return ()
        if not isinstance(value, list):
            self.problem(("legal_basis",), "'legal_basis' must be a list of instruments")
            return ()
        result: list[LegalBasis] = []
        for i, item in enumerate(value):
            key = ("legal_basis", i)
            if not isinstance(item, dict):
                self.problem(key, "each legal basis needs 'instrument' and 'basis'")
                continue
            unknown = set(item) - {"instrument", "article", "basis"}
            for name in sorted(map(str, unknown)):
                self.problem((*key, name), f"unknown field '{name}' in legal_basis")
            instrument = self.string("instrument", data=item, key=(*key, "instrument"))
            basis = self.string("basis", data=item, key=(*key, "basis"))
            if basis is not None and basis not in ("named", "background"):
                self.problem((*key, "basis"), "basis must be 'named' or 'background'")
            article = item.get("article")
            if article is not None:
                article = str(article).strip()
            if instrument and basis:
                result.append(LegalBasis(instrument, basis, article or None))
        return tuple(result)

    def review(self) -> Review | None:
        found = self.dated_status("review", REVIEW_STATUSES)
        return Review(*found) if found else None

    def dated_status(self, name: str, allowed: tuple[str, ...]) -> tuple[str, str, str] | None:
        """A ``name: {status, by, date}`` block: who says how far to trust a text, and when."""
        value = self.doc.data.get(name)
        if not isinstance(value, dict):
            self.problem((name,) if value is not None else (), f"'{name}' needs status, by, date")
            return None
        key = (name,)
        status = self.string("status", data=value, key=(*key, "status"))
        by = self.string("by", data=value, key=(*key, "by"))
        when = self.string("date", data=value, key=(*key, "date"))
        if status is not None and status not in allowed:
            self.problem((*key, "status"), f"{name} status must be one of {', '.join(allowed)}")
        if when is not None:
            try:
                date.fromisoformat(when)
            except ValueError:
                self.problem((*key, "date"), f"{name} date '{when}' must be YYYY-MM-DD")
        if status in allowed and by and when:
            return status, by, when
        return None


def normalise_question(text: str) -> str:
    """How two questions are compared for the ambiguity rule: case and spacing ignored."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.casefold()).split())


def _cross_check(
    entries: list[Entry],
    docs: Mapping[Path, YamlDocument],
    declared_ids: set[str],
    declared_refs: set[str],
) -> list[Problem]:
    problems: list[Problem] = []
    ids: dict[str, Entry] = {}
    refs: dict[str, Entry] = {}
    for entry in entries:
        if entry.id in ids:
            problems.append(
                Problem(entry.path, 1, f"id '{entry.id}' is also used by {ids[entry.id].path}")
            )
        ids.setdefault(entry.id, entry)
        if entry.ref:
            if entry.ref in refs:
                problems.append(
                    Problem(
                        entry.path, 1, f"ref {entry.ref} is also used by {refs[entry.ref].path}"
                    )
                )
            refs.setdefault(entry.ref, entry)
    for entry in entries:
        doc_lines = docs[entry.path]
        for i, target in enumerate(entry.related):
            if target not in ids and target not in declared_ids:
                line = doc_lines.line_of("related", i)
                problems.append(Problem(entry.path, line, f"related id '{target}' does not exist"))
            elif target == entry.id:
                line = doc_lines.line_of("related", i)
                problems.append(Problem(entry.path, line, "an entry cannot be related to itself"))
        for i, ref in enumerate(entry.provisions):
            if ref not in refs and ref not in declared_refs and "*" not in declared_refs:
                line = doc_lines.line_of("provisions", i)
                problems.append(Problem(entry.path, line, f"provision {ref} is not in the base"))
    return problems


def _duplicate_questions(entries: list[Entry], docs: Mapping[Path, YamlDocument]) -> list[Problem]:
    """The same question on two entries, in one language: the bot could not tell which."""
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for entry in entries:
        for lang, path, key, questions in _question_sources(entry, docs):
            for i, question in enumerate(questions):
                normal = f"{lang}:{normalise_question(question)}"
                other = seen.setdefault(normal, entry.id)
                if other != entry.id:
                    problems.append(
                        Problem(
                            path,
                            docs[path].line_of(*key, i),
                            f"question '{question}' is also on entry '{other}': the bot"
                            " could not tell which one is meant",
                        )
                    )
    return problems


def _question_sources(
    entry: Entry, docs: Mapping[Path, YamlDocument]
) -> Iterator[tuple[str, Path, tuple[str, ...], list[str]]]:
    """(language, file, key of the list, questions) for each file that gives ``entry`` some."""
    english = docs.get(entry.path)
    if english is not None and isinstance(english.data, dict):
        for lang, items in (english.data.get("questions") or {}).items():
            if isinstance(items, list):
                yield str(lang), entry.path, ("questions", str(lang)), [str(q) for q in items]
    for path, doc in docs.items():
        if path.stem == entry.id and path.parent.parent.name == TRANSLATIONS_DIR:
            items = doc.data.get("questions") if isinstance(doc.data, dict) else None
            if isinstance(items, list):
                yield path.parent.name, path, ("questions",), [str(q) for q in items]


def broken_script(text: str) -> str | None:
    """Why ``text`` cannot be shown as it is, or None: a reader must never see mojibake."""
    if "\ufffd" in text:
        return "holds a replacement character (U+FFFD): the text was damaged in copying"
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in text):
        return "holds a broken character (a lone surrogate)"
    if "\u0e4d\u0e32" in text:
        return "splits the Thai vowel SARA AM (U+0E4D U+0E32): write \u0e33 (U+0E33)"
    # The same judgement as for a question: the bot reads its own texts as it reads people's.
    if text and max(text) >= "\u1000" and languages.prepare(text).encoding == "zawgyi":
        return "is Burmese in the Zawgyi encoding: write it in Unicode (the bot converts)"
    return None


def read_translation_status(
    doc: YamlDocument, problems: list[Problem], lang: str
) -> Translation | None:
    """The ``lang:`` and ``translation:`` blocks every translation file starts with."""
    reader = _EntryReader(doc, problems)
    if doc.data.get("lang") != lang:
        reader.problem(("lang",), f"'lang' must be '{lang}', the folder this file is in")
    found = reader.dated_status("translation", TRANSLATION_STATUSES)
    return Translation(*found) if found else None


class _TranslationReader:
    """Reads ``translations/<lang>/*.yaml`` and merges them into the English entries."""

    def __init__(
        self,
        root: Path,
        entries: list[Entry],
        declines: list[Decline],
        problems: list[Problem],
        digest: Any,
    ) -> None:
        self.root = root
        self.entries = entries
        self.declines = declines
        self.problems = problems
        self.digest = digest
        self.docs: dict[Path, YamlDocument] = {}

    def read(self) -> tuple[list[Entry], list[Decline]]:
        by_id = {e.id: e for e in self.entries}
        declines = {d.id: d for d in self.declines}
        for lang, paths in translation_files(self.root).items():
            folder = self.root / TRANSLATIONS_DIR / lang
            if lang not in LANGUAGES or lang == DEFAULT_LANGUAGE:
                self.problems.append(
                    Problem(
                        folder,
                        1,
                        f"unknown language code '{lang}' (use one of "
                        f"{', '.join(c for c in LANGUAGES if c != DEFAULT_LANGUAGE)})",
                    )
                )
                continue
            found = {p.stem for p in paths}
            for entry_id in sorted(set(by_id) - found):
                self.problems.append(
                    Problem(
                        folder,
                        1,
                        f"no {lang} translation of entry '{entry_id}' (add {entry_id}.yaml)",
                    )
                )
            for path in paths:
                if path.name == SECTORS_FILE:
                    continue
                self.digest.update(path.relative_to(self.root).as_posix().encode())
                self.digest.update(path.read_bytes())
                doc = self._load(path)
                if doc is None:
                    continue
                if path.stem == DECLINE_FILE.removesuffix(".yaml"):
                    self._merge_declines(doc, lang, declines)
                elif path.stem in by_id:
                    merged = self._merge_entry(doc, lang, by_id[path.stem])
                    if merged is not None:
                        by_id[path.stem] = merged
                else:
                    self.problems.append(
                        Problem(path, 1, f"no English entry '{path.stem}' to translate")
                    )
        return [by_id[e.id] for e in self.entries], [declines[d.id] for d in self.declines]

    def _load(self, path: Path) -> YamlDocument | None:
        try:
            doc = load_yaml(path)
        except YamlSyntaxError as error:
            self.problems.append(Problem(error.path, error.line, error.message))
            return None
        if not isinstance(doc.data, dict):
            self.problems.append(Problem(path, 1, "a translation must be a mapping of fields"))
            return None
        self.docs[path] = doc
        return doc

    def _status(self, reader: _EntryReader, lang: str) -> Translation | None:
        return read_translation_status(reader.doc, self.problems, lang)

    def _merge_entry(self, doc: YamlDocument, lang: str, entry: Entry) -> Entry | None:
        reader = _EntryReader(doc, self.problems)
        data = doc.data
        known = {
            "id",
            "lang",
            "translation",
            "title",
            "summary",
            "details",
            "what_you_can_do",
            "lessons",
            "country",
            "period",
            "questions",
            "keywords",
        }
        for name in data:
            if name not in known:
                reader.problem((str(name),), f"unknown field '{name}' in a translation")
        if data.get("id") != entry.id:
            reader.problem(("id",), f"'id' must be '{entry.id}', the file name")
        status = self._status(reader, lang)
        title = self._text(reader, "title", lang)
        summary = self._text(reader, "summary", lang, max_length=SUMMARY_MAX)
        details = self._details(reader, entry)
        what = self._same_length(reader, "what_you_can_do", entry.what_you_can_do)
        questions = self._list(reader, "questions", MIN_TRANSLATED_QUESTIONS)
        keywords = self._list(reader, "keywords", 1)
        lessons = country = period = None
        if entry.kind == "example":
            lessons = self._same_length(reader, "lessons", entry.lessons)
            country = self._text(reader, "country", lang)
            period = self._text(reader, "period", lang)
        else:
            for name in ("lessons", "country", "period"):
                if name in data:
                    reader.problem((name,), f"'{name}' is only for examples")
        if len(self.problems) > reader.start or status is None:
            return None
        assert title and summary and details is not None and what is not None
        old_questions = entry.questions.values.get(lang, ())
        return replace(
            entry,
            title=entry.title.with_value(lang, title),
            summary=entry.summary.with_value(lang, summary),
            details=entry.details.with_value(lang, details),
            what_you_can_do=entry.what_you_can_do.with_value(lang, what),
            questions=entry.questions.with_value(lang, (*old_questions, *questions)),
            keywords=entry.keywords.with_value(
                lang, (*entry.keywords.values.get(lang, ()), *keywords)
            ),
            lessons=entry.lessons.with_value(lang, lessons) if lessons else entry.lessons,
            country=entry.country.with_value(lang, country)
            if entry.country and country
            else entry.country,
            period=entry.period.with_value(lang, period)
            if entry.period and period
            else entry.period,
            translations={**entry.translations, lang: status},
        )

    def _text(
        self, reader: _EntryReader, name: str, lang: str, *, max_length: int | None = None
    ) -> str | None:
        if name not in reader.doc.data:
            reader.problem((), f"missing translation of '{name}'")
            return None
        return reader.text(
            reader.doc.data[name], (name,), f"'{name}' ({lang})", max_length=max_length
        )

    def _list(self, reader: _EntryReader, name: str, least: int) -> tuple[str, ...]:
        if name not in reader.doc.data:
            reader.problem((), f"missing translation of '{name}'")
            return ()
        items = reader.text_list(reader.doc.data[name], (name,), name)
        if items and len(items) < least:
            reader.problem((name,), f"'{name}' has {len(items)}; at least {least} needed")
        return items

    def _same_length(
        self, reader: _EntryReader, name: str, english: Texts
    ) -> tuple[str, ...] | None:
        items = self._list(reader, name, 1)
        want = len(english.get(DEFAULT_LANGUAGE)) if english else 0
        if items and len(items) != want:
            reader.problem((name,), f"'{name}' has {len(items)} items; the English has {want}")
            return None
        return items or None

    def _details(self, reader: _EntryReader, entry: Entry) -> Details | None:
        if "details" not in reader.doc.data:
            reader.problem((), "missing translation of 'details'")
            return None
        parsed = reader.detail_levels(reader.doc.data["details"], ("details",))
        if parsed is None:
            return None
        english = entry.details.get(DEFAULT_LANGUAGE)
        for level in DETAIL_LEVELS:
            want, got = len(english.get(level, ())), len(parsed.get(level, ()))
            if want != got:
                reader.problem(
                    ("details", level) if level in parsed else ("details",),
                    f"details '{level}' has {got} items; the English has {want}"
                    " (keep shall / should / may as in the English)",
                )
        return parsed

    def _merge_declines(self, doc: YamlDocument, lang: str, declines: dict[str, Decline]) -> None:
        reader = _EntryReader(doc, self.problems)
        status = self._status(reader, lang)
        items = doc.data.get("decline")
        if not isinstance(items, dict):
            reader.problem(("decline",), "'decline' must map each decline id to reason, questions")
            return
        for decline_id in sorted(set(declines) - set(map(str, items))):
            reader.problem(("decline",), f"no {lang} translation of decline '{decline_id}'")
        for decline_id, item in items.items():
            key = ("decline", str(decline_id))
            if decline_id not in declines:
                reader.problem(key, f"no decline '{decline_id}' in {DECLINE_FILE}")
                continue
            if not isinstance(item, dict):
                reader.problem(key, "each decline needs 'reason' and 'questions'")
                continue
            reason = reader.text(item.get("reason"), (*key, "reason"), f"'reason' ({lang})")
            questions = reader.text_list(item.get("questions"), (*key, "questions"), "questions")
            if questions and len(questions) < MIN_DECLINE_QUESTIONS:
                reader.problem(
                    (*key, "questions"), f"at least {MIN_DECLINE_QUESTIONS} questions are needed"
                )
            if reason and questions and status is not None:
                old = declines[decline_id]
                declines[decline_id] = replace(
                    old,
                    reason=old.reason.with_value(lang, reason),
                    questions=old.questions.with_value(lang, questions),
                )


def _read_words(root: Path, problems: list[Problem], digest: Any) -> dict[str, LanguageWords]:
    """``languages/<lang>.yaml``: stopwords and slang, kept apart per language."""
    folder = root / WORDS_DIR
    words: dict[str, LanguageWords] = {}
    if not folder.is_dir():
        return words
    for path in sorted(folder.glob("*.yaml")):
        digest.update(path.read_bytes())
        try:
            doc = load_yaml(path)
        except YamlSyntaxError as error:
            problems.append(Problem(error.path, error.line, error.message))
            continue
        data = doc.data
        lang = path.stem
        if lang not in LANGUAGES:
            problems.append(Problem(path, 1, f"unknown language code '{lang}'"))
            continue
        if not isinstance(data, dict):
            problems.append(Problem(path, 1, "expected 'stopwords:' and 'slang:'"))
            continue
        stop = data.get("stopwords", [])
        slang = data.get("slang", {})
        if not isinstance(stop, list) or not all(isinstance(w, str | int) for w in stop):
            problems.append(Problem(path, doc.line_of("stopwords"), "'stopwords' must be a list"))
            continue
        if not isinstance(slang, dict) or not all(
            isinstance(k, str | int) and isinstance(v, str | int) for k, v in slang.items()
        ):
            problems.append(
                Problem(path, doc.line_of("slang"), "'slang' must map typed words to words")
            )
            continue
        rights = data.get("rights_words", [])
        if not isinstance(rights, list) or not all(isinstance(w, str) for w in rights):
            problems.append(
                Problem(path, doc.line_of("rights_words"), "'rights_words' must be a list")
            )
            continue
        # Casefolded only: punctuation rules would cut Thai and Burmese words at their vowels.
        words[lang] = LanguageWords(
            frozenset(_as_typed(w) for w in stop if str(w).strip()),
            {_as_typed(k): _as_typed(v) for k, v in slang.items()},
            tuple(_as_typed(w) for w in rights if w.strip()),
        )
    return words


def _as_typed(word: object) -> str:
    return " ".join(unicodedata.normalize("NFC", str(word)).casefold().split())


def _read_synonyms(path: Path, problems: list[Problem]) -> dict[str, str]:
    """Map every variant users type to the knowledge base's own word."""
    try:
        doc = load_yaml(path)
    except YamlSyntaxError as error:
        problems.append(Problem(error.path, error.line, error.message))
        return {}
    data = doc.data
    if not isinstance(data, dict) or not isinstance(data.get("synonyms"), dict):
        problems.append(Problem(path, doc.line_of(), "expected 'synonyms:' with word: [variants]"))
        return {}
    mapping: dict[str, str] = {}
    for canonical, variants in data["synonyms"].items():
        key = ("synonyms", str(canonical))
        if not isinstance(canonical, str) or not canonical.strip():
            problems.append(Problem(path, doc.line_of(*key), "a synonym key must be a word"))
            continue
        if not isinstance(variants, list) or not variants:
            problems.append(
                Problem(path, doc.line_of(*key), f"'{canonical}' needs a list of variants")
            )
            continue
        for i, variant in enumerate(variants):
            if not isinstance(variant, str | int) or isinstance(variant, bool):
                problems.append(Problem(path, doc.line_of(*key, i), "a variant must be a word"))
                continue
            word = normalise_question(str(variant))
            target = normalise_question(canonical)
            if not word:
                continue
            previous = mapping.get(word)
            if previous is not None and previous != target:
                problems.append(
                    Problem(
                        path,
                        doc.line_of(*key, i),
                        f"'{variant}' already means '{previous}'; a word can mean only one thing",
                    )
                )
                continue
            mapping[word] = target
    return mapping


def _read_declines(
    path: Path, problems: list[Problem], entries: list[Entry]
) -> tuple[list[Decline], tuple[str, ...]]:
    """Kinds of questions to decline (their phrasings may not repeat an entry's questions),
    and the rights words that keep a message from being declined."""
    try:
        doc = load_yaml(path)
    except YamlSyntaxError as error:
        problems.append(Problem(error.path, error.line, error.message))
        return [], ()
    data = doc.data
    if not isinstance(data, dict) or not isinstance(data.get("decline"), list):
        problems.append(Problem(path, doc.line_of(), "expected 'decline:' with a list of items"))
        return [], ()
    rights_words = data.get("rights_words", [])
    if not isinstance(rights_words, list) or not all(
        isinstance(w, str) and w.strip() for w in rights_words
    ):
        problems.append(
            Problem(path, doc.line_of("rights_words"), "'rights_words' must be a list of words")
        )
        rights_words = []
    taken = {
        normalise_question(q): e.id
        for e in entries
        if e.questions
        for q in e.questions.get(DEFAULT_LANGUAGE)
    }
    declines: list[Decline] = []
    seen: set[str] = set()
    for i, item in enumerate(data["decline"]):
        reader = _EntryReader(YamlDocument(path, item, _sub_lines(doc, ("decline", i))), problems)
        start = len(problems)
        if not isinstance(item, dict):
            reader.problem((), "each item needs id, reason and questions")
            continue
        decline_id = reader.string("id")
        if decline_id is not None:
            if not ID_PATTERN.match(decline_id):
                reader.problem(("id",), f"id '{decline_id}' must be small letters, digits, hyphens")
            elif decline_id in seen:
                reader.problem(("id",), f"id '{decline_id}' is used twice")
            seen.add(decline_id)
        reason = reader.localized("reason")
        offer = item.get("offer")
        if offer is not None and offer not in DECLINE_OFFERS:
            reader.problem(
                ("offer",), f"'offer' must be one of: {', '.join(sorted(DECLINE_OFFERS))}"
            )
        questions = reader.localized_list("questions", min_items=MIN_DECLINE_QUESTIONS)
        for j, question in enumerate(questions.get(DEFAULT_LANGUAGE) if questions else ()):
            owner = taken.get(normalise_question(question))
            if owner is not None:
                reader.problem(
                    ("questions", DEFAULT_LANGUAGE, j),
                    f"'{question}' is also a question of entry '{owner}': decline or answer?",
                )
        if len(problems) == start and decline_id:
            declines.append(Decline(decline_id, reason, questions, offer))
    return declines, tuple(w.strip() for w in rights_words)


def _sub_lines(
    doc: YamlDocument, prefix: tuple[str | int, ...]
) -> dict[tuple[str | int, ...], int]:
    """The line map of one item inside a document, with keys relative to that item."""
    size = len(prefix)
    return {key[size:]: line for key, line in doc.lines.items() if key[:size] == prefix}


@dataclass(frozen=True)
class Coverage:
    """How far one language is translated, and by whom: what `kb translations` prints."""

    lang: str
    entries: int  # entries with an answer in this language
    total: int
    statuses: Mapping[str, int]  # "machine" / "community" / "reviewed" -> entries
    questions: int
    declines: int  # decline reasons in this language
    total_declines: int


def coverage(kb: KnowledgeBase) -> list[Coverage]:
    """Per language, how many entries and declines it covers and their review status."""
    rows = []
    for lang in LANGUAGES:
        statuses: dict[str, int] = {}
        for entry in kb.entries:
            translation = entry.translation(lang)
            status = (
                "source"
                if lang == DEFAULT_LANGUAGE
                else translation.status
                if translation
                else None
            )
            if status:
                statuses[status] = statuses.get(status, 0) + 1
        rows.append(
            Coverage(
                lang=lang,
                entries=sum(e.summary.has(lang) for e in kb.entries),
                total=len(kb.entries),
                statuses=statuses,
                questions=sum(len(e.questions.values.get(lang, ())) for e in kb.entries),
                declines=sum(d.reason.has(lang) for d in kb.declines),
                total_declines=len(kb.declines),
            )
        )
    return rows
