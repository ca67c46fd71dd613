"""Emergencies happening now: recognising them, and the card that comes before any answer.

A message about an overdose, an arrest or raid in progress, someone being taken to a
compulsory centre, violence in custody or a person who may harm themselves gets a short card
first. Recognition runs before matching and apart from it, on word lists editors keep in
``bot/emergency/<lang>.yaml``: a missed emergency costs far more than a missed answer, so it
must not depend on the matcher's thresholds, and editors must be able to see exactly which
words trigger a card.

Each language's triggers count with that language's "now" words (and English ones), so that
a short cue of one language cannot combine with a trigger of another; "not now" words of any
language hold a card back. Latin-script phrases match as whole words in order (one other
word may stand between two of them) and ``*`` for any ending; strong phrases of two words or
more also match with one wrong letter (never the first) in words of five letters or more.
Thai and Burmese phrases match inside the text, which has no spaces between words, but never
end in the middle of a syllable.

Word lists alone did not generalise (0.998 recall on the sets they were tuned on, 0.64 to 0.88
on each fresh one), so a small model trained on the development sets
(:mod:`rightsdesk.emergency_model`, shipped as ``model.tsv`` in the same folder) works beside
them: it can veto a list hit it finds very unlikely, and on its own shows a card when it is
confident and no "not now" word holds it back. A second model, trained on urgent messages
against their look-alikes only (``lookalike.tsv``), vetoes list hits that read as a
look-alike (a past arrest, a question about overdose in general). A card the model found
has ``by_model`` set.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from rightsdesk import emergency_model
from rightsdesk.emergency_model import EmergencyModel, LookalikeModel, Prediction
from rightsdesk.knowledge_base import (
    KnowledgeBaseError,
    Problem,
    Translation,
    broken_script,
    read_translation_status,
)
from rightsdesk.languages import fold, prepare, tokens
from rightsdesk.localized import DEFAULT_LANGUAGE, LANGUAGES
from rightsdesk.yaml_source import YamlDocument, YamlSyntaxError, load_yaml

T = TypeVar("T")
KINDS_FILE = "kinds.yaml"
CALLS = ("medical", "none")
TEXT_KEYS = (
    "heading",
    "call_medical",
    "call_unknown_country",
    "no_number",
    "hotline",
    "then",
    "source",
)
LIST_KEYS = ("strong", "words")
FUZZY_MIN_LENGTH = 5  # shorter words differ by one letter from too many others
_NON_LATIN = re.compile("[\u0e00-\u0e7f\u1000-\u109f\ua9e0-\ua9ff\uaa60-\uaa7f]")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Kind:
    """One kind of emergency, as ``kinds.yaml`` describes it."""

    name: str
    entry: str | None  # the knowledge base entry shown after the card
    call: str  # "medical": the card names the medical emergency number; "none": no number
    always: bool  # a strong phrase shows the card even in a message that sounds hypothetical
    source: str
    cite: str  # the source, short enough for the card


@dataclass(frozen=True)
class CardText:
    """A card's words in one language."""

    title: str
    steps: tuple[str, ...]


@dataclass(frozen=True)
class Found:
    """An emergency recognised in a message: which kind, in which language's words."""

    kind: str
    lang: str  # "" when the model found it
    strong: bool
    by_model: bool = False


@dataclass(frozen=True)
class _Phrase:
    words: tuple[str, ...] = ()  # Latin script: folded words, a trailing * for any ending
    inside: str = ""  # Thai or Burmese: matched inside the text with spaces removed
    # The words with their diacritics, when they have any: an exact match must then keep
    # them ("đang", now, is not "đăng", to register, though both fold to "dang").
    accented: tuple[str, ...] = ()


