"""Matching a short, misspelt, slangy question to knowledge base entries, or to none.

How a question is scored (the index is built once, at load):

1. Normalise: Unicode NFKC, casefold, punctuation to spaces. Letters *and combining marks*
   are kept, so Thai and Burmese vowels and tone marks survive.
2. Rewrite the words users type into the knowledge base's words (``synonyms.yaml``, longest
   phrase first), correct typos against the knowledge base's own vocabulary with rapidfuzz,
   and fold simple English plurals.
3. Lexical evidence: the share of the question's information (IDF-weighted content words)
   that an entry explains, with a word counting more when it is in the entry's title or
   keywords than in its questions or body text.
4. Phrasing evidence: for the best lexical candidates, rapidfuzz's similarity between the
   question and the entry's alternate phrasings and title (word order and extra words are
   forgiven by the token scorers).
5. One score from 0 to 100 mixes the two; then BM25 (which counts how many of an entry's
   phrasings use a word) has its say: an entry far behind the BM25 leader loses points.
   :class:`Thresholds` turns scores into a decision: ``answer``, ``clarify`` (a few close
   entries, the user picks) or ``none``.

Content words the knowledge base has never seen count against a question: "how do I cook
rice" shares only function words with the base and ends in ``none``. A confident wrong answer
is the worst outcome for the people this serves, so when in doubt the bot asks or says so.
"""

from __future__ import annotations

import gc
import itertools
import math
import statistics
import sys
import threading
from collections import defaultdict
from collections.abc import Container, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeVar

from rapidfuzz import fuzz, process

from rightsdesk import languages, scope_model
from rightsdesk.decision import Decision
from rightsdesk.knowledge_base import Decline, Entry, KnowledgeBase, LanguageWords
from rightsdesk.localized import DEFAULT_LANGUAGE, Localized
from rightsdesk.scope_model import ScopeModel

T = TypeVar("T")


@dataclass(frozen=True)
class Thresholds:
    """Where scores become decisions. Tuned with `rightsdesk eval` on every development set
    (questions.yaml, lang/*-dev, lang2-6/*-retired), looking at each language apart.

    - ``answer``: the best entry scores at least this and leads the next by ``margin``.
    - ``clarify``: below ``answer`` (or without the lead) but at least this: offer choices
      (``clarify_by_language`` may set another value for a language).
    - below ``clarify``: ``none``, an honest "I could not find this".
    - ``choice_window``: entries within this many points of the best are offered as choices.

    Since BM25 has its say (BM25_PENALTY) the entries behind the best fall further behind,
    so the lead says most: 58 / 12 / 36 / 10 became 50 / 30 / 38 / 30. Averaged over the
    languages (BM25 over the canonical words), the margin trades wrong answers for direct
    ones: 24 gave 1.2% wrong and 62% of in-scope questions answered right at once, 28 gave
    0.9% / 59%, 32 0.5% / 55%, 36 0.3% / 51%; ``answer`` matters little between 40 and 56.
    30 gave 0.7% / 57.5%, where the old scores gave 1.0% / 53.6%, and gives 0.6% / 60.5%
    with BM25 over the words as typed. ``clarify`` 36 declined en 0.958 and ms 0.919 of
    out-of-scope questions, 38 0.979 and 0.935, 40 0.979 and 0.952 but left th, tl and vi
    top3 under 0.95. A window as wide as the margin offers, as the old 10 points did, about
    two choices on average (10 points now: 1.35, and 70% of clarifications one choice).
    """

    answer: float = 50.0
    margin: float = 30.0
    clarify: float = 38.0
    choice_window: float = 30.0
    max_choices: int = 3
    # ``clarify`` for a question identified as in one of these languages. Vietnamese scores
    # run lower (a syllable means little, so its bigrams weigh in the question's total and
    # seldom all meet one entry), and held-out set 12's Vietnamese questions about dignity,
    # an eviction and Malaysia's methadone found the right entry first at 36-37 points and
    # got nothing. On every development set, Vietnamese at 38 / 36 / 35 / 34: top1 0.912 /
    # 0.928 / 0.928 / 0.930, top3 0.969 / 0.984 / 0.987 / 0.989, declined 0.947 / 0.947 /
    # 0.947 / 0.939. No other language gained as much without declining less (Thai at 36:
    # top1 0.906 -> 0.912, declined 0.939 -> 0.931; English at 36 declined 0.970 -> 0.964).
    # The value replaces ``clarify`` for that language outright, for choices and for the decline
    # floor alike (a decline needs at least this score too); changing ``clarify`` leaves it.
    clarify_by_language: tuple[tuple[str, float], ...] = (("vi", 35.0),)

    def clarify_for(self, lang: str | None) -> float:
        return dict(self.clarify_by_language).get(lang or "", self.clarify)


DEFAULT_THRESHOLDS = Thresholds()

