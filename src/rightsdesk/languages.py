"""The region's languages and scripts: repair, Zawgyi, script and language detection, match keys.

Everything the matcher and the conversation need to know about en, id, ms, vi, th, my and tl
lives here, so that knowledge-base phrasings and questions go through exactly the same steps.

Heavy packages (ICU, myanmartools, py3langid with numpy) are imported on first use: most
questions are Latin-script and never need ICU, and py3langid's model takes about 0.8 s to load.
"""

from __future__ import annotations

import copy
import itertools
import math
import re
import threading
import unicodedata
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from types import MappingProxyType
from typing import Any, Literal

from rightsdesk.localized import LANGUAGES

__all__ = [
    "NATIVE_NAMES",
    "SUPPORTED",
    "Encoding",
    "Prepared",
    "Script",
    "char_ngrams",
    "detect_script",
    "fold",
    "identify",
    "prepare",
    "rank_languages",
    "reply_language",
    "tokens",
    "unicode_to_zawgyi",
    "zawgyi_probability",
    "zawgyi_to_unicode",
]

SUPPORTED: tuple[str, ...] = LANGUAGES

NATIVE_NAMES: Mapping[str, str] = MappingProxyType(
    {
        "en": "English",
        "id": "Bahasa Indonesia",
        "ms": "Bahasa Melayu",
        "vi": "Tiếng Việt",
        "th": "ไทย",
        "my": "မြန်မာ",
        "tl": "Filipino",
    }
)

Script = Literal["latin", "thai", "myanmar", "other", "none"]
Encoding = Literal["unicode", "zawgyi"]


@dataclass(frozen=True)
class Prepared:
    """A text repaired for matching: `text` is NFC Unicode (Zawgyi converted, invisible
    characters dropped, Thai and Burmese marks in storage order); `script` is that of most of
    its letters; `encoding` says how the Burmese in it was typed, None when it has none."""

    text: str
    script: Script
    # Set whenever the text holds Burmese letters, even inside a mostly Latin sentence, because
    # the reply to a Zawgyi writer has to be converted back whatever its language.
    encoding: Encoding | None


# --------------------------------------------------------------------------------------------
# Character classes

_THAI = "\u0e00-\u0e7f"
# Myanmar, Myanmar Extended-A and Extended-B: Zawgyi also lives in U+1000-U+109F.
_MYANMAR = "\u1000-\u109f\ua9e0-\ua9ff\uaa60-\uaa7f"

_HAS_THAI = re.compile(f"[{_THAI}]")
_HAS_MYANMAR = re.compile(f"[{_MYANMAR}]")

# Letters only ([^\W\d_]); marks are not letters for Python's re, which is what we want when
# weighing scripts by their letters.
_LETTER = re.compile(r"[^\W\d_]")
_ASCII_LETTER = re.compile("[A-Za-z]")
_LATIN_LETTER = re.compile(
    "[A-Za-z\u00aa\u00ba\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff"
    "\u2c60-\u2c7f\ua720-\ua7ff\uff21-\uff3a\uff41-\uff5a]"
)
_THAI_LETTER = re.compile(rf"(?=[{_THAI}])[^\W\d_]")
_MYANMAR_LETTER = re.compile(rf"(?=[{_MYANMAR}])[^\W\d_]")

# One run of each script, in order. Latin (and any other script written with spaces) keeps
# combining accents and joins apostrophes inside words ("don't"), so folding sees whole words.
_WORD = (
    rf"(?:[^\W_{_THAI}{_MYANMAR}]|[\u0300-\u036f])+"
    rf"(?:['\u2019](?:[^\W_{_THAI}{_MYANMAR}]|[\u0300-\u036f])+)*"
)
_RUNS = re.compile(rf"(?P<thai>[{_THAI}]+)|(?P<myanmar>[{_MYANMAR}]+)|(?P<word>{_WORD})")
_WORDS = re.compile(_WORD)
_THAI_OR_MYANMAR = re.compile(f"[{_THAI}{_MYANMAR}]")