class _PhraseSet:
    """Phrases indexed by how they start, so that a message is compared only with the few
    phrases that could match it (a language's lists hold thousands)."""

    def __init__(self, phrases: Iterable[_Phrase] = ()) -> None:
        self.phrases = list(phrases)
        self._by_first: dict[str, list[_Phrase]] = {}
        self._by_start: dict[str, list[_Phrase]] = {}
        self._starred: list[_Phrase] = []
        for phrase in self.phrases:
            if phrase.inside:
                self._by_start.setdefault(phrase.inside[:2], []).append(phrase)
            elif phrase.words[0].endswith("*"):
                self._starred.append(phrase)
            else:
                self._by_first.setdefault(phrase.words[0], []).append(phrase)

    def __iter__(self) -> Iterator[_Phrase]:
        return iter(self.phrases)

    def __bool__(self) -> bool:
        return bool(self.phrases)

    def found_in(self, message: _Text, *, fuzzy: bool) -> bool:
        check = message.has if fuzzy else message.has_exactly
        if any(check(p) for p in self._starred):
            return True
        firsts = message.present if fuzzy else message.word_set
        for word in firsts & self._by_first.keys():
            if any(check(p) for p in self._by_first[word]):
                return True
        for start in message.starts & self._by_start.keys():
            if any(check(p) for p in self._by_start[start]):
                return True
        return False


class _Index:
    """The phrases of many lists, each phrase tagged with its list, indexed like
    :class:`_PhraseSet`: one pass over a message tells which lists it matches, instead of one
    pass for each language and kind."""

    def __init__(self, tagged: Iterable[tuple[Hashable, _PhraseSet]]) -> None:
        self._by_first: dict[str, list[tuple[Hashable, _Phrase]]] = {}
        self._by_start: dict[str, list[tuple[Hashable, _Phrase]]] = {}
        self._starred: list[tuple[Hashable, _Phrase]] = []
        for tag, phrases in tagged:
            for phrase in phrases:
                if phrase.inside:
                    self._by_start.setdefault(phrase.inside[:2], []).append((tag, phrase))
                elif phrase.words[0].endswith("*"):
                    self._starred.append((tag, phrase))
                else:
                    self._by_first.setdefault(phrase.words[0], []).append((tag, phrase))

    def tags(self, message: _Text, *, fuzzy: bool) -> set[Hashable]:
        check = message.has if fuzzy else message.has_exactly
        found: set[Hashable] = set()
        candidates = [self._starred]
        firsts = message.present if fuzzy else message.word_set
        candidates.extend(self._by_first[w] for w in firsts & self._by_first.keys())
        candidates.extend(self._by_start[s] for s in message.starts & self._by_start.keys())
        for phrases in candidates:
            for tag, phrase in phrases:
                if tag not in found and check(phrase):
                    found.add(tag)
        return found


@dataclass
class _Triggers:
    strong: _PhraseSet = field(default_factory=_PhraseSet)
    words: _PhraseSet = field(default_factory=_PhraseSet)
    context: _PhraseSet = field(default_factory=_PhraseSet)


@dataclass
class _LanguageWords:
    now: _PhraseSet = field(default_factory=_PhraseSet)
    not_now: _PhraseSet = field(default_factory=_PhraseSet)
    conditional: _PhraseSet = field(default_factory=_PhraseSet)
    kinds: dict[str, _Triggers] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    countries: dict[str, str] = field(default_factory=dict)
    services: dict[str, str] = field(default_factory=dict)
    cards: dict[str, CardText] = field(default_factory=dict)
    translation: Translation | None = None


class _Vocabulary:
    """Every Latin-script word of every phrase, indexed so that a message's words are looked
    up once: exactly, with one letter wrong (by their one-deletion forms), or by a prefix."""

    def __init__(self, phrases: Iterable[_Phrase]) -> None:
        self.exact: set[str] = set()
        self.by_deletion: dict[str, set[str]] = {}
        self.prefixes: set[str] = set()
        for phrase in phrases:
            for word in phrase.words:
                if word.endswith("*"):
                    self.prefixes.add(word[:-1])
                    continue
                self.exact.add(word)
                if len(word) >= FUZZY_MIN_LENGTH:
                    for form in _deletions(word):
                        self.by_deletion.setdefault(form, set()).add(word)
        self.prefix_lengths = sorted({len(p) for p in self.prefixes})

    def senses(self, word: str) -> frozenset[str]:
        """The phrase words ``word`` may stand for (a prefix ``p`` as ``p*``)."""
        found = {word} if word in self.exact else set()
        if len(word) >= FUZZY_MIN_LENGTH - 1:
            for form in _deletions(word):
                for candidate in self.by_deletion.get(form, ()):
                    # Typos rarely hit the first letter, while real words that differ only
                    # there are common ("picked", "kicked").
                    if abs(len(candidate) - len(word)) <= 1 and candidate[0] == word[0]:
                        found.add(candidate)
        for n in self.prefix_lengths:
            if n > len(word):
                break
            if word[:n] in self.prefixes:
                found.add(word[:n] + "*")
        return frozenset(found)