# How much a word counts by the field it appears in.
FIELD_WEIGHTS: Mapping[str, float] = {
    "title": 1.0,
    "keywords": 1.0,
    "questions": 0.8,
    "summary": 0.6,
    "body": 0.35,
}
LEXICAL_SHARE = 0.6  # evidence from words, weighted by where they stand in an entry
PHRASING_SHARE = 0.15  # fuzzy similarity to the closest alternate phrasing
# (the rest: IDF-weighted word overlap with the closest alternate phrasing)
PHRASING_SCORER = fuzz.token_set_ratio
# BM25 over an entry's title, keywords, questions and summary (each word counted as often as
# it occurs, weighted by FIELD_WEIGHTS; the body is left out). The share above credits an
# entry with a word once, wherever it stands, so an entry whose 200 phrasings mention
# "school" once weighs as much for "school" as one whose every phrasing does; BM25 counts
# them. On every development set, BM25 alone over the canonical words ranked first
# (ignoring decisions) en 0.900, id 0.928, ms 0.890, my 0.881, th 0.905, tl 0.851, vi 0.925,
# against the matcher's 0.905, 0.888, 0.867, 0.818, 0.897, 0.855, 0.885. k1 1.2 or 2.0 and
# b 0.5 or 0.9 did no better; counting body text (at 0.35 or 0.1) or every field alike did
# worse. BM25 reads the words as typed (_surface_keys), not the canonical ones the share
# reads: the two views together ranked first (with decisions) en 0.909, id 0.946, ms 0.894,
# my 0.866, th 0.905, tl 0.906, vi 0.925, against 0.909, 0.935, 0.890, 0.862, 0.897, 0.863,
# 0.913 with BM25 over the canonical words too, and 0.920, 0.939, 0.898, 0.874, 0.905,
# 0.890, 0.917 with both BM25s summed; dropping each language's stopwords from BM25's keys
# cost tl 0.016 and vi 0.020.
BM25_K1 = 1.5
BM25_B = 0.75
# An entry loses up to this many points by how far its BM25 falls below the best
# candidate's (half the best BM25: half these points), and then every score moves by the
# same amount so the best keeps the score the best candidate had before: how much evidence
# the question has is unchanged, which entry leads and by how much is BM25's say too.
# Declines take part: a decline BM25 prefers pulls every entry down, which declined ms
# 0.935 of out-of-scope questions, against 0.903 when entries are measured against the best
# entry only (but that ranked ms 0.898 first, not 0.890). Measured (thresholds retuned for
# each): 30 points ranked en 0.903 tl 0.859 my 0.866 first, 45: 0.900 0.851 0.858, 60:
# 0.903 0.855 0.862 with fewer wrong answers, 80: 0.903 0.847 0.870. Adding BM25 in
# proportion instead (a share of the score) ranked as well but left the best entry's score
# saying nothing (always near the same BM25 share), and declined en 0.895, ms 0.839. (Those
# figures are for BM25 over the canonical words; over the words as typed, 45 points ranked
# en 0.905, tl 0.902, my 0.862 first and answered 55% of in-scope questions right at once,
# 60: 0.909, 0.906, 0.866 and 60.5%, 80: 0.907, 0.902, 0.866 and 65%, but with 0.9% wrong.)
BM25_PENALTY = 60.0
UNKNOWN_WEIGHT = 0.8  # how much a word the base has never seen counts against a question
# Decline when a decline scores within this of the best entry. With BM25's say, over every
# development set: -4 declined ms 0.919 (not 0.935) of out-of-scope questions for ms top1
# 0.898 (not 0.890); 4 changed nothing; 8 declined id 0.985 (not 0.970) but cost id, th and
# tl a question or two of top1 each.
DECLINE_MARGIN = 0.0
# A decline has only its questions, where an entry also has a title and keywords that count
# in full: without this its words could never weigh what an entry's title words do.
DECLINE_QUESTION_WEIGHT = 1.0
# A rights word ("court", "police") keeps a message from being declined, unless a decline
# leads every entry by this much: "divorce in the family court" is still family law.
# (With BM25's say: 10 declined en 0.990, not 0.979, but cost en and my top3 0.004; 30 changed
# nothing.)
RIGHTS_DECLINE_LEAD = 20.0
# How many phrasings of a candidate are compared with rapidfuzz: those sharing the most
# weight with the question. Comparing all of them (about 200 an entry in seven languages)
# cost p50 6.1 ms and p99 10.5 ms a question; the closest 20, p50 1.3-1.6 ms.
FUZZY_PHRASINGS = 20
STORY_WORDS = 4.0  # beyond about this many content words, a longer story dilutes no further
# Vietnamese, Thai and Burmese questions carry a bigram for nearly every word, so the same
# story has about twice the keys: their cap is this much higher, or a long Thai question
# saturates the share (1.0) for every entry that shares a handful of common syllables.
PAIR_STORY_FACTOR = 2.0
CANDIDATES = 12
MAX_MATCHES = 5
TYPO_CUTOFF = 85.0
MIN_TYPO_LENGTH = 4

# Function words and chat filler in English and Bahasa Indonesia / Malay. They carry no topic,
# so they neither earn an entry points nor count against a question.
STOPWORDS = frozenset(
    """
    a an the and or but if of to in on at by for from with without w o about into over under
    is are was were be been being am do does did doing done have has had having can could
    will would shall should may might must i me my mine we us our you your u ur he him his she
    her they them their it its this that these those there here what wat which who whom whose
    when where why how hw wht whats what's not no yes yeah ok okay pls plz please thanks thank
    thx hi hello hey bro sis sir maam mam dear just only also very so too then than now still
    any some all each every much many more most other same such own get got getting go going
    gone went want wants need needs know tell told say said ask asked someone somebody anyone
    one thing things something anything im ive dont doesnt didnt cant cannot isnt arent wasnt
    r ya yg dan atau di ke dari itu ini apa apakah bagaimana gimana gmn kenapa mengapa siapa
    saya aku kami kita dia mereka ada tidak tdk gak ga nggak enggak bisa boleh harus untuk utk
    dengan dgn pada yang juga sudah udah sdh belum blm akan mau kalau kalo klo jika tolong mohon
    kak pak bu mas mbak bang dong deh sih ya nya lah kah tu ni je ke whether like really
    actually even as kindly advise regards madam respected team guys hai halo gan
    till coz cuz cos bcoz bcuz becoz bc though although ago via upon onto anymore etc eg ie
    gonna wanna gotta
    """.split()  # noqa: SIM905  (a word list is easier to edit as text)
)


