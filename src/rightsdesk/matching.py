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
5. One score from 0 to 100 mixes the two, and :class:`Thresholds` turns scores into a
   decision: ``answer``, ``clarify`` (a few close entries, the user picks) or ``none``.

Content words the knowledge base has never seen count against a question: "how do I cook
rice" shares only function words with the base and ends in ``none``. A confident wrong answer
is the worst outcome for the people this serves, so when in doubt the bot asks or says so.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeVar

from rapidfuzz import fuzz, process

from rightsdesk import languages
from rightsdesk.decision import Decision
from rightsdesk.knowledge_base import Decline, Entry, KnowledgeBase, LanguageWords
from rightsdesk.localized import DEFAULT_LANGUAGE, Localized

T = TypeVar("T")


@dataclass(frozen=True)
class Thresholds:
    """Where scores become decisions. Tuned on tests/eval/questions.yaml with `rightsdesk eval`.

    - ``answer``: the best entry scores at least this and leads the next by ``margin``.
    - ``clarify``: below ``answer`` (or without the lead) but at least this: offer choices.
    - below ``clarify``: ``none``, an honest "I could not find this".
    - ``choice_window``: entries within this many points of the best are offered as choices.
    """

    answer: float = 58.0
    margin: float = 12.0
    clarify: float = 36.0
    choice_window: float = 10.0
    max_choices: int = 3


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
UNKNOWN_WEIGHT = 0.8  # how much a word the base has never seen counts against a question
DECLINE_MARGIN = 0.0  # decline when a decline scores within this of the best entry
# How much a lone syllable counts beside bigrams. Measured on the Vietnamese and Thai
# development sets: 0.6 and 0.4 declined one more off-topic question in twelve but put two
# right answers in sixty lower, so syllables keep their full weight.
UNIGRAM_WEIGHT = 1.0
STORY_WORDS = 4.0  # beyond about this many content words, a longer story dilutes no further
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
    """.split()  # noqa: SIM905  (a word list is easier to edit as text)
)


def normalise(text: str) -> str:
    """The text as matching keys joined by spaces: repaired (Zawgyi converted, Thai vowels
    recomposed), casefolded, Latin diacritics dropped, Thai and Burmese cut into words and
    syllables. Everything that compares texts goes through this one function."""
    return " ".join(languages.tokens(languages.prepare(text).text))


def _bigrams(words: list[str]) -> list[str]:
    # Vietnamese syllables and Thai and Burmese pieces mean little alone ("an" in "cong an",
    # police); a pair of neighbours is a far more specific key.
    return [f"{a}_{b}" for a, b in itertools.pairwise(words)]


def _stem(word: str) -> str:
    # Enough folding for "rights"/"right", "centres"/"centre", "charges"/"charge"; longer
    # suffix stripping mangles Indonesian and Malay words, which the base also holds.
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


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
    choices: tuple[Match, ...] = ()  # what to offer when the decision is ``clarify``
    script: languages.Script = "none"  # of the question's letters
    encoding: languages.Encoding | None = None  # how its Burmese was typed, if any
    identified: str | None = None  # language identification, restricted to ours
    phrasing_language: str | None = None  # language of the phrasing that matched best

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
        self._slang = {lang: self._phrase_map(w.slang) for lang, w in (words or {}).items()}
        self._stop = {lang: w.stopwords for lang, w in (words or {}).items()}
        self._longest = max(
            (len(p) for m in (self._phrases, *self._slang.values()) for p in m), default=1
        )
        single = {p[0] for p in self._phrases if len(p) == 1}
        self._known = frozenset(known_words) | single
        self._by_initial: dict[str, list[str]] = defaultdict(list)
        for known in sorted(self._known):
            if len(known) >= MIN_TYPO_LENGTH - 1:
                self._by_initial[known[0]].append(known)
        self._correct = lru_cache(maxsize=8192)(self._correct_uncached)

    @staticmethod
    def _phrase_map(pairs: Mapping[str, str]) -> dict[tuple[str, ...], tuple[str, ...]]:
        mapping: dict[tuple[str, ...], tuple[str, ...]] = {}
        for variant, canonical in pairs.items():
            key = tuple(normalise(variant).split())
            if key:
                mapping[key] = tuple(normalise(canonical).split())
        return mapping

    def _replace(
        self, words: list[str], phrases: Mapping[tuple[str, ...], tuple[str, ...]]
    ) -> list[str]:
        out: list[str] = []
        i = 0
        while i < len(words):
            for size in range(min(self._longest, len(words) - i), 0, -1):
                replacement = phrases.get(tuple(words[i : i + size]))
                if replacement is not None:
                    out.extend(replacement)
                    i += size
                    break
            else:
                out.append(words[i])
                i += 1
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

    def words(self, text: str, *, lang: str | None = None, correct: bool = True) -> list[str]:
        """Canonical words of ``text``, base stopwords included (phrases need them)."""
        raw = languages.tokens(languages.prepare(text).text, folded=False)
        stop = self._stop.get(lang or "", frozenset())
        # A language's own fillers go first, on the form as typed: folded, the Vietnamese
        # filler "mà" would also remove "ma" of "ma túy".
        words = [languages.fold(w) for w in raw if w not in stop]
        if lang in self._slang:
            words = self._replace(words, self._slang[lang])
        words = self._replace(words, self._phrases)
        if correct:
            words = self._replace([self._correct(w) for w in words], self._phrases)
        return [w if w in STOPWORDS else _stem(w) for w in words]

    def content_words(
        self, text: str, *, lang: str | None = None, correct: bool = True
    ) -> list[str]:
        content = [w for w in self.words(text, lang=lang, correct=correct) if w not in STOPWORDS]
        if lang in BIGRAM_LANGUAGES or (content and not content[0].isascii()):
            content += _bigrams(content)
        return content


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


class Matcher:
    """Ranks knowledge base entries for a question. Build once; ``match`` reads no files."""

    def __init__(
        self,
        kb: KnowledgeBase,
        *,
        thresholds: Thresholds = DEFAULT_THRESHOLDS,
    ) -> None:
        self.kb = kb
        self.thresholds = thresholds
        self.entries: tuple[Entry, ...] = kb.entries
        # Declines are indexed like entries, so "where to buy ganja" can be recognised as
        # closer to a kind of question the bot must decline than to any Guidelines item.
        self._docs: tuple[Entry | Decline, ...] = (*kb.entries, *kb.declines)
        self._doc_index = {e.id: i for i, e in enumerate(kb.entries)}
        raw_words: set[str] = set()
        fields_per_entry = [
            _entry_fields(d) if isinstance(d, Entry) else _decline_fields(d) for d in self._docs
        ]
        for fields in fields_per_entry:
            for texts in fields.values():
                for _, text in texts:
                    raw_words.update(normalise(text).split())
        # Typo correction aims at words the base uses, after the synonyms rewrite them.
        base_vocab = Vocabulary(kb.synonyms, ())
        known: set[str] = set()
        for word in raw_words:
            known.update(base_vocab.words(word, correct=False))
        known.update(raw_words)
        self.vocabulary = Vocabulary(kb.synonyms, known, kb.words)
        self._rights_words = frozenset(
            w for phrase in kb.rights_words for w in self.vocabulary.content_words(phrase)
        )

        weights: list[dict[str, float]] = []
        self._phrasings: list[list[str]] = []
        self._phrase_sets: list[list[tuple[frozenset[str], float]]] = []  # words, IDF total
        self._phrase_langs: list[list[str]] = []
        canonical_phrasings: list[list[list[str]]] = []
        for fields in fields_per_entry:
            entry_weights: dict[str, float] = {}
            for field_name, texts in fields.items():
                w = FIELD_WEIGHTS[field_name]
                for lang, text in texts:
                    for word in self.vocabulary.content_words(text, lang=lang, correct=False):
                        if entry_weights.get(word, 0.0) < w:
                            entry_weights[word] = w
            weights.append(entry_weights)
            phrasings = fields["questions"] + fields["title"]
            canonical = [
                self.vocabulary.content_words(p, lang=lang, correct=False) for lang, p in phrasings
            ]
            keywords = [
                self.vocabulary.content_words(k, lang=lang, correct=False)
                for lang, k in fields["keywords"]
            ]
            self._phrasings.append([" ".join(words) for words in canonical + keywords])
            self._phrase_langs.append([lang for lang, _ in phrasings])
            canonical_phrasings.append(canonical)
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
        # word -> (doc, phrasing) pairs, so overlaps are summed only where words meet.
        self._phrase_postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for index, phrase_sets in enumerate(self._phrase_sets):
            for number, (words, _) in enumerate(phrase_sets):
                for word in words:
                    self._phrase_postings[word].append((index, number))
        self._story_cap = STORY_WORDS * statistics.median(self._idf.values() or [1.0])
        self._postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for index, entry_weights in enumerate(weights):
            for word, w in entry_weights.items():
                self._postings[word].append((index, w * self._idf[word]))

    def idf(self, word: str) -> float:
        return self._idf.get(word, self._unknown_idf)

    def match(self, question: str) -> MatchResult:
        prepared = languages.prepare(question)
        identified = languages.identify(prepared.text)
        about = {"script": prepared.script, "encoding": prepared.encoding, "identified": identified}
        content = list(
            dict.fromkeys(
                self.vocabulary.content_words(prepared.text, lang=identified or DEFAULT_LANGUAGE)
            )
        )
        if not content:
            return MatchResult(Decision.NONE, (), **about)  # type: ignore[arg-type]
        bigrammed = any("_" in w for w in content)
        # With bigrams present, a lone syllable is weak evidence: "thu" or "nhan" occur in
        # countless Vietnamese words, the pair "thu_nhap" (income) in few.
        weight = {w: UNIGRAM_WEIGHT if bigrammed and "_" not in w else 1.0 for w in content}
        known = sum(weight[w] * self._idf[w] for w in content if w in self._idf)
        unknown = sum(weight[w] * self._unknown_idf for w in content if w not in self._idf)
        # Unknown words weigh less than known ones, and long stories stop diluting the
        # evidence after a few sentences' worth of words.
        total = min(known + UNKNOWN_WEIGHT * unknown, self._story_cap)
        lexical: dict[int, float] = defaultdict(float)
        for word in content:
            for index, weighted in self._postings.get(word, ()):
                lexical[index] += weight[word] * weighted
        if not lexical:
            return MatchResult(Decision.NONE, (), **about)  # type: ignore[arg-type]
        candidates = sorted(lexical, key=lexical.__getitem__, reverse=True)[:CANDIDATES]
        query = " ".join(content)
        overlaps, best_phrasing = self._overlaps(content, set(candidates), weight)
        scored: list[tuple[float, Entry | Decline]] = []
        for index in candidates:
            share = min(1.0, lexical[index] / total)
            phrasing = process.extractOne(
                query, self._phrasings[index], scorer=PHRASING_SCORER, processor=None
            )
            similarity = phrasing[1] / 100.0 if phrasing else 0.0
            overlap = overlaps.get(index, 0.0)
            score = 100.0 * (
                LEXICAL_SHARE * share
                + PHRASING_SHARE * similarity
                + (1.0 - LEXICAL_SHARE - PHRASING_SHARE) * overlap
            )
            scored.append((round(min(score, 100.0), 1), self._docs[index]))
        scored.sort(key=lambda pair: pair[0], reverse=True)
        top = tuple(Match(d, sc) for sc, d in scored if isinstance(d, Entry))[:MAX_MATCHES]
        decline = next(((sc, d) for sc, d in scored if isinstance(d, Decline)), None)
        if decline is not None and self._rights_words.intersection(content):
            decline = None  # about someone's rights: never brushed off
        best_entry = top[0].score if top else 0.0
        if decline is not None and decline[0] >= max(
            self.thresholds.clarify, best_entry - DECLINE_MARGIN
        ):
            # Near a kind of question we decline, declining beats a stretched answer.
            return MatchResult(Decision.NONE, top, declined=decline[1], **about)  # type: ignore[arg-type]
        language = None
        if top:
            number = best_phrasing.get(self._doc_index[top[0].entry.id])
            language = (
                self._phrase_langs[self._doc_index[top[0].entry.id]][number]
                if number is not None
                else None
            )
        return MatchResult(
            self.decide(top),
            top,
            choices=self.choices(top),
            phrasing_language=language,
            **about,  # type: ignore[arg-type]
        )

    def choices(self, matches: tuple[Match, ...]) -> tuple[Match, ...]:
        """The entries close enough to the best one to offer as choices."""
        if not matches:
            return ()
        t = self.thresholds
        floor = matches[0].score - t.choice_window
        close = [m for m in matches if m.score >= max(floor, t.clarify)]
        return tuple(close[: t.max_choices])

    def _overlaps(
        self, content: list[str], candidates: set[int], weight: Mapping[str, float]
    ) -> tuple[dict[int, float], dict[int, int]]:
        """For each candidate, the best IDF-weighted overlap between the question and one of
        its phrasings (the weight of the words they share over the weight of all their words),
        and which phrasing that was."""
        common: dict[tuple[int, int], float] = defaultdict(float)
        for word in content:
            idf = weight[word] * self.idf(word)
            for key in self._phrase_postings.get(word, ()):
                if key[0] in candidates:
                    common[key] += idf
        query_total = sum(weight[w] * self.idf(w) for w in content)
        best: dict[int, float] = {}
        which: dict[int, int] = {}
        for (index, number), shared in common.items():
            phrase_total = self._phrase_sets[index][number][1]
            value = shared / (query_total + phrase_total - shared)
            if value > best.get(index, 0.0):
                best[index] = value
                which[index] = number
        return best, which

    def decide(self, matches: tuple[Match, ...]) -> Decision:
        t = self.thresholds
        if not matches or matches[0].score < t.clarify:
            return Decision.NONE
        lead = matches[0].score - (matches[1].score if len(matches) > 1 else 0.0)
        if matches[0].score >= t.answer and lead >= t.margin:
            return Decision.ANSWER
        return Decision.CLARIFY