class _Text:
    """A message prepared once for every language's phrases."""

    def __init__(self, text: str, vocabulary: _Vocabulary) -> None:
        prepared = prepare(text).text
        self.words = [w for w in tokens(prepared) if w]
        self.accented = [w for w in tokens(prepared, folded=False) if w]
        self.at = _positions(self.words)
        self.accented_at = _positions(self.accented)
        self.senses = [vocabulary.senses(w) for w in self.words]
        self.present = frozenset().union(*self.senses)
        self.word_set = frozenset(self.words)
        self.squashed = _SPACE.sub("", prepared.casefold()) if _NON_LATIN.search(prepared) else ""
        text = self.squashed
        self.starts = frozenset(text[i : i + 2] for i in range(len(text) - 1))

    def has(self, phrase: _Phrase) -> bool:
        if phrase.inside:
            return self._inside(phrase.inside)
        if len(phrase.words) == 1:
            # A lone word one letter off is too often a word of another language
            # (Indonesian "pingsan", fainted; Filipino "pinsan", cousin).
            return self.has_exactly(phrase)
        first = phrase.words[0]
        if first not in self.present:
            return False
        for start, senses in enumerate(self.senses):
            if first in senses and self._rest_follows(start, phrase.words[1:]):
                return True
        return False

    def has_exactly(self, phrase: _Phrase) -> bool:
        """Like :meth:`has`, without spelling tolerance: for cue words, which are short and
        common, so that one letter off is usually another word ("sidang" is not "sedang")."""
        if phrase.inside:
            return self._inside(phrase.inside)
        if phrase.accented:
            wanted, words, at = phrase.accented, self.accented, self.accented_at
        else:
            wanted, words, at = phrase.words, self.words, self.at
        n = len(wanted)
        first = wanted[0]
        if first.endswith("*"):
            starts: Iterable[int] = (
                i for i in range(len(words) - n + 1) if words[i].startswith(first[:-1])
            )
        else:
            starts = at.get(first, ())
            if n == 1:
                return bool(starts)
        last = len(words) - n
        for start in starts:
            if start <= last and all(_same(words[start + i], wanted[i]) for i in range(1, n)):
                return True
        return False

    def _inside(self, wanted: str) -> bool:
        """``wanted`` inside the text, not cut off in the middle of a syllable: in Burmese
        "တုန်းက" must not match the start of "တုန်း ကျနော်", whose "က" takes a medial."""
        text = self.squashed
        at = text.find(wanted)
        while at >= 0:
            end = at + len(wanted)
            if end == len(text) or not unicodedata.category(text[end]).startswith("M"):
                return True
            at = text.find(wanted, at + 1)
        return False

    def _rest_follows(self, at: int, rest: tuple[str, ...]) -> bool:
        if not rest:
            return True
        # One other word may stand between two words of a phrase ("not really breathing").
        for nxt in (at + 1, at + 2):
            if (
                nxt < len(self.senses)
                and rest[0] in self.senses[nxt]
                and self._rest_follows(nxt, rest[1:])
            ):
                return True
        return False

    def any(self, phrases: _PhraseSet) -> bool:
        return phrases.found_in(self, fuzzy=True)

    def any_exactly(self, phrases: _PhraseSet) -> bool:
        return phrases.found_in(self, fuzzy=False)


def _positions(words: Sequence[str]) -> dict[str, list[int]]:
    at: dict[str, list[int]] = {}
    for i, word in enumerate(words):
        at.setdefault(word, []).append(i)
    return at


def _same(word: str, wanted: str) -> bool:
    return word.startswith(wanted[:-1]) if wanted.endswith("*") else word == wanted


@dataclass(frozen=True)
class _Cues:
    found: Found | None  # what the lists found
    not_now: bool  # a "not now" word of any language
    only_if: bool  # an "if" word of any language, and no "now" word of any