def normalise(text: str, *, detect_zawgyi: bool = True) -> str:
    """The text as matching keys joined by spaces: repaired (Zawgyi converted, Thai vowels
    recomposed), casefolded, Latin diacritics dropped, Thai and Burmese cut into words and
    syllables. Everything that compares texts goes through this one function."""
    prepared = languages.prepare(text, detect_zawgyi=detect_zawgyi)
    return " ".join(languages.tokens(prepared.text))


def _fuzzy_text(words: list[str]) -> str:
    # rapidfuzz compares the words themselves; bigrams would only double its work.
    return " ".join(w for w in words if "_" not in w)


def _bigrams(words: list[str]) -> list[str]:
    # Vietnamese syllables and Thai and Burmese pieces mean little alone ("an" in "cong an",
    # police); a pair of neighbours is a far more specific key. Interned: the index holds the
    # same pair in thousands of phrasings (peak RSS 288 -> 277 MB in `rightsdesk bench`).
    return [sys.intern(f"{a}_{b}") for a, b in itertools.pairwise(words)]


def _surface_keys(typed: list[str], lang: str | None) -> list[str]:
    """BM25's keys: the words as typed (folded), without the base stopwords, and their
    bigrams where :meth:`Vocabulary.content_words` makes them. No slang, synonyms, typo
    correction or plurals: the share already reads the canonical words, and BM25 over the
    surface forms adds what they leave out."""
    return _with_bigrams([w for w in typed if w not in STOPWORDS], lang)


def _with_bigrams(words: list[str], lang: str | None) -> list[str]:
    """``words`` followed by their bigrams, for the languages that need them (and any text
    that starts in a script other than Latin, whatever it was taken for)."""
    if lang in BIGRAM_LANGUAGES or (words and not words[0].isascii()):
        return words + _bigrams(words)
    return words


@lru_cache(maxsize=1 << 16)
def _stem(word: str) -> str:
    # Enough folding for "rights"/"right", "centres"/"centre", "charges"/"charge"; longer
    # suffix stripping mangles Indonesian and Malay words, which the base also holds.
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _inflection_base(word: str, known: Container[str]) -> str | None:
    """The form of an English -ed word that ``known`` holds: "arrested" -> "arrest",
    "stopped" -> "stop", "forced" -> "force"; None if there is none.

    Typo correction already folds words the base has never seen; this folds the ones it
    has, on both sides, so "searched" in a question meets "search" in a phrasing. What is
    left without the -ed must be three letters or more ("seed" is not "see") and the base
    form no stopword. Folding -ing too
    ("stopping" -> "stop") ranked a little better again (en top1 0.911, tl 0.867, ms 0.894
    over every development set, against 0.909, 0.863, 0.890 for -ed alone), but "using"
    became "use", which nearly every entry holds, and "wat r my rights if police hold me
    for using drugs" no longer answered II.7: its lead fell from 38 points to 9."""
    if not word.isascii() or word in STOPWORDS or not word.endswith("ed") or len(word) < 5:
        return None
    stem = word[:-2]
    undoubled = stem[:-1] if len(stem) > 3 and stem[-1] == stem[-2] else ""
    for candidate in (stem, stem + "e", undoubled):
        if candidate and candidate not in STOPWORDS and candidate in known:
            return candidate
    return None


@dataclass(frozen=True)
class Match:
    entry: Entry
    score: float

    @property
    def id(self) -> str:
        return self.entry.id


@dataclass(frozen=True)
class MatchResult:
    decision: Decision
    matches: tuple[Match, ...]
    declined: Decline | None = None  # set when the question is a kind the bot declines
    # What to offer when the decision is ``clarify``, or beside the reason of a decline.
    choices: tuple[Match, ...] = ()
    script: languages.Script = "none"  # of the question's letters
    encoding: languages.Encoding | None = None  # how its Burmese was typed, if any
    identified: str | None = None  # language identification, restricted to ours
    phrasing_language: str | None = None  # language of the phrasing that matched best
    # The scope model's probability that the question is out of scope, when it was asked.
    out_of_scope: float | None = None

    @property
    def best(self) -> Match | None:
        return self.matches[0] if self.matches else None


# Languages whose letters carry little meaning one by one: their keys get bigrams.
BIGRAM_LANGUAGES = frozenset({"vi", "th", "my"})