# Invisible characters that change nothing a reader sees but break matching: zero-width
# characters, bidi embeddings/overrides/isolates (the RLO spoofing trick), BOM, soft hyphen.
_INVISIBLE = (
    "\u00ad\u061c\u180e\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    "\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\ufeff\ufffd\ufffc"
)
_DROP_TABLE = {ord(c): None for c in _INVISIBLE}
# Other C0/C1 controls are noise from copy-paste; tab and newline carry meaning, keep them.
_DROP_TABLE.update({c: None for c in range(0x20) if chr(c) not in "\t\n\r"})
_DROP_TABLE.update({c: None for c in range(0x7F, 0xA0)})
_SURROGATE = re.compile("[\ud800-\udfff]")


# --------------------------------------------------------------------------------------------
# Lazily built heavy objects


class _IcuLocal(threading.local):
    # ICU transliterators are not documented as safe to share between threads; one set per
    # thread (about 0.2 ms to build) costs nothing that matters and rules the question out.
    def __init__(self) -> None:
        import icu  # type: ignore[import-untyped]

        self.icu: Any = icu
        self.z2u: Any = icu.Transliterator.createInstance("Zawgyi-my")
        self.u2z: Any = icu.Transliterator.createInstance("my-Zawgyi")
        self.thai_locale: Any = icu.Locale("th")


_icu_local: _IcuLocal | None = None
_icu_lock = threading.Lock()


def _icu() -> _IcuLocal:
    global _icu_local
    if _icu_local is None:
        with _icu_lock:
            if _icu_local is None:
                _icu_local = _IcuLocal()
    return _icu_local


@cache
def _zawgyi_detector() -> Any:
    from myanmartools import ZawgyiDetector  # type: ignore[import-untyped]

    # myanmartools 1.2 loads its model with importlib.resources.open_binary, deprecated in
    # Python 3.11 (and working); the warning would surface in every caller's test run.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="myanmartools")
        return ZawgyiDetector()


@cache
def _langid() -> Any:
    # Raw scores (norm_probs=False): probabilities are computed here, over the candidates only,
    # with the same calibration py3langid uses. The model ships inside the wheel.
    from py3langid.langid import MODEL_FILE, LanguageIdentifier  # type: ignore[import-untyped]

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=False)


def load_models() -> None:
    """Load the language models now. Loaded on first use, they made the first person after
    a start wait (py3langid's model alone takes about 0.3-0.9 s to unpack)."""
    _langid()
    _zawgyi_detector()


@cache
def _langid_among(candidates: tuple[str, ...]) -> Any:
    # set_languages replaces the identifier's arrays rather than editing them, so a shallow
    # copy shares the loaded model; ranking 5 languages instead of 140 is what keeps
    # identify() cheap.
    restricted = copy.copy(_langid())
    restricted.set_languages(list(candidates))
    return restricted


# --------------------------------------------------------------------------------------------
# Script detection


def detect_script(text: str) -> Script:
    """The script most of the letters of `text` are in ("none" when it has no letters)."""
    if text.isascii():
        return "latin" if _ASCII_LETTER.search(text) else "none"
    letters = len(_LETTER.findall(text))
    if not letters:
        return "none"
    thai = len(_THAI_LETTER.findall(text)) if _HAS_THAI.search(text) else 0
    myanmar = len(_MYANMAR_LETTER.findall(text)) if _HAS_MYANMAR.search(text) else 0
    latin = len(_LATIN_LETTER.findall(text))
    other = letters - thai - myanmar - latin
    # Ties go to the regional scripts: a Burmese or Thai letter is rarely there by accident.
    counts: list[tuple[int, Script]] = [
        (myanmar, "myanmar"),
        (thai, "thai"),
        (latin, "latin"),
        (other, "other"),
    ]
    best = max(counts, key=lambda item: item[0])
    return best[1] if best[0] > 0 else "none"


# --------------------------------------------------------------------------------------------
# Zawgyi


def zawgyi_probability(text: str) -> float:
    """Probability that the Burmese in `text` is Zawgyi-encoded; 0.0 when it has no Burmese."""
    if not _HAS_MYANMAR.search(text):
        return 0.0
    p = float(_zawgyi_detector().get_zawgyi_probability(text))
    # myanmartools answers -inf for text it has no statistics for.
    return p if p >= 0.0 else 0.0


def zawgyi_to_unicode(text: str) -> str:
    """Convert Zawgyi-encoded text to Unicode. Only call it on text known to be Zawgyi."""
    if not _HAS_MYANMAR.search(text):
        return text
    return str(_icu().z2u.transliterate(text))