class Emergencies:
    """The kinds, their words in every language, and the cards' texts."""

    def __init__(
        self,
        kinds: Sequence[Kind],
        words: Mapping[str, _LanguageWords],
        model: EmergencyModel | None = None,
        version: str = "",
        lookalike: LookalikeModel | None = None,
    ) -> None:
        self.kinds = {k.name: k for k in kinds}
        self.model = model
        self.lookalike = lookalike
        # A digest of the files read (as a knowledge base's version is), so that a result
        # computed elsewhere can be checked to come from the same words and model.
        self.version = version
        self.threshold = emergency_model.THRESHOLD
        self.veto = emergency_model.VETO
        self.low_veto = emergency_model.LOW_VETO
        self.if_veto = emergency_model.IF_VETO
        self.lookalike_veto = emergency_model.LOOKALIKE_VETO
        self.lookalike_low_veto = emergency_model.LOOKALIKE_LOW_VETO
        self.lookalike_model_veto = dict(emergency_model.LOOKALIKE_MODEL_VETO)
        self._order = [k.name for k in kinds]
        self._words = dict(words)
        # Spelling tolerance only for strong phrases: several words long, they rarely meet
        # another phrase by accident, while a single topic word one letter off is often a
        # different word ("posisi" is not "polisi").
        self._vocabulary = _Vocabulary(
            p for w in self._words.values() for t in w.kinds.values() for p in t.strong
        )
        words_of = self._words.items()
        self._not_now = _Index((lang, w.not_now) for lang, w in words_of)
        self._conditional = _Index((lang, w.conditional) for lang, w in words_of)
        self._now = _Index((lang, w.now) for lang, w in words_of)
        pairs = [(lang, name, t) for lang, w in words_of for name, t in w.kinds.items()]
        self._strong = _Index(((lang, name), t.strong) for lang, name, t in pairs)
        self._topic = _Index(((lang, name), t.words) for lang, name, t in pairs)
        self._context = _Index(((lang, name), t.context) for lang, name, t in pairs)
        self._needs_context = {(lang, name) for lang, name, t in pairs if t.context}

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(lang for lang in LANGUAGES if lang in self._words)

    def detect(self, text: str) -> Found | None:
        """The emergency ``text`` is about, or None; when it fits several kinds, the first in
        the order of ``kinds.yaml``.

        A strong phrase shows the card unless a "not now" word holds it back, or an "if" word
        without a "now" word does (except for kinds marked ``always``). A topic word needs a
        "now" word and no "not now" word. For kinds marked ``always``, a "not now" word holds
        nothing back when a "now" word is there too.

        With a model, see :meth:`combine`."""
        message = _Text(text, self._vocabulary)
        cues = self._cues(message)
        if self.model is None:
            return cues.found
        guess = self.model.predict(message.words)
        urgent = self.lookalike.urgent(message.words) if self.lookalike is not None else 1.0
        return self.combine(cues.found, cues.not_now, guess, only_if=cues.only_if, urgent=urgent)

    def combine(
        self,
        listed: Found | None,
        not_now: bool,
        guess: Prediction,
        *,
        only_if: bool = False,
        urgent: float = 1.0,
    ) -> Found | None:
        """The card, from what the lists found and what the model guessed. The model vetoes
        kinds not marked ``always`` (an arrest, a compulsory centre) below ``veto``. For an
        overdose, self-harm or violence in custody a card too few can cost a life, and the
        model is least sure of short messages ("she overdosed right now"): it vetoes those
        only when it is all but certain (below ``low_veto``), or fairly sure while an "if"
        word and no "now" word (``only_if``) says the message is about what might happen
        (below ``if_veto``).

        ``urgent`` is the look-alike model's probability that the message is urgent rather
        than a look-alike (1 without that model). Below ``lookalike_veto`` it vetoes an arrest
        or compulsory-centre list hit, below ``lookalike_low_veto`` any other list hit, and
        below ``lookalike_model_veto[kind]`` a card of the main model alone (arrest,
        compulsory centre, self-harm). It never vetoes the main model's overdose or
        custody-violence cards: leave-one-set-out, that cost overdoses."""
        if listed is not None:
            if self.kinds[listed.kind].always:
                veto = max(self.low_veto, self.if_veto if only_if else 0.0)
                lookalike = self.lookalike_low_veto
            else:
                veto = self.veto
                lookalike = self.lookalike_veto
            return None if guess.urgent < veto or urgent < lookalike else listed
        if guess.urgent > self.threshold and not not_now and guess.kind in self.kinds:
            if urgent < self.lookalike_model_veto.get(guess.kind, 0.0):
                return None
            return Found(guess.kind, "", False, by_model=True)
        return None

    def detect_by_lists(self, text: str) -> Found | None:
        """What the word lists alone find (for editors and for evaluation)."""
        return self._listed(_Text(text, self._vocabulary))[0]

    def _listed(self, message: _Text) -> tuple[Found | None, bool]:
        cues = self._cues(message)
        return cues.found, cues.not_now

    def _cues(self, message: _Text) -> _Cues:
        # "Not now" and "if" words hold a card back whatever their language: people mix
        # languages, and a wrong hold costs less than a card on every look-alike. "Now"
        # words count only with their own language's triggers (and English ones, which every
        # language mixes in), because a short word of one language may be anything in another.
        not_now = bool(self._not_now.tags(message, fuzzy=False))
        conditional = bool(self._conditional.tags(message, fuzzy=False))
        nows = self._now.tags(message, fuzzy=False)
        english_now = DEFAULT_LANGUAGE in nows
        strong = self._strong.tags(message, fuzzy=True)
        context = self._context.tags(message, fuzzy=False) if self._needs_context else set()
        topic = self._topic.tags(message, fuzzy=False) if nows else set()
        found = None
        # The first kind in the order of kinds.yaml, and for it the first language.
        for name in self._order:
            always = self.kinds[name].always
            for lang in self._words:
                pair = (lang, name)
                if pair in self._needs_context and pair not in context:
                    continue
                now = english_now or lang in nows
                # A "not now" word beside a "now" one ("out of prison last week, tonight I
                # end it all") holds back only kinds a card too many costs little for, never
                # an overdose, self-harm or violence. (The model's own cards stay held: on
                # sets 1-12 letting them through too carded 6 more non-urgent messages for
                # one more urgent one.)
                past = not_now and not (always and now)
                held = past or (conditional and not now and not always)
                if pair in strong and not held:
                    found = Found(name, lang, True)
                elif now and not past and pair in topic:
                    found = Found(name, lang, False)
                if found:
                    break
            if found:
                break
        return _Cues(found, not_now, conditional and not nows)

    def card(self, kind: str, lang: str) -> CardText:
        return _required(self._in(lang, lambda w: w.cards.get(kind)), kind)

    def text(self, key: str, lang: str, **values: object) -> str:
        return _required(self._in(lang, lambda w: w.texts.get(key)), key).format(**values)

    def country_name(self, code: str, lang: str) -> str:
        return self._in(lang, lambda w: w.countries.get(code)) or code

    def service_name(self, service: str, lang: str) -> str:
        return _required(self._in(lang, lambda w: w.services.get(service)), service)

    def _in(self, lang: str, pick: Callable[[_LanguageWords], T | None]) -> T | None:
        """``pick`` from ``lang``'s words, or from English when that language lacks it: the
        one fallback rule, as for every other text."""
        words = self._words.get(lang)
        found = pick(words) if words else None
        return found if found else pick(self._words[DEFAULT_LANGUAGE])

    def translation(self, lang: str) -> Translation | None:
        words = self._words.get(lang)
        return words.translation if words else None