class Vocabulary:
    """Turns raw text into canonical content words: per-language slang and stopwords, synonyms,
    typo correction, plurals, and bigrams for the languages that need them.

    ``lang`` is the language a text is known (phrasings) or believed (questions) to be in;
    slang and stopwords of one language never touch another, so "ko" can be Tagalog "my"
    and Vietnamese "not" at once.
    """

    def __init__(
        self,
        synonyms: Mapping[str, str],
        known_words: Iterable[str],
        words: Mapping[str, LanguageWords] | None = None,
    ) -> None:
        self._phrases = self._phrase_map(synonyms)
        # Slang is matched as typed, accents and all: folded, the Vietnamese "cỏ" (grass,
        # cannabis) would also catch "có" (to have), in nearly every question.
        self._slang = {
            lang: self._phrase_map(w.slang, as_typed=True) for lang, w in (words or {}).items()
        }
        self._stop = {lang: w.stopwords for lang, w in (words or {}).items()}
        # Typos are corrected towards every word the base's texts hold, its stopwords too;
        # a word corrected into one ("mega" -> Tagalog "mga") is one, not a content word
        # the index has never seen.
        self._stop_folded = frozenset(
            languages.fold(s) for w in (words or {}).values() for s in w.stopwords if s.isascii()
        )
        # The longest phrase starting with each word: most words start none, and are passed
        # over at once.
        self._longest: dict[str, int] = {}
        for mapping in (self._phrases, *self._slang.values()):
            for phrase in mapping:
                self._longest[phrase[0]] = max(self._longest.get(phrase[0], 0), len(phrase))
        self.learn(known_words)

    def learn(self, known_words: Iterable[str]) -> None:
        """Set the words typos are corrected towards (the base's own, and their canonical
        forms)."""
        single = {p[0] for p in self._phrases if len(p) == 1}
        self._known = frozenset(known_words) | single
        self._by_initial: dict[str, list[str]] = defaultdict(list)
        for known in sorted(self._known):
            if len(known) >= MIN_TYPO_LENGTH - 1:
                self._by_initial[known[0]].append(known)
        self._correct = lru_cache(maxsize=8192)(self._correct_uncached)
        self._base = {
            word: base
            for word in self._known
            if (base := _inflection_base(word, self._known)) is not None
        }

    def base_forms(self, content: list[str]) -> list[str]:
        """``content`` with inflected words folded to the form the base holds. Bigrams keep
        the forms they were made of, on both sides alike."""
        return [w if "_" in w else self._base.get(w, w) for w in content]

    @staticmethod
    def _phrase_map(
        pairs: Mapping[str, str], *, as_typed: bool = False
    ) -> dict[tuple[str, ...], tuple[str, ...]]:
        mapping: dict[tuple[str, ...], tuple[str, ...]] = {}
        for variant, canonical in pairs.items():
            prepared = languages.prepare(variant, detect_zawgyi=False).text
            key = tuple(languages.tokens(prepared, folded=not as_typed))
            if key:
                mapping[key] = tuple(normalise(canonical).split())
        return mapping

    def _replace(
        self, words: list[str], phrases: Mapping[tuple[str, ...], tuple[str, ...]]
    ) -> list[str]:
        longest = self._longest
        # Only the words that start some phrase are looked at; the rest are copied in slices.
        starts = [i for i, word in enumerate(words) if word in longest]
        if not starts:
            return list(words)
        out: list[str] = []
        n = len(words)
        copied = 0  # words before this index are in ``out`` or were replaced
        for i in starts:
            if i < copied:
                continue  # inside a phrase already replaced
            for size in range(min(longest[words[i]], n - i), 0, -1):
                replacement = phrases.get(tuple(words[i : i + size]))
                if replacement is not None:
                    out.extend(words[copied:i])
                    out.extend(replacement)
                    copied = i + size
                    break
        out.extend(words[copied:])
        return out

    def _correct_uncached(self, word: str) -> str:
        if word in self._known or len(word) < MIN_TYPO_LENGTH or not word.isascii():
            return word
        if word.isdigit():
            return word
        base = self._base_form(word)
        if base is not None:
            return base
        # Typos rarely hit the first letter, and keeping it stops "parking" becoming "marking".
        found = process.extractOne(
            word,
            self._by_initial.get(word[0], ()),
            scorer=fuzz.ratio,
            score_cutoff=TYPO_CUTOFF,
        )
        return found[0] if found else word

    def _base_form(self, word: str) -> str | None:
        """'arresting' -> 'arrest', 'searched' -> 'search', 'stopped' -> 'stop', if known."""
        for suffix in ("ing", "ed", "es", "s", "ly", "er"):
            if not word.endswith(suffix) or len(word) - len(suffix) < 3:
                continue
            stem = word[: -len(suffix)]
            for candidate in (stem, stem + "e", stem[:-1] if stem[-1:] == stem[-2:-1] else ""):
                if candidate in self._known:
                    return candidate
        return None

    def words(
        self,
        text: str,
        *,
        lang: str | None = None,
        correct: bool = True,
        prepared: bool = False,
        seen: set[str] | None = None,
        typed: list[str] | None = None,
    ) -> list[str]:
        """Canonical words of ``text``, base stopwords included (phrases need them).

        ``correct=False`` is for the knowledge base's own texts: no typos to correct, and no
        Zawgyi to detect. ``prepared`` says ``text`` already went through
        :func:`rightsdesk.languages.prepare`. ``seen`` gathers the words as typed (folded),
        and ``typed`` does too, in order."""
        if not prepared:
            text = languages.prepare(text, detect_zawgyi=correct).text
        raw = languages.tokens(text, folded=False)
        stop = self._stop.get(lang or "", frozenset())
        # A language's own fillers go first, on the form as typed: folded, the Vietnamese
        # filler "mà" would also remove "ma" of "ma túy".
        fold = languages.fold
        if seen is not None or typed is not None:
            folded = [fold(w) for w in raw]
            if seen is not None:
                seen.update(folded)
            if typed is not None:
                typed.extend(folded)
        raw = [w for w in raw if w not in stop]
        if lang in self._slang:
            raw = self._replace(raw, self._slang[lang])
        words = self._replace([fold(w) for w in raw], self._phrases)
        if correct:
            corrected = [(w, self._correct(w)) for w in words]
            words = self._replace(
                [c for w, c in corrected if c == w or c not in self._stop_folded], self._phrases
            )
        return [w if w in STOPWORDS else _stem(w) for w in words]

    def typed_keys(
        self, text: str, *, lang: str | None = None, prepared: bool = False
    ) -> frozenset[str]:
        """The words of ``text`` as typed (folded, but with no slang, synonyms or typo
        correction), without the language's own stopwords, and their bigrams where
        :meth:`content_words` makes them: what a rights word is looked for in before the
        synonyms widen it. The base stopwords stay: "an" of "công an" (police) is one."""
        if not prepared:
            text = languages.prepare(text, detect_zawgyi=False).text
        stop = self._stop.get(lang or "", frozenset())
        words = [languages.fold(w) for w in languages.tokens(text, folded=False) if w not in stop]
        return frozenset(_with_bigrams(words, lang))

    def canonical(self, words: list[str]) -> list[str]:
        """Words already cut and folded, rewritten by the synonyms, plurals folded."""
        return [w if w in STOPWORDS else _stem(w) for w in self._replace(words, self._phrases)]

    def content_words(
        self,
        text: str,
        *,
        lang: str | None = None,
        correct: bool = True,
        prepared: bool = False,
        seen: set[str] | None = None,
        typed: list[str] | None = None,
    ) -> list[str]:
        words = self.words(
            text, lang=lang, correct=correct, prepared=prepared, seen=seen, typed=typed
        )
        return self.base_forms(_with_bigrams([w for w in words if w not in STOPWORDS], lang))