def unicode_to_zawgyi(text: str) -> str:
    """Convert Unicode Burmese to Zawgyi, to answer a Zawgyi writer in the encoding they read."""
    if not _HAS_MYANMAR.search(text):
        return text
    return str(_icu().u2z.transliterate(text))


_MY_CONSONANT = "\u1000-\u1021"
_MY_MARK = "\u102b-\u103e"  # dependent vowels, medials, anusvara, dot below, virama, asat
# Signs that, read as Unicode, cannot stand where they stand. Zawgyi text read as Unicode is
# full of them (E vowel and medial RA typed before their consonant, asat stored as U+1039),
# while real Unicode text has almost none.
_MY_INVALID = re.compile(
    rf"(?:^|(?<=[^{_MYANMAR}]))[{_MY_MARK}]"  # a mark with no letter before it
    rf"|\u1039(?![{_MY_CONSONANT}])"  # virama that stacks nothing
    rf"|(?<=[\u102b-\u1038\u103b-\u103e])\u1039"  # virama after a vowel sign or medial
    rf"|[\u1060-\u1097]"  # Zawgyi's stacked/variant glyph slots (Mon/Shan letters in Unicode)
    rf"|[\u102b-\u1038\u103a][\u103b-\u103e]"  # a medial after a vowel: Zawgyi order
    rf"|([{_MY_MARK}])\1"  # the same mark twice
)


# Fewer Burmese letters than this is "a word or two", where the detector's score alone is
# not trusted.
_MY_SHORT = 4


_ZAWGYI_EVEN_IF_WELL_FORMED = 0.999


def _invalid_burmese(text: str) -> int:
    return len(_MY_INVALID.findall(text))


def _is_zawgyi(text: str) -> bool:
    p = zawgyi_probability(text)
    if p < 0.05:
        return False
    as_unicode = _invalid_burmese(text)
    if p > 0.95 and len(_MYANMAR_LETTER.findall(text)) >= _MY_SHORT:
        # Well-formed Unicode can still score high (under 1% of it, per the model's authors;
        # up to 0.991 among the 2,500 Burmese texts of the knowledge base), and converting it
        # would corrupt it: text that is well formed as Unicode needs near certainty.
        return as_unicode > 0 or p > _ZAWGYI_EVEN_IF_WELL_FORMED
    # A word or two, or a middling score: many short words are well formed in both encodings
    # (ငါ့ scores 0.97 as Unicode). Keep Unicode unless the text is broken as Unicode and
    # converting it repairs some of that; well-formed text is never converted.
    if as_unicode == 0:
        return False
    return _invalid_burmese(zawgyi_to_unicode(text)) < as_unicode


# Storage order of the marks after a consonant (Unicode Technical Note 11): medials Y R W H,
# E vowel, upper vowels, lower vowels, A vowels, anusvara, then dot below before asat because
# that is the order NFC imposes (U+1037 has combining class 7, U+103A class 9), then visarga.
_MY_RANK = {
    "\u103b": 1,
    "\u103c": 2,
    "\u103d": 3,
    "\u103e": 4,
    "\u1031": 5,
    "\u102d": 6,
    "\u102e": 6,
    "\u1032": 6,
    "\u102f": 7,
    "\u1030": 7,
    "\u102b": 8,
    "\u102c": 8,
    "\u1036": 9,
    "\u1037": 10,
    "\u103a": 11,
    "\u1038": 12,
}
_MY_MARK_RUN = re.compile("[\u102b-\u1038\u103a-\u103e]{2,}")
# Digits that look exactly like letters (UTN 11): zero for WA, seven for RA, four for the
# "၎" of ၎င်း. Swapped only where a digit cannot be: carrying a sign, or opening a syllable
# closed by a killed consonant (၀န် is ဝန်); a number written against a word stays a number.
_MY_LOOKALIKE_DIGIT = re.compile(
    rf"(?<![\u1040-\u1049])[\u1040\u1047](?=[{_MY_MARK}]|[{_MY_CONSONANT}]\u1037?\u103a)"
)
_MY_DIGIT_TO_LETTER = {"\u1040": "\u101d", "\u1047": "\u101b"}