def _required(value: T | None, key: str) -> T:
    # kb check refuses an English file that lacks any card, text or service name.
    if value is None:
        raise KeyError(key)
    return value


def _deletions(word: str) -> set[str]:
    return {word, *(word[:i] + word[i + 1 :] for i in range(len(word)))}


def _phrase(text: str) -> _Phrase | None:
    text = prepare(text, detect_zawgyi=False).text
    if _NON_LATIN.search(text):
        return _Phrase(inside=_SPACE.sub("", text.casefold()))
    star = text.rstrip().endswith("*")
    as_typed = tuple(tokens(text.replace("*", " "), folded=False))
    words = tuple(fold(w) for w in as_typed)
    if not words:
        return None
    if star:
        words = (*words[:-1], words[-1] + "*")
        as_typed = (*as_typed[:-1], as_typed[-1] + "*")
    return _Phrase(words=words, accented=as_typed if as_typed != words else ())


# -- loading and checking -------------------------------------------------------------------


def load_emergencies(folder: Path, kb_ids: Iterable[str] | None = None) -> Emergencies:
    problems, emergencies = check_emergencies(folder, kb_ids)
    if problems or emergencies is None:
        raise KnowledgeBaseError(problems)
    return emergencies


def check_emergencies(
    folder: Path, kb_ids: Iterable[str] | None = None
) -> tuple[list[Problem], Emergencies | None]:
    """Problems in ``folder`` (empty when all is well), and what it holds."""
    problems: list[Problem] = []
    kinds_doc = _load(folder / KINDS_FILE, problems)
    if kinds_doc is None:
        return problems, None
    kinds = _read_kinds(kinds_doc, problems, set(kb_ids) if kb_ids is not None else None)
    english = folder / f"{DEFAULT_LANGUAGE}.yaml"
    words: dict[str, _LanguageWords] = {}
    digest = hashlib.sha256(_bytes(folder / KINDS_FILE))
    for path in sorted(folder.glob("*.yaml")):
        if path.name == KINDS_FILE:
            continue
        digest.update(path.name.encode() + b"\0" + _bytes(path))
        lang = path.stem
        if lang not in LANGUAGES:
            problems.append(Problem(path, 1, f"unknown language code '{lang}' in the file name"))
            continue
        doc = _load(path, problems)
        if doc is not None:
            read = _read_language(doc, lang, kinds, problems)
            if read is not None:
                words[lang] = read
    if DEFAULT_LANGUAGE not in words and not any(p.path == english for p in problems):
        problems.append(Problem(english, 1, "the English emergency file is missing"))
    model = None
    model_path = folder / emergency_model.MODEL_FILE
    if model_path.exists():
        digest.update(b"model\0" + _bytes(model_path))
        try:
            model, _ = emergency_model.read(model_path)
        except (ValueError, UnicodeDecodeError) as error:
            problems.append(Problem(model_path, 1, f"unreadable model: {error}"))
    # The look-alike model only vetoes what the main model or the lists found, and is read
    # only beside the main model.
    lookalike = None
    lookalike_path = folder / emergency_model.LOOKALIKE_FILE
    if model is not None and lookalike_path.exists():
        digest.update(b"lookalike\0" + _bytes(lookalike_path))
        try:
            lookalike, _ = emergency_model.read_lookalike(lookalike_path)
        except (ValueError, UnicodeDecodeError) as error:
            problems.append(Problem(lookalike_path, 1, f"unreadable model: {error}"))
    if problems:
        return problems, None
    version = f"em-{digest.hexdigest()[:10]}"
    return [], Emergencies(kinds, words, model, version, lookalike)