Texts = list[tuple[str, str]]  # (language, text)


def _all(values: Localized[T]) -> Iterator[tuple[str, T]]:
    for lang in values.languages:
        yield lang, values.values[lang]


def _decline_fields(decline: Decline) -> dict[str, Texts]:
    questions = [(lang, q) for lang, items in _all(decline.questions) for q in items]
    return {"title": [], "keywords": [], "questions": questions, "summary": [], "body": []}


def _entry_fields(entry: Entry) -> dict[str, Texts]:
    """An entry's texts by field, every language together: people mix languages in one
    message ("polisi ambil hp klien tanpa warrant"), so any language's phrasing may match."""
    body = [
        (lang, t)
        for lang, levels in _all(entry.details)
        for items in levels.values()
        for t in items
    ]
    body += [(lang, t) for lang, items in _all(entry.what_you_can_do) for t in items]
    if entry.lessons:
        body += [(lang, t) for lang, items in _all(entry.lessons) for t in items]
    if entry.country:
        # A country name alone ("weather in jakarta", "visa for thailand") is no evidence
        # that a question is about that example, so it counts only as body text.
        body.extend(_all(entry.country))
    return {
        "title": list(_all(entry.title)),
        "keywords": [(lang, k) for lang, items in _all(entry.keywords) for k in items],
        "questions": [(lang, q) for lang, items in _all(entry.questions) for q in items],
        "summary": list(_all(entry.summary)),
        "body": body,
    }