def _order_marks(match: re.Match[str]) -> str:
    run = match.group()
    # An asat straight after the consonant and followed by a vowel is the contraction in
    # ကျွန်ုပ်, not a typing slip: leave such runs alone.
    if run[0] == "\u103a" and run[1] not in "\u1037\u1038\u103a":
        return run
    ordered = sorted(run, key=_MY_RANK.__getitem__)
    # A mark typed twice renders as one; keep one so that both spellings match.
    return "".join(c for i, c in enumerate(ordered) if i == 0 or c != ordered[i - 1])


def _repair_burmese(text: str) -> str:
    text = _MY_LOOKALIKE_DIGIT.sub(lambda m: _MY_DIGIT_TO_LETTER[m.group()], text)
    text = text.replace("\u1044\u1004\u103a", "\u104e\u1004\u103a")
    # U+1025 (U) with asat is what people type for ဉ် (NYA).
    text = text.replace("\u1025\u103a", "\u1009\u103a")
    return _MY_MARK_RUN.sub(_order_marks, text)


# --------------------------------------------------------------------------------------------
# Thai

# NFKC (used by some upstream tools) splits SARA AM into NIKHAHIT + SARA AA; recompose it, also
# when a tone mark was typed in between.
_THAI_SPLIT_AM = re.compile("\u0e4d([\u0e48-\u0e4b]?)\u0e32")
# A tone mark typed before an upper vowel looks the same on screen; store the vowel first.
_THAI_TONE_FIRST = re.compile("([\u0e48-\u0e4b])([\u0e31\u0e34-\u0e37\u0e47])")
_THAI_DOUBLE_MARK = re.compile("([\u0e31\u0e34-\u0e3a\u0e47-\u0e4e])\\1+")


def _repair_thai(text: str) -> str:
    text = _THAI_SPLIT_AM.sub("\\1\u0e33", text)
    text = _THAI_TONE_FIRST.sub("\\2\\1", text)
    return _THAI_DOUBLE_MARK.sub("\\1", text)


# --------------------------------------------------------------------------------------------
# prepare


def visible(text: str) -> str:
    """``text`` without zero-width characters, direction marks and overrides, other control
    characters, or lone surrogates: what matching, emergency detection and the log see.

    ZWJ and ZWNJ shape some scripts on screen, but no matching key depends on them."""
    text = text.translate(_DROP_TABLE)
    if not text.isascii():
        # Lone surrogates come from badly decoded input and make str.encode() raise later.
        text = _SURROGATE.sub("", text)
    return text


def prepare(text: str, *, detect_zawgyi: bool = True) -> Prepared:
    """Repair `text` into the Unicode form every matching key is built from.

    ``detect_zawgyi=False`` is for knowledge base texts, which `kb check` has already found to
    be Unicode: detection is the costliest step for Burmese."""
    text = visible(text)
    encoding: Encoding | None = None
    if _HAS_MYANMAR.search(text):
        # Detect on the text as typed: NFC would reorder Zawgyi's marks (its asat is U+1039)
        # and the detector was trained on raw text.
        if detect_zawgyi and _is_zawgyi(text):
            encoding = "zawgyi"
            text = zawgyi_to_unicode(text)
        else:
            encoding = "unicode"
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
        if _HAS_THAI.search(text):
            text = _repair_thai(text)
        if encoding is not None:
            text = unicodedata.normalize("NFC", _repair_burmese(text))
    return Prepared(text=text, script=detect_script(text), encoding=encoding)


# --------------------------------------------------------------------------------------------
# Folding and tokens

# Latin letters that carry a stroke rather than a combining accent, so NFKD leaves them alone.
_STROKES = str.maketrans({"đ": "d", "ð": "d", "ł": "l", "ø": "o", "ħ": "h", "ŧ": "t", "ƀ": "b"})
_KEEP_MARKS = re.compile(f"[{_THAI}{_MYANMAR}]")


# Building the matcher folds about 600,000 words, most of them many times over ("police",
# "drug"): remembered, the build took about a second less on a loaded two-core machine.
@lru_cache(maxsize=1 << 16)
def fold(word: str) -> str:
    """Casefold and strip Latin diacritics: 'Người' -> 'nguoi', 'Đà' -> 'da'.

    Thai and Burmese signs are vowels and tones that make different words, so they stay.
    """
    word = word.casefold()
    if word.isascii():
        return word
    if not _KEEP_MARKS.search(word):
        decomposed = unicodedata.normalize("NFKD", word)
        stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
        return stripped.translate(_STROKES)
    out: list[str] = []
    for c in word:
        if _KEEP_MARKS.match(c):
            out.append(c)
        else:
            out.extend(d for d in unicodedata.normalize("NFKD", c) if not unicodedata.combining(d))
    return "".join(out).translate(_STROKES)