def _bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""  # reported by the reader that needs it


def _load(path: Path, problems: list[Problem]) -> YamlDocument | None:
    try:
        doc = load_yaml(path)
    except FileNotFoundError:
        problems.append(Problem(path, 1, "file not found"))
        return None
    except YamlSyntaxError as error:
        problems.append(Problem(error.path, error.line, error.message))
        return None
    if not isinstance(doc.data, dict):
        problems.append(Problem(path, 1, "expected keys and values"))
        return None
    return doc


def _read_kinds(doc: YamlDocument, problems: list[Problem], kb_ids: set[str] | None) -> list[Kind]:
    block = doc.data.get("kinds")
    if not isinstance(block, dict) or not block:
        problems.append(Problem(doc.path, doc.line_of(), "expected a block 'kinds:'"))
        return []
    kinds: list[Kind] = []
    for name, spec in block.items():
        line = doc.line_of("kinds", name)
        if not isinstance(spec, dict):
            problems.append(Problem(doc.path, line, f"kind '{name}' needs entry, call, source"))
            continue
        entry = spec.get("entry")
        if entry is not None and kb_ids is not None and entry not in kb_ids:
            problems.append(Problem(doc.path, line, f"'{name}': no entry with id '{entry}'"))
        if spec.get("call") not in CALLS:
            problems.append(Problem(doc.path, line, f"'{name}': call must be one of {CALLS}"))
        if not isinstance(spec.get("always"), bool):
            problems.append(Problem(doc.path, line, f"'{name}': always must be true or false"))
        for key in ("source", "cite"):
            if not isinstance(spec.get(key), str) or not spec[key].strip():
                problems.append(Problem(doc.path, line, f"'{name}': every kind needs a {key}"))
        kinds.append(
            Kind(
                name=str(name),
                entry=entry if isinstance(entry, str) else None,
                call=str(spec.get("call")),
                always=bool(spec.get("always")),
                source=str(spec.get("source", "")).strip(),
                cite=str(spec.get("cite", "")).strip(),
            )
        )
    return kinds