class _CollectorPause:
    """Python's cycle collector off while indexes are built, on again (if it was on) when the
    last of them is done, then one full collection.

    Building an index allocates millions of small lists, sets and dicts and frees almost none
    of them in cycles, yet each allocation burst sets off a full collection that walks
    everything built so far: about a tenth of the build on this machine, for 173 objects
    found. One collection at the end (under a tenth of a second) instead keeps the next
    automatic full collection from walking the whole new index during some question: without
    it the slowest query of `rightsdesk bench` went from 14 ms to 94 ms (552 ms at ten times
    the size). Counted, because a reload builds on a worker thread and two may overlap: the
    collector comes back only after the last one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._resume = False

    @contextmanager
    def paused(self) -> Iterator[None]:
        with self._lock:
            if self._depth == 0:
                self._resume = gc.isenabled()
                gc.disable()
            self._depth += 1
        try:
            yield
        finally:
            with self._lock:
                self._depth -= 1
                resume = self._depth == 0 and self._resume
                if resume:
                    gc.enable()
            if resume:
                gc.collect()


_COLLECTOR = _CollectorPause()


class Matcher:
    """Ranks knowledge base entries for a question. Build once; ``match`` reads no files."""

    def __init__(
        self,
        kb: KnowledgeBase,
        *,
        thresholds: Thresholds = DEFAULT_THRESHOLDS,
        scope: ScopeModel | None = None,
    ) -> None:
        self.kb = kb
        self.thresholds = thresholds
        # Consulted before answering or offering choices; None: the words alone decide.
        self.scope = scope
        with _COLLECTOR.paused():
            self._index(kb)

    def _index(self, kb: KnowledgeBase) -> None:
        self.entries: tuple[Entry, ...] = kb.entries
        # Declines are indexed like entries, so "where to buy ganja" can be recognised as
        # closer to a kind of question the bot must decline than to any Guidelines item.
        self._docs: tuple[Entry | Decline, ...] = (*kb.entries, *kb.declines)
        self._doc_index = {e.id: i for i, e in enumerate(kb.entries)}
        fields_per_entry = [
            _entry_fields(d) if isinstance(d, Entry) else _decline_fields(d) for d in self._docs
        ]
        # Typo correction aims at the words the base uses (learnt below, once every text is
        # cut: cutting needs no known words).
        self.vocabulary = Vocabulary(kb.synonyms, (), kb.words)
        raw_words: set[str] = set()
        # Questions are read as fields and as phrasings: cut each text once.
        cut: dict[tuple[str, str], list[str]] = {}
        surface: dict[tuple[str, str], list[str]] = {}  # BM25's keys

        def content(lang: str, text: str, *, for_bm25: bool = False) -> list[str]:
            key = (lang, text)
            if key not in cut or (for_bm25 and key not in surface):
                typed: list[str] | None = [] if for_bm25 else None
                cut[key] = self.vocabulary.content_words(
                    text, lang=lang, correct=False, seen=raw_words, typed=typed
                )
                if typed is not None:
                    surface[key] = _surface_keys(typed, lang)
            return cut[key]

        # BM25's fields first (the body, a third of the words, needs no keys of its own).
        for name in ("title", "keywords", "questions", "summary", "body"):
            for fields in fields_per_entry:
                for lang, text in fields[name]:
                    content(lang, text, for_bm25=name != "body")
        known = set(raw_words)
        for word in raw_words:
            known.update(self.vocabulary.canonical([word]))
        self.vocabulary.learn(known)
        # Inflected words fold to a form the base holds ("stopped" -> "stop"), on the base's
        # side as on the question's, now that the base's words are known.
        for key, cut_words in cut.items():
            cut[key] = self.vocabulary.base_forms(cut_words)

        weights: list[dict[str, float]] = []
        term_counts: list[dict[str, float]] = []  # for BM25
        self._phrasings: list[list[str]] = []
        self._phrase_sets: list[list[tuple[frozenset[str], float]]] = []  # words, IDF total
        self._phrase_langs: list[list[str]] = []
        canonical_phrasings: list[list[list[str]]] = []
        keyword_sets: list[list[frozenset[str]]] = []
        for doc, fields in zip(self._docs, fields_per_entry, strict=True):
            entry_weights: dict[str, float] = {}
            for field_name, texts in fields.items():
                w = FIELD_WEIGHTS[field_name]
                if isinstance(doc, Decline):
                    w = DECLINE_QUESTION_WEIGHT
                for lang, text in texts:
                    for word in content(lang, text):
                        if entry_weights.get(word, 0.0) < w:
                            entry_weights[word] = w
            weights.append(entry_weights)
            counts: dict[str, float] = defaultdict(float)
            for field_name in ("title", "keywords", "questions", "summary"):
                w = FIELD_WEIGHTS[field_name]
                for lang, text in fields[field_name]:
                    for word in surface[(lang, text)]:
                        counts[word] += w
            term_counts.append(counts)
            phrasings = fields["questions"] + fields["title"]
            canonical = [content(lang, p) for lang, p in phrasings]
            keywords = [content(lang, k) for lang, k in fields["keywords"]]
            self._phrasings.append([_fuzzy_text(words) for words in canonical + keywords])
            self._phrase_langs.append([lang for lang, _ in phrasings])
            canonical_phrasings.append(canonical)
            keyword_sets.append([frozenset(words) for words in keywords])
        # Each rights word or phrase counts only whole: all its words (and, for Vietnamese,
        # Thai and Burmese, their bigrams, so in order) must be in the message. One syllable
        # of "tạm giam" (custody) also opens "giảm giá" (a discount).
        phrases = [(None, phrase) for phrase in kb.rights_words] + [
            (lang, phrase) for lang, words in kb.words.items() for phrase in words.rights_words
        ]
        typed = [self.vocabulary.typed_keys(phrase, lang=lang) for lang, phrase in phrases]
        rights_cut = [
            frozenset(self.vocabulary.content_words(phrase, lang=lang)) for lang, phrase in phrases
        ]
        # A rights word is looked for as typed, and in its canonical form only where that form
        # is itself a rights word: "jail", "penjara" and "selda" all become "detention", but
        # "fired" and "dipecat" become "employment", which "job", "kerja" and "trabaho" also
        # become, and "rights" becomes "right" ("right now"). Matched in canonical form, they
        # kept "how to pass a urine test for work" (a decline) from ever being declined.
        fixed = {cut for cut, as_typed in zip(rights_cut, typed, strict=True) if cut == as_typed}
        self._rights_typed = [words for words in typed if words]
        self._rights_phrases = [cut for cut in rights_cut if cut and cut in fixed]
        n = len(self._docs)
        df: dict[str, int] = defaultdict(int)
        for entry_weights in weights:
            for word in entry_weights:
                df[word] += 1
        self._idf = {w: math.log(1.0 + n / d) for w, d in df.items()}
        # A word the base has never seen is the strongest sign the question is elsewhere.
        self._unknown_idf = math.log(1.0 + n)
        for canonical in canonical_phrasings:
            sets = [frozenset(words) for words in canonical]
            self._phrase_sets.append([(ws, sum(self.idf(w) for w in ws)) for ws in sets])
        # word -> doc -> phrasings, so overlaps are summed only where words meet, and only
        # for the candidates: a common word ("police") is in thousands of phrasings.
        self._phrase_postings: dict[str, dict[int, list[int]]] = defaultdict(
            lambda: defaultdict(list)
        )
        self._phrase_totals: list[list[float]] = []
        for index, phrase_sets in enumerate(self._phrase_sets):
            word_sets = [words for words, _ in phrase_sets] + keyword_sets[index]
            self._phrase_totals.append(
                [total for _, total in phrase_sets]
                + [sum(self.idf(w) for w in ws) for ws in keyword_sets[index]]
            )
            for number, words in enumerate(word_sets):
                for word in words:
                    self._phrase_postings[word][index].append(number)
        self._story_cap = STORY_WORDS * statistics.median(self._idf.values() or [1.0])
        self._postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for index, entry_weights in enumerate(weights):
            for word, w in entry_weights.items():
                self._postings[word].append((index, w * self._idf[word]))
        self._bm25_terms = self._bm25(term_counts)

    @staticmethod
    def _bm25(term_counts: list[dict[str, float]]) -> list[dict[str, float]]:
        """Per document, word -> BM25 term score: a document's BM25 for a question is the sum
        of its words' term scores, which depend on the document alone, so they are computed
        here. Per document, not per word: a question is scored against a dozen candidates,
        and "sa" or "ng" is in every document."""
        n = len(term_counts)
        lengths = [sum(counts.values()) for counts in term_counts]
        average = (sum(lengths) / n) if n else 1.0
        df: dict[str, int] = defaultdict(int)
        for counts in term_counts:
            for word in counts:
                df[word] += 1
        idf = {word: math.log(1.0 + (n - d + 0.5) / (d + 0.5)) for word, d in df.items()}
        terms: list[dict[str, float]] = []
        for index, counts in enumerate(term_counts):
            norm = BM25_K1 * (1.0 - BM25_B + BM25_B * lengths[index] / (average or 1.0))
            terms.append(
                {
                    word: idf[word] * tf * (BM25_K1 + 1.0) / (tf + norm)
                    for word, tf in counts.items()
                }
            )
        return terms

    def idf(self, word: str) -> float:
        return self._idf.get(word, self._unknown_idf)

    def match(self, question: str) -> MatchResult:
        prepared = languages.prepare(question)
        identified = languages.identify(prepared.text)
        about = {"script": prepared.script, "encoding": prepared.encoding, "identified": identified}
        typed: list[str] = []
        content = list(
            dict.fromkeys(
                self.vocabulary.content_words(
                    prepared.text, lang=identified or DEFAULT_LANGUAGE, prepared=True, typed=typed
                )
            )
        )
        if not content:
            return MatchResult(Decision.NONE, (), **about)  # type: ignore[arg-type]
        known = sum(self._idf[w] for w in content if w in self._idf)
        unknown = sum(self._unknown_idf for w in content if w not in self._idf)
        # Unknown words weigh less than known ones, and long stories stop diluting the
        # evidence after a few sentences' worth of words.
        paired = any("_" in w for w in content)
        cap = self._story_cap * (PAIR_STORY_FACTOR if paired else 1.0)
        total = min(known + UNKNOWN_WEIGHT * unknown, cap)
        lexical: dict[int, float] = defaultdict(float)
        for word in content:
            for index, weighted in self._postings.get(word, ()):
                lexical[index] += weighted
        if not lexical:
            return MatchResult(Decision.NONE, (), **about)  # type: ignore[arg-type]
        candidates = sorted(lexical, key=lexical.__getitem__, reverse=True)[:CANDIDATES]
        query = _fuzzy_text(content)
        overlaps, best_phrasing, sharing = self._overlaps(content, set(candidates))
        bm25 = self._bm25_scores(list(dict.fromkeys(_surface_keys(typed, identified))), candidates)
        evidence: list[tuple[int, float]] = []  # (candidate, score before BM25's say)
        for index in candidates:
            share = min(1.0, lexical[index] / total)
            texts = self._phrasings[index]
            closest = sharing.get(index, [])[:FUZZY_PHRASINGS]
            phrasing = process.extractOne(
                query, [texts[n] for n in closest], scorer=PHRASING_SCORER, processor=None
            )
            similarity = phrasing[1] / 100.0 if phrasing else 0.0
            overlap = overlaps.get(index, 0.0)
            score = 100.0 * (
                LEXICAL_SHARE * share
                + PHRASING_SHARE * similarity
                + (1.0 - LEXICAL_SHARE - PHRASING_SHARE) * overlap
            )
            evidence.append((index, score))
        scored = self._with_bm25(evidence, bm25)
        top = tuple(Match(d, sc) for sc, d in scored if isinstance(d, Entry))[:MAX_MATCHES]
        decline = next(((sc, d) for sc, d in scored if isinstance(d, Decline)), None)
        present = set(content)
        best_entry = top[0].score if top else 0.0
        if (
            decline is not None
            and self._about_rights(present, prepared.text, identified)
            and decline[0] < best_entry + RIGHTS_DECLINE_LEAD
        ):
            # About someone's rights: never brushed off, and the entries are scored among
            # themselves, or a decline BM25 prefers would still drag them all down.
            decline = None
            entries = [(i, sc) for i, sc in evidence if i < len(self.entries)]
            scored = self._with_bm25(entries, bm25)
            top = tuple(Match(d, sc) for sc, d in scored if isinstance(d, Entry))[:MAX_MATCHES]
            best_entry = top[0].score if top else 0.0
        if decline is not None and decline[0] >= max(
            self.thresholds.clarify_for(identified), best_entry - DECLINE_MARGIN
        ):
            # Near a kind of question we decline, declining beats a stretched answer. But the
            # entries that scored enough to be offered go beside the reason, so a wrong decline
            # is one tap from the answer. On every development set 16 in-scope questions were
            # declined: 8 now get choices, 5 with a right entry; of 936 declined out-of-scope
            # questions, 44 get choices too. Offered only when a rights word is in the question,
            # 2 and 4: the wrong declines mostly have none ("the OST centre is 40 km away").
            offered = self.choices(top, identified)
            return MatchResult(
                Decision.NONE,
                top,
                declined=decline[1],
                choices=offered,
                **about,  # type: ignore[arg-type]
            )
        decision = self.decide(top, identified)
        doubt = None
        if decision is not Decision.NONE and self.scope is not None:
            doubt = self.scope.out_of_scope([w for w in languages.tokens(prepared.text) if w])
            rights = self._about_rights(present, prepared.text, identified)
            if doubt >= (scope_model.RIGHTS_THRESHOLD if rights else scope_model.THRESHOLD):
                # Not a question the Guidelines answer, by the model: "I could not find this",
                # with the choices beside it, as a decline has them.
                return MatchResult(
                    Decision.NONE,
                    top,
                    choices=self.choices(top, identified),
                    out_of_scope=doubt,
                    **about,  # type: ignore[arg-type]
                )
        language = None
        if top:
            number = best_phrasing.get(self._doc_index[top[0].entry.id])
            language = (
                self._phrase_langs[self._doc_index[top[0].entry.id]][number]
                if number is not None
                else None
            )
        return MatchResult(
            decision,
            top,
            choices=self.choices(top, identified),
            phrasing_language=language,
            out_of_scope=doubt,
            **about,  # type: ignore[arg-type]
        )

    def _with_bm25(
        self, evidence: list[tuple[int, float]], bm25: Mapping[int, float]
    ) -> list[tuple[float, Entry | Decline]]:
        """Scores best first: each candidate's evidence less BM25_PENALTY by how far its BM25
        falls below the best of these candidates', all moved so the best keeps the best
        evidence."""
        if not evidence:
            return []
        best_bm25 = max((bm25.get(i, 0.0) for i, _ in evidence), default=0.0) or 1.0
        after = [
            (index, score - BM25_PENALTY * (1.0 - min(1.0, bm25.get(index, 0.0) / best_bm25)))
            for index, score in evidence
        ]
        shift = max(score for _, score in evidence) - max(score for _, score in after)
        scored = [
            (round(min(max(score + shift, 0.0), 100.0), 1), self._docs[index])
            for index, score in after
        ]
        scored.sort(key=lambda pair: pair[0], reverse=True)
        return scored

    def _about_rights(self, content: set[str], text: str, lang: str | None) -> bool:
        if any(p <= content for p in self._rights_phrases):
            return True
        typed = self.vocabulary.typed_keys(text, lang=lang or DEFAULT_LANGUAGE, prepared=True)
        return any(p <= typed for p in self._rights_typed)

    def choices(self, matches: tuple[Match, ...], lang: str | None = None) -> tuple[Match, ...]:
        """The entries close enough to the best one to offer as choices, for a question in
        ``lang``."""
        if not matches:
            return ()
        t = self.thresholds
        floor = matches[0].score - t.choice_window
        close = [m for m in matches if m.score >= max(floor, t.clarify_for(lang))]
        return tuple(close[: t.max_choices])

    def _bm25_scores(self, keys: list[str], candidates: Iterable[int]) -> dict[int, float]:
        scores: dict[int, float] = {}
        for index in candidates:
            terms = self._bm25_terms[index]
            scores[index] = sum(terms.get(word, 0.0) for word in keys)
        return scores

    def _overlaps(
        self, content: list[str], candidates: set[int]
    ) -> tuple[dict[int, float], dict[int, int], dict[int, list[int]]]:
        """For each candidate: the best IDF-weighted overlap between the question and one of
        its phrasings (the weight of the words they share over the weight of all their words),
        which phrasing that was, and its phrasings and keywords, closest first."""
        common: dict[tuple[int, int], float] = defaultdict(float)
        for word in content:
            by_doc = self._phrase_postings.get(word)
            if not by_doc:
                continue
            idf = self.idf(word)
            for index in candidates.intersection(by_doc):
                for number in by_doc[index]:
                    common[(index, number)] += idf
        query_total = sum(self.idf(w) for w in content)
        best: dict[int, float] = {}
        which: dict[int, int] = {}
        by_overlap: dict[int, list[tuple[float, int]]] = defaultdict(list)
        for (index, number), shared in common.items():
            phrase_total = self._phrase_totals[index][number]
            value = shared / (query_total + phrase_total - shared)
            by_overlap[index].append((value, number))
            if number >= len(self._phrase_sets[index]):
                continue  # a keyword: compared by rapidfuzz, not counted as a phrasing
            if value > best.get(index, 0.0):
                best[index] = value
                which[index] = number
        sharing = {
            i: [n for _, n in sorted(pairs, reverse=True)] for i, pairs in by_overlap.items()
        }
        return best, which, sharing

    def decide(self, matches: tuple[Match, ...], lang: str | None = None) -> Decision:
        t = self.thresholds
        if not matches or matches[0].score < t.clarify_for(lang):
            return Decision.NONE
        lead = matches[0].score - (matches[1].score if len(matches) > 1 else 0.0)
        if matches[0].score >= t.answer and lead >= t.margin:
            return Decision.ANSWER
        return Decision.CLARIFY