# Break before a consonant unless it is stacked under the previous one (after U+1039) or killed
# by asat (it then closes the previous syllable; NFC may put a dot below before the asat); and
# before independent vowels, digits, punctuation and symbols. These are the 'sylbreak' rules.
_MY_SYLLABLE_START = re.compile(
    rf"(?<!\u1039)[{_MY_CONSONANT}](?!\u1037?[\u103a\u1039])"
    r"|[\u1023-\u102a\u103f\u1040-\u104f]"
)
_MY_PUNCT = frozenset("\u104a\u104b")
_MY_DIGITS = frozenset("\u1040\u1041\u1042\u1043\u1044\u1045\u1046\u1047\u1048\u1049")
_THAI_NON_WORD = re.compile("[\u0e2f\u0e3f\u0e46\u0e4f\u0e5a\u0e5b\\s]*")


def _burmese_syllables(run: str) -> list[str]:
    starts = [m.start() for m in _MY_SYLLABLE_START.finditer(run)]
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    starts.append(len(run))
    out: list[str] = []
    for a, b in itertools.pairwise(starts):
        piece = run[a:b]
        if piece in _MY_PUNCT:
            continue
        # A number is one key, not one key per digit.
        if out and piece[0] in _MY_DIGITS and all(c in _MY_DIGITS for c in out[-1]):
            out[-1] += piece
        else:
            out.append(piece)
    return out


def _thai_words(run: str) -> list[str]:
    local = _icu()
    # Word break iterators are cheap to create (about 4 µs, ICU caches the dictionary) and
    # hold the text they walk, so a fresh one per call keeps this thread-safe.
    breaker = local.icu.BreakIterator.createWordInstance(local.thai_locale)
    breaker.setText(run)
    # Offsets are UTF-16 units; a Thai run is all in the BMP, so they equal str indices.
    out: list[str] = []
    start = 0
    for end in breaker:
        piece = run[start:end]
        start = end
        if not _THAI_NON_WORD.fullmatch(piece):
            out.append(piece)
    return out


def tokens(text: str, *, folded: bool = True) -> list[str]:
    """Matching keys of a prepared text, in order: folded Latin words, Thai dictionary words
    (ICU word break), Burmese syllables. Punctuation is dropped. With ``folded=False`` Latin
    words are only casefolded, so that 'mà' (a Vietnamese filler) and 'ma' (of 'ma túy',
    drugs) can still be told apart."""
    if not _THAI_OR_MYANMAR.search(text):
        # Most texts are Latin only, and one findall cuts them about twice as fast.
        words = _WORDS.findall(text)
        if "'" in text or "\u2019" in text:
            words = [w.replace("'", "").replace("\u2019", "") for w in words]
        return [fold(w) for w in words] if folded else [w.casefold() for w in words]
    out: list[str] = []
    for m in _RUNS.finditer(text):
        kind = m.lastgroup
        run = m.group()
        if kind == "word":
            word = run.replace("'", "").replace("\u2019", "")
            out.append(fold(word) if folded else word.casefold())
        elif kind == "thai":
            out.extend(_thai_words(run))
        else:
            out.extend(_burmese_syllables(run))
    return out


_THAI_FOLLOWING_VOWELS = frozenset("\u0e30\u0e32\u0e33\u0e45")
_THAI_LEADING_VOWELS = frozenset("\u0e40\u0e41\u0e42\u0e43\u0e44")


def _clusters(token: str) -> list[str]:
    # A letter with its signs: Thai and Burmese vowel and tone signs, a Thai vowel written
    # after its consonant (SARA AA, SARA AM), a Thai vowel written before it, and a Burmese
    # consonant stacked under another by a virama all belong to one unit.
    units: list[str] = []
    attach_next = False
    for c in token:
        if units and (
            attach_next or c in _THAI_FOLLOWING_VOWELS or unicodedata.category(c) in ("Mn", "Mc")
        ):
            units[-1] += c
        else:
            units.append(c)
        attach_next = c == "\u1039" or c in _THAI_LEADING_VOWELS
    return units


