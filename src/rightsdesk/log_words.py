"""What the query log may keep of a question: only words the bot already knows.

Catching names by pattern fails in this region: a name may stand without any cue, in any
script, typed in lower case or without its diacritics. So the log does the opposite: it
keeps a word only when the bot knows it (the knowledge base and the per-language word lists,
in every language) or when at least ``k`` different people used it this week, and masks
every other word before anything is written. Admins still see what was asked about
("police took my … phone"), never who.

Two refinements for the ways names hide among known words:
- In Vietnamese, Thai and Burmese a name is made of syllables that are also everyday words
  (Vietnamese "An" is peace; Burmese "အောင်" is success), so there a syllable is kept only
  when it forms a known pair with the syllable before or after it.
- A word capitalised in the middle of a sentence is masked unless the knowledge base itself
  writes it that way, next to the same word ("in Malaysia", "Doi Tung"): "Rose", "Will"
  and a Vietnamese "Tung" are names there.
Placeholders left by :func:`rightsdesk.anonymise.redact` (``[phone]`` ...) are kept.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from rightsdesk.knowledge_base import KnowledgeBase
from rightsdesk.languages import fold, prepare, tokens

MASK = "…"
SYLLABIC = frozenset({"vi", "th", "my"})
SHORT_NUMBER = 4  # ages, years, section numbers ("39B" is a word); longer ones are masked
_PLACEHOLDER = re.compile(r"(\[(?:phone|email|url|handle|id-number|plate|name)\])")
_SENTENCE_END = re.compile(r"[.!?\n。]\s*$")
_THAI_OR_BURMESE = re.compile("[\u0e00-\u0e7f\u1000-\u109f\ua9e0-\ua9ff\uaa60-\uaa7f]")
SHARED_WORDS_KEPT = 200_000
# Digits spelled out, in the region's languages (folded): a phone number read aloud into a
# chat ("kosong lapan satu dua ...") is a run of these. Short runs stay ("dua anak").
_NUMBER_WORDS_BY_LANGUAGE = (
    "zero oh one two three four five six seven eight nine",  # en
    "nol kosong satu dua tiga empat lima enam tujuh delapan lapan sembilan",  # id, ms
    "khong mot hai ba bon nam sau bay tam chin",  # vi, folded
    "sero isa dalawa tatlo apat anim pito walo siyam",  # tl
    "ศูนย์ หนึ่ง สอง สาม สี่ ห้า หก เจ็ด แปด เก้า",  # th
    "သုည တစ် နှစ် သုံး လေး ငါး ခြောက် ခုနစ် ရှစ် ကိုး",  # my
)
NUMBER_WORDS = frozenset(w for line in _NUMBER_WORDS_BY_LANGUAGE for w in line.split())
NUMBER_RUN = 5  # this many digits in a row, written or spelled, are masked together


@dataclass(frozen=True)
class KnownWords:
    """The words (folded), word pairs and capitalised forms the bot knows."""

    words: frozenset[str]
    pairs: frozenset[tuple[str, str]]
    # Proper names as the knowledge base writes them, with a neighbour: ("in", "Malaysia"),
    # ("Doi", "tung") is not kept; ("doi", "Tung") is. Folded neighbours, original name.
    capitalised: frozenset[tuple[str, str]]

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> KnownWords:
        words: set[str] = set()
        pairs: set[tuple[str, str]] = set()
        capitalised: set[tuple[str, str]] = set()
        for text in texts:
            prepared = prepare(text, detect_zawgyi=False).text
            found = tokens(prepared, folded=False)
            folded = [fold(t) for t in found]
            words.update(folded)
            pairs.update(itertools.pairwise(folded))
            # Only capitals inside a sentence say "this is a proper name".
            for i, (original, opens) in enumerate(_located(prepared, found)):
                if not opens and original[:1].isupper():
                    if i:
                        capitalised.add((folded[i - 1], original))
                    if i + 1 < len(folded):
                        capitalised.add((original, folded[i + 1]))
        return cls(frozenset(words), frozenset(pairs), frozenset(capitalised))

    @classmethod
    def of(cls, kb: KnowledgeBase, extra: Iterable[str] = ()) -> KnownWords:
        """Every word of the knowledge base in every language, its word lists, and
        ``extra`` texts (the bot's own words, the emergency phrases)."""
        return cls.from_texts(itertools.chain(_kb_texts(kb), extra))

    def mask(self, text: str, lang: str, shared: SharedWords | None = None) -> str:
        """``text`` (already through :func:`~rightsdesk.anonymise.redact`) with every word
        the bot does not know replaced by :data:`MASK`. Words are lower-cased and joined
        by single spaces: the punctuation and spacing of a message can identify its writer
        as surely as a name."""
        out: list[str] = []
        for piece in _PLACEHOLDER.split(text):
            if _PLACEHOLDER.fullmatch(piece):
                out.append(piece)
                continue
            prepared = prepare(piece).text
            words = tokens(prepared, folded=False)
            folded = [fold(w) for w in words]
            located = _located(prepared, words)
            keep = [self._keep(i, folded, located[i], lang, shared) for i in range(len(words))]
            for start, end in _number_runs(folded):
                keep[start:end] = [False] * (end - start)
            for start, end in _name_runs(located, keep):
                keep[start:end] = [False] * (end - start)
            if lang == "vi":
                for start, end in _vietnamese_names(folded):
                    keep[start:end] = [False] * (end - start)
            out.extend(w if k else MASK for w, k in zip(words, keep, strict=True))
        return " ".join(_squeeze(out))

    def _keep(
        self,
        i: int,
        folded: list[str],
        located: tuple[str, bool],
        lang: str,
        shared: SharedWords | None,
    ) -> bool:
        key = folded[i]
        original, opens_sentence = located
        if key.isdigit():
            return len(key) <= SHORT_NUMBER
        # A word k people used counts as known, but the checks below still apply to it: a
        # Vietnamese "Tâm" must not ride on everyone's "trung tâm".
        if key not in self.words and not (shared is not None and shared.is_shared(key)):
            return False
        before = folded[i - 1] if i else None
        after = folded[i + 1] if i + 1 < len(folded) else None
        in_known_pair = (before, key) in self.pairs or (key, after) in self.pairs
        if not opens_sentence and original[:1].isupper() and not original.isupper():
            # "Rose", "Will", "Tung" in mid-sentence: a name, unless the knowledge base
            # writes it so, and next to the same word ("Doi Tung", "in Malaysia").
            return (before or "", original) in self.capitalised or (
                original,
                after or "",
            ) in self.capitalised
        if _THAI_OR_BURMESE.search(original) or lang in SYLLABIC:
            return in_known_pair
        return True


def _name_runs(located: list[tuple[str, bool]], keep: list[bool]) -> Iterator[tuple[int, int]]:
    """Runs of two or more capitalised words of which one is masked: a name travels with
    its other parts ("Võ Thanh Tâm", "Daniel Tan Wei Ming"), even those that are words."""
    start = None
    for i, (original, _) in enumerate([*located, ("", False)]):
        if original[:1].isupper() and not original.isupper():
            start = i if start is None else start
            continue
        if start is not None and i - start >= 2 and not all(keep[start:i]):
            yield start, i
        start = None


# The commonest Vietnamese family names, folded: with a middle name "van" or "thi" after
# them they begin a full name even when typed in lower case and without diacritics
# ("mai thi huong"), where every syllable is also an everyday word.
_FAMILY_NAMES_VI = "nguyen tran le pham hoang huynh phan vu vo dang bui do ho ngo duong ly"
_MORE_FAMILY_NAMES_VI = "truong dinh lam mai trinh dao cao luong ta chu"
_VIETNAMESE_FAMILY_NAMES = frozenset((_FAMILY_NAMES_VI + " " + _MORE_FAMILY_NAMES_VI).split())


def _vietnamese_names(folded: list[str]) -> Iterator[tuple[int, int]]:
    for i in range(len(folded) - 2):
        if folded[i] in _VIETNAMESE_FAMILY_NAMES and folded[i + 1] in ("van", "thi"):
            yield i, i + 3  # family name, middle name, given name


def _number_runs(folded: list[str]) -> Iterator[tuple[int, int]]:
    """Spans of consecutive numbers and number words holding at least NUMBER_RUN digits:
    "0812 3456 7890" with any separator, or "zero eight one two three"."""
    start, digits = 0, 0
    for i, word in enumerate([*folded, ""]):
        if word and (word.isdigit() or word in NUMBER_WORDS):
            if not digits:
                start = i
            digits += len(word) if word.isdigit() else 1
            continue
        if digits >= NUMBER_RUN:
            yield start, i
        digits = 0


def _located(text: str, words: list[str]) -> list[tuple[str, bool]]:
    """Each word as written in ``text``, and whether it opens a sentence (where a capital
    says nothing). Words not found as such (apostrophes dropped) count as lower case."""
    out: list[tuple[str, bool]] = []
    position = 0
    lowered = text.casefold()
    for i, word in enumerate(words):
        found = lowered.find(word, position)
        if found < 0 or len(lowered) != len(text):
            out.append((word, i == 0))
            continue
        original = text[found : found + len(word)]
        out.append((original, i == 0 or bool(_SENTENCE_END.search(text[:found]))))
        position = found + len(word)
    return out


def _squeeze(words: list[str]) -> Iterator[str]:
    """One mask for a run of masked words: how many words a name had is itself a clue."""
    previous = None
    for word in words:
        if word == MASK and previous == MASK:
            continue
        previous = word
        yield word


class SharedWords:
    """Words at least ``k`` different people used this week, counted in memory only.

    A word nobody else used may be a name; one that ``k`` people used is part of how people
    ask. The people behind each word are held as a set of the desk's in-memory ids for the
    current week only, and the whole count is forgotten when the week changes or the bot
    restarts: nothing of it reaches the disk."""

    def __init__(self, k: int) -> None:
        self.k = k
        self._week: str | None = None
        self._people: dict[str, set[int]] = {}
        self._shared: set[str] = set()
        self._lock = threading.Lock()

    def saw(self, week: str, person: int, words: Iterable[str]) -> None:
        with self._lock:
            if week != self._week:
                self._week, self._people, self._shared = week, {}, set()
            for word in words:
                if word in self._shared:
                    continue
                people = self._people.setdefault(word, set())
                people.add(person)
                if len(people) >= self.k:
                    self._shared.add(word)
                    del self._people[word]
            while len(self._people) > SHARED_WORDS_KEPT:
                self._people.pop(next(iter(self._people)))

    def is_shared(self, word: str) -> bool:
        return word in self._shared


def _kb_texts(kb: KnowledgeBase) -> Iterator[str]:
    for e in kb.entries:
        yield from e.title.all()
        yield from e.summary.all()
        for details in e.details.all():
            for items in details.values():
                yield from items
        for field in (e.what_you_can_do, e.questions, e.keywords, e.lessons):
            for items in field.all():
                yield from items
        if e.country:
            yield from e.country.all()
    for decline in kb.declines:
        yield from decline.reason.all()
        for items in decline.questions.all():
            yield from items
    for source, target in kb.synonyms.items():
        yield source
        yield target
    for words in kb.words.values():
        yield from words.stopwords
        yield from words.slang
        yield from words.slang.values()
        yield from words.rights_words
    yield from kb.rights_words