def _read_language(
    doc: YamlDocument, lang: str, kinds: Sequence[Kind], problems: list[Problem]
) -> _LanguageWords | None:
    data = doc.data
    out = _LanguageWords()
    before = len(problems)
    if lang != DEFAULT_LANGUAGE:
        out.translation = read_translation_status(doc, problems, lang)
    elif data.get("lang") != lang:
        problems.append(Problem(doc.path, doc.line_of("lang"), f"'lang' must be '{lang}'"))
    cues = data.get("cues")
    if not isinstance(cues, dict):
        problems.append(Problem(doc.path, doc.line_of(), "expected a block 'cues:' (now, not_now)"))
        cues = {}
    out.now = _phrases(doc, ("cues", "now"), cues.get("now"), problems)
    out.not_now = _phrases(doc, ("cues", "not_now"), cues.get("not_now"), problems)
    out.conditional = _phrases(doc, ("cues", "if"), cues.get("if"), problems)
    texts = data.get("texts") if isinstance(data.get("texts"), dict) else {}
    for key in TEXT_KEYS:
        value = texts.get(key)
        if not _is_text(value):
            problems.append(Problem(doc.path, doc.line_of("texts"), f"texts needs '{key}'"))
        else:
            out.texts[key] = _checked(doc, ("texts", key), value, problems)
    for name in ("countries", "services"):
        found = data.get(name)
        if not isinstance(found, dict):
            problems.append(Problem(doc.path, doc.line_of(), f"expected a block '{name}:'"))
            continue
        target = out.countries if name == "countries" else out.services
        for key, value in found.items():
            if _is_text(value):
                target[str(key)] = _checked(doc, (name, key), value, problems)
    block = data.get("kinds") if isinstance(data.get("kinds"), dict) else {}
    for kind in kinds:
        spec = block.get(kind.name)
        where = ("kinds", kind.name)
        if not isinstance(spec, dict):
            problems.append(Problem(doc.path, doc.line_of("kinds"), f"missing kind '{kind.name}'"))
            continue
        steps = spec.get("steps")
        if not _is_text(spec.get("title")) or not isinstance(steps, list) or not steps:
            problems.append(
                Problem(doc.path, doc.line_of(*where), f"'{kind.name}' needs a title and steps")
            )
            continue
        out.cards[kind.name] = CardText(
            _checked(doc, (*where, "title"), spec["title"], problems),
            tuple(_checked(doc, (*where, "steps", i), s, problems) for i, s in enumerate(steps)),
        )
        triggers = _Triggers()
        for key in LIST_KEYS:
            setattr(triggers, key, _phrases(doc, (*where, key), spec.get(key), problems))
        if not triggers.strong:
            problems.append(Problem(doc.path, doc.line_of(*where), f"'{kind.name}' has no strong"))
        triggers.context = _phrases(doc, (*where, "context"), spec.get("context", []), problems)
        out.kinds[kind.name] = triggers
    return out if len(problems) == before else None


def _phrases(
    doc: YamlDocument, where: tuple[str | int, ...], value: Any, problems: list[Problem]
) -> _PhraseSet:
    if value is None:
        value = []
    if not isinstance(value, list):
        problems.append(Problem(doc.path, doc.line_of(*where), "expected a list of phrases"))
        return _PhraseSet()
    phrases = []
    for i, item in enumerate(value):
        line = doc.line_of(*where, i)
        if not isinstance(item, (str, int)) or not str(item).strip():
            problems.append(Problem(doc.path, line, "a phrase must be a text"))
            continue
        _checked(doc, (*where, i), str(item), problems)
        phrase = _phrase(str(item))
        if phrase is None:
            problems.append(Problem(doc.path, line, f"'{item}' has no letters to match"))
        else:
            phrases.append(phrase)
    return _PhraseSet(phrases)


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _checked(
    doc: YamlDocument, where: tuple[str | int, ...], text: Any, problems: list[Problem]
) -> str:
    clean = str(text).strip()
    broken = broken_script(clean)
    if broken:
        problems.append(Problem(doc.path, doc.line_of(*where), broken))
    return clean