def char_ngrams(token: str, n: int = 3) -> list[str]:
    """Overlapping n-grams of a token's letters, each letter with its vowel and tone signs
    (so no n-gram starts with a dangling sign); a token shorter than n is its own n-gram."""
    if n < 1:
        raise ValueError("n must be at least 1")
    if not token:
        return []
    units = _clusters(token)
    if len(units) <= n:
        return [token]
    return ["".join(units[i : i + n]) for i in range(len(units) - n + 1)]


# --------------------------------------------------------------------------------------------
# Language identification

_LATIN_LANGUAGES = ("en", "id", "ms", "vi", "tl")
_MALAY_CLUSTER = frozenset({"id", "ms"})
_MIN_LETTERS = 6
_MIN_WORDS = 2
# When the best of py3langid's 140 languages is this much likelier (tempered log odds; 3 is
# about 20 times) than the best candidate, the text is in none of ours (Spanish, French, ...):
# better no answer than a confident wrong one.
_FOREIGN_GAP = 3.0
# How sure the best guess must be; Indonesian and Malay count together for that.
_MIN_CONFIDENCE = 0.6


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Vietnamese written without its marks still has a very regular shape: every word is one
# syllable of (onset)(nucleus)(coda) from short lists. Other candidates rarely fit them all.
_VI_ONSETS = "ngh|ng|nh|ch|tr|th|ph|kh|gh|gi|qu|[bcdghklmnprstvx]"
_VI_NUCLEI = (
    "uye|uya|uyu|oai|oay|oeo|uay|uoi|uou|ieu|yeu|uai|"
    "ai|ao|au|ay|eo|eu|ia|ie|iu|oa|oe|oi|ua|ue|ui|uo|uu|uy|ye|"
    "a|e|i|o|u|y"
)
_VI_SYLLABLE = re.compile(rf"(?:{_VI_ONSETS})?(?:{_VI_NUCLEI})(?:ng|nh|ch|[cmnpt])?")
# Frequent words of unaccented Vietnamese that are not words (or are rare) in en/id/ms/tl.
_VI_MARKERS = _wordset(
    """
    toi khong ko hok nguoi duoc dc cua nhung trong minh gi voi thi co cho nay phai lam sao nao
    dang roi chua neu cong bat bi khi nhu ve hoi giup viec biet muon vay luat quyen hay hon den
    la cac nhieu mot nhe nha oi dau tai vi sau truoc ngay nam thang gio bao canh sat tu giam
    ma tuy nghien xet nghiem nuoc em anh chi ong chung ho
    giay thu tuc phap ly xin tien vo chong ngoai cung duong thuoc benh vien tinh huyen xa
    quan doi nen chuyen luon ntn dk ak danh gia truong moi
    """
)


def _looks_vietnamese(words: Sequence[str]) -> bool:
    if len(words) < _MIN_WORDS:
        return False
    fits = sum(1 for w in words if _VI_SYLLABLE.fullmatch(w))
    markers = sum(1 for w in words if w in _VI_MARKERS)
    return fits >= 0.6 * len(words) and markers >= max(2, len(words) // 3)


# Short questions give py3langid few n-grams to go on; a handful of words that each language
# uses all the time and its neighbours do not (Malay and Indonesian above all) settle those.
# Each distinct hint word multiplies that language's odds by _HINT_ODDS. Malay and Indonesian
# share most of their words, and py3langid leans Indonesian on chat-style Malay, so their lists
# are the everyday words (and chat spellings) where the two differ: Malay tak/x, nak, dah, kat,
# je, mcm, camne, takde, mahkamah, peguam, penagih, budak; Indonesian gak/nggak, udah, aja,
# banget, gw/lu, gimana, pengadilan, pengacara, pecandu, tetangga. Words both use in the same
# sense (aku, kena, boleh, dapat, pasal) are left out.
_HINTS: Mapping[str, frozenset[str]] = {
    "id": _wordset(
        """
        polisi karena krn narkoba napza pengacara advokat ponsel hp gak ga gk ngga nggak enggak
        engga kagak gimana gmn gmana gimn udah udh aja banget bgt dong sih nih tuh kok deh lho
        loh gw gue lu lo elu ditangkep uang kantor kalo klo gitu gini emang emg kayak kyk bener
        beneran doang cuman pengen pgn pacar cowok cewek temen tetangga ortu bokap nyokap dokter
        obat sehat besok kemarin kemaren ntar entar pengadilan sidang jaksa tersangka terdakwa
        lapas rutan pidana dipidana mempidanakan dipenjara razia penggerebekan digerebek perda
        rehabilitasi panti puskesmas dinsos bpjs ketemu liat nonton bisa dikasih ngasih kasih
        bikin dapet pake pemakai pecandu ngapain ilang halo kak bilang ngomong nanya terus trus
        mau abis soalnya
        """
    ),
    "ms": _wordset(
        """
        polis kerana dadah peguam guaman telefon bimbit fon waran nak hendak mahu macam mcm cam
        camne camni camtu camana macamana awak korang diorang dorang sahaja je jer wang duit
        percuma pejabat tak x takde tkde xde xda tiada dah mahkamah penagih ketagih ketagihan
        banduan lokap reman jenayah kerajaan budak kanak sedara bagitau bagitahu beritahu mintak
        cakap ckp tengok tgk faham fikir risau bimbang kawan jiran bini isteri sihat esok semalam
        kelmarin kedai kereta bilik tandas universiti majikan saman rasuah ahli persatuan
        pertubuhan sgt jugak pastu lepastu pegi balai ubat doktor hospital kaunseling perbicaraan
        tertuduh suspek pemulihan kat belasah halau mengejut karangan ramai sikit kot
        """
    ),
    "tl": _wordset(
        """
        po opo ng mga ang ako ko mo yung nang hindi walang salamat kasi naman lang siya sila
        tayo nga pala paano bakit ano sino kahit pwede puwede
        """
    ),
}
# Words Malay and Indonesian share and the other candidates (Filipino above all) do not:
# each counts for both, so that a short chat-style question lands in the pair, where the
# lists above then choose.
_MALAY_CLUSTER_HINTS = _wordset(
    """
    yang yg dengan dgn untuk utk tidak tdk sudah sdh belum blm dari dr lagi lg berapa brp saya
    kami mereka ini itu ada tanpa kalau jika atau dan juga tahun orang org ditangkap tangkap
    hak bagaimana kenapa mengapa apakah boleh sebab tapi tp
    """
)
# Two-word hints, for words that only give a language away in company: Malay asks with a
# trailing "ke" ("boleh ke", "ok ke"), and "polisi" is the Indonesian police but Malay policy
# ("polisi dadah"); a word inside a matched pair no longer counts on its own.
_PAIR_HINTS: Mapping[tuple[str, str], str] = {
    ("boleh", "ke"): "ms",
    ("ok", "ke"): "ms",
    ("betul", "ke"): "ms",
    ("ada", "ke"): "ms",
    ("kena", "ke"): "ms",
    ("salah", "ke"): "ms",
    ("patut", "ke"): "ms",
    ("polisi", "dadah"): "ms",
    ("polisi", "kerajaan"): "ms",
    ("polisi", "negara"): "ms",
    ("orang", "asli"): "ms",
    ("org", "asli"): "ms",
    ("macam", "mana"): "ms",
    ("mcm", "mana"): "ms",
}
_HINT_ODDS = 3.0


def _hint_counts(words: Sequence[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    used: set[int] = set()
    pairs: set[tuple[str, str]] = set()
    for i, pair in enumerate(itertools.pairwise(words)):
        lang = _PAIR_HINTS.get(pair)
        if lang is not None:
            used.update((i, i + 1))
            if pair not in pairs:
                pairs.add(pair)
                counts[lang] = counts.get(lang, 0) + 1
    present = {w for i, w in enumerate(words) if i not in used}
    for lang, hints in _HINTS.items():
        n = len(present & hints)
        if n:
            counts[lang] = counts.get(lang, 0) + n
    shared = len(present & _MALAY_CLUSTER_HINTS)
    if shared:
        for lang in _MALAY_CLUSTER:
            counts[lang] = counts.get(lang, 0) + shared
    return counts


def _apply_hints(probs: dict[str, float], words: Sequence[str]) -> dict[str, float]:
    counts = _hint_counts(words)
    weighted = {lang: p * _HINT_ODDS ** counts.get(lang, 0) for lang, p in probs.items()}
    total = sum(weighted.values())
    return {lang: p / total for lang, p in weighted.items()}


def _softmax(scores: Mapping[str, float], temperature: float) -> dict[str, float]:
    top = max(scores.values())
    exps = {k: math.exp((v - top) * temperature) for k, v in scores.items()}
    total = sum(exps.values())
    return {k: v / total for k, v in exps.items()}


def rank_languages(text: str, among: Sequence[str] = SUPPORTED) -> list[tuple[str, float]]:
    """Candidate languages of `text` from `among` with their probabilities, best first.

    Empty when unsure: too short, no candidate fits the script, or the text looks like some
    other language altogether. Indonesian and Malay are often close: read the margin.
    """
    prepared = prepare(text)
    body = prepared.text
    thai = len(_THAI_LETTER.findall(body)) if _HAS_THAI.search(body) else 0
    myanmar = len(_MYANMAR_LETTER.findall(body)) if _HAS_MYANMAR.search(body) else 0
    # Script first, by presence rather than share: English legal words inside a Thai or Burmese
    # sentence are common, Thai or Burmese inside an English one is not.
    if thai + myanmar >= 1:
        lang = "th" if thai >= myanmar else "my"
        return [(lang, 1.0)] if lang in among else []
    candidates = [lang for lang in _LATIN_LANGUAGES if lang in among]
    if not candidates:
        return []
    words = [fold(m.group()) for m in _RUNS.finditer(body) if m.lastgroup == "word"]
    words = [w for w in words if not w.isdigit()]
    if len(words) < _MIN_WORDS or sum(len(w) for w in words) < _MIN_LETTERS:
        return []
    if len(candidates) == 1:
        return [(candidates[0], 1.0)]
    if "vi" in candidates and _looks_vietnamese(words):
        return [("vi", 1.0)]
    top_score = float(_langid().classify(body)[1])
    raw = {str(lang): float(score) for lang, score in _langid_among(tuple(candidates)).rank(body)}
    # py3langid's own calibration: scores tempered by 1/sqrt(length in bytes).
    temperature = 1.0 / math.sqrt(len(body.encode("utf-8")) or 1)
    if (top_score - max(raw.values())) * temperature > _FOREIGN_GAP:
        return []
    restricted = _apply_hints(_softmax(raw, temperature), words)
    return sorted(restricted.items(), key=lambda item: item[1], reverse=True)


def identify(text: str, among: Sequence[str] = SUPPORTED) -> str | None:
    """The language of `text` among `among`, or None when unsure.

    Script decides Thai and Burmese; Latin text goes to py3langid restricted to the Latin
    candidates, with a rule for Vietnamese typed without diacritics. Malay and Indonesian are
    told apart on clear cases only; see rank_languages for the margin.
    """
    ranked = rank_languages(text, among)
    if not ranked:
        return None
    best, p = ranked[0]
    if best in _MALAY_CLUSTER:
        p = sum(q for lang, q in ranked if lang in _MALAY_CLUSTER)
    return best if p >= _MIN_CONFIDENCE else None


def reply_language(
    *,
    available: Sequence[str],
    chosen: str | None = None,
    script: Script = "none",
    phrasing: str | None = None,
    identified: str | None = None,
    app_code: str | None = None,
    default: str = "en",
) -> str:
    """The language to answer in, first of these that the bot can write: the person's own
    choice (/lang), the script they wrote in (Thai, Burmese), language identification, the
    language of the phrasing their question matched, their app's language, the default.

    Identification comes before the matched phrasing: phrasings in every language are full of
    English legal words, so "rights of women and children" matched a Filipino phrasing best.
    On the development sets, answering in the question's own language rose from 74% to 99%
    for English, 70% to 94% for Indonesian and 78% to 99% for Filipino with this order. The
    app's language comes late because it follows the phone's settings, not the person's
    writing.
    """
    by_script = {"thai": "th", "myanmar": "my"}.get(script)
    app = (app_code or "").split("-")[0].casefold()
    app = "tl" if app == "fil" else app
    for lang in (chosen, by_script, identified, phrasing, app):
        if lang and lang in available:
            return lang
    return default
