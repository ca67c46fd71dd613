"""What user-derived data may be stored, and in what form.

This module is the one place that decides it. Nothing else strips identifiers, and nothing
that writes to disk may skip it:

- :func:`redact` replaces identifiers in free text with placeholders such as ``[phone]``.
- :class:`Pseudonymiser` turns a Telegram user id into a keyed, weekly-rotating pseudonym.
- :func:`load_secret` provides the key, creating it privately on first use.
- :func:`hour_bucket` and :func:`iso_week` coarsen timestamps.

Redaction is deliberately greedy: losing a harmless word costs an admin a little context,
keeping an identifier can cost someone their freedom. It has no model of names in general,
so a client's name is caught only when it follows a cue (an honorific such as ``Pak`` or
``Khun``, a word such as ``client`` or ``named``) or a patronymic (``bin``, ``a/l``).
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import os
import re
import secrets
import stat
import threading
import unicodedata
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

__all__ = [
    "PLACEHOLDERS",
    "Pseudonymiser",
    "SecretError",
    "hour_bucket",
    "iso_week",
    "load_secret",
    "read_secret",
    "redact",
]

PLACEHOLDERS = ("[phone]", "[email]", "[url]", "[handle]", "[id-number]", "[plate]", "[name]")

SECRET_BYTES = 32
# A shorter key would let whoever holds the database enumerate user ids against it.
MIN_SECRET_BYTES = 32

# --- redaction patterns --------------------------------------------------------------------

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")

# Bare domains without a path are only URLs when the last label is a TLD people actually
# type; otherwise "e.g." or "Section II.7" would be eaten. Any domain followed by a path
# (t.me/x, bit.ly/x, fb.com/x) counts.
_TLDS = (
    "com|net|org|info|biz|io|co|me|ly|gl|to|ws|app|dev|xyz|link|site|online|page|"
    "id|th|ph|vn|my|sg|kh|la|mm|tl|bd|lk|np|pk|cn|hk|tw|jp|kr|au|uk|us|eu"
)
_URL_TAIL = r"[^\s<>\"]*[^\s<>\".,;:!?)\]}'\u2019\u201d]"
_URL = re.compile(
    rf"""
    (?:https?://|www\.){_URL_TAIL}                              # explicit scheme or www.
    | (?<![a-z0-9_@.-])[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{{2,}}/(?:{_URL_TAIL})?  # domain/path
    | (?<![a-z0-9_@.-])[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:{_TLDS})(?![\w.]*\w)  # known TLD
    """,
    re.IGNORECASE | re.VERBOSE,
)

# The lookbehinds are ASCII-only so that an identifier glued to Thai text, which has no
# spaces, is still caught.
_HANDLE = re.compile(r"(?<![A-Za-z0-9_@])@\w(?:[\w.]*\w)?")

# One or two letters then 6-8 digits (A1234567, AB1234567, P1234567A). A space between
# letters and digits is allowed only after capitals (B 1234567), so that an ordinary word
# before a number ("is 1234567") is not swallowed with it.
_PASSPORT = re.compile(
    r"(?<![A-Za-z0-9])(?:[A-Za-z]{1,2}\d{6,8}|[A-Z]{1,2}[ ]\d{6,8})[A-Za-z]?"
    # Not the start of a longer number: "IC 850312-10-5523" is one ID card number.
    r"(?![A-Za-z0-9]|[ .-]\d)"
)

# Licence plates as the region writes them: Indonesia "B 1234 XYZ", Malaysia "WXY 1234",
# the Philippines "ABC 1234", Viet Nam "51F-123.45" / "29A-12345", Myanmar "YGN 1A-2345" /
# "9B/1234", Thailand "กข 1234" (with the province after it, which is a place, not a plate).
_PLATE = re.compile(
    r"(?<![\w-])(?:"
    r"[A-Z]{1,3}[ -]?\d{1,4}[ -]?[A-Z]{1,3}"  # B 1234 XYZ
    r"|[A-Z]{2,3}[ -]?\d{3,4}"  # WXY 1234, ABC 1234
    r"|\d{2}[A-Z]{1,2}\d?[ -]?\d{3}(?:\.\d{2}|\d{1,2})?"  # 51F-123.45, 29A-12345
    r"|(?:[A-Z]{3}[ -])?\d[A-Z]{1,2}[-/ ]?\d{4}"  # YGN 1A-2345, 9B/1234
    # Not the start of a longer number (an ID card "NIK 3201 1505 ..."), not a year.
    r")(?![\w-])(?![ .]\d)(?<!(?:19|20)\d\d)"
    r"|(?<![\u0e00-\u0e7f])\d?[\u0e01-\u0e2e]{1,2}[ -]?\d{1,4}(?!\d)"  # กข 1234
)

# Digit groups joined by single separators: +62 812-3456-7890, (021) 555-1234,
# 1-2345-67890-12-3, 0912.345.678. Newlines do not join groups.
_SEP = r"(?:[ \t\u00a0]?[-.][ \t\u00a0]?|[ \t\u00a0])"
_NUMBER = re.compile(rf"\+?\(?\d+\)?(?:{_SEP}\(?\d+\)?)*")
# Seven digits is the shortest local phone number in the region (555-1234); ages, days,
# grams and section numbers are all far shorter.
_MIN_DIGITS = 7

# A name is recognised by what stands before it. Two kinds of cue:
# - honorifics and titles (Pak, Khun, anh, Encik, Kuya, si, Mr, police ranks): whatever
#   capitalised words follow are a name, even in capitals ("Pak BUDI");
# - words that introduce a person (client, named, my brother, I am, saya, là): only
#   Title-case words count, so "I am HIV positive" and "klien saya ODHA" keep their
#   acronyms.
# Cues match case-insensitively; an officer's name is redacted too, as it points at a case.
_HONORIFICS = (
    # English, Filipino
    "mr", "mrs", "ms", "miss", "mx", "dr", "sir", "madam", "ma'am", "atty", "judge",
    "sgt", "sergeant", "inspector", "officer", "kuya", "ate", "tito", "tita", "lolo", "lola",
    "mang", "aling", "gng", "bb", "si", "kay", "ni", "sina", "nina", "kina",
    # Indonesian, Malay
    "pak", "bapak", "bu", "ibu", "mas", "mbak", "bang", "kak", "dik", "bli", "sdr", "sdri",
    "saudara", "saudari", "encik", "en", "puan", "pn", "cik", "tuan", "datuk", "dato",
    "brigadir", "bripka", "briptu", "bripda", "aiptu", "aipda", "ipda", "iptu", "akp",
    "kompol",
    # Thai (romanised), Vietnamese
    "khun", "nai", "nang", "nangsao", "nong", "phi",
    "anh", "chị", "em", "ông", "bà", "cô", "chú", "bác", "bác sĩ",
)  # fmt: skip
_INTRODUCERS: tuple[str, ...] = (
    # English
    "client", "clients", "named", "called", "name", "name is", "i am", "i'm", "this is",
    "it's", "brother", "sister", "son", "daughter", "husband", "wife", "friend", "cousin",
    "nephew", "niece", "uncle", "aunt", "mother", "father", "mum", "mom", "dad", "boyfriend",
    "girlfriend", "partner", "neighbour", "neighbor", "colleague", "worker", "educator",
    "volunteer", "paralegal", "lawyer", "employer", "boss",
    # Filipino
    "kliyente", "pangalan", "kapatid", "asawa", "pinsan", "nanay", "tatay", "kaibigan",
    "pamangkin",
    # Vietnamese
    "tên", "tên là", "là", "bạn",
    # Indonesian, Malay (with their -ku / -nya forms below)
    "nama", "bernama", "atas nama", "saya", "aku", "rakan", "jiran", "abang", "pacar",
    "rekan", "tetangga", "majikan", "pengacara", "pendamping",
)  # fmt: skip
_INDONESIAN_KIN = ("klien", "adik", "kakak", "suami", "istri", "isteri", "anak", "teman",
                   "kawan", "sepupu", "ayah", "ibu", "bapak", "keponakan", "paman", "bibi",
                   "nama")  # fmt: skip
_INTRODUCERS += tuple(k + suffix for k in _INDONESIAN_KIN for suffix in ("", "ku", "nya"))
# Abbreviations may be followed by a full stop. After any other cue a full stop ends the
# sentence, and the capitalised word after it is not a name.
_ABBREVIATED = ("mr", "mrs", "ms", "mx", "dr", "atty", "sgt", "sdr", "sdri", "en", "pn",
                "gng", "bb")  # fmt: skip
# "klien saya Budi", "kliyente ko si Juan": a possessive may sit between cue and name.
_POSSESSIVES = ("saya", "kami", "aku", "kita", "tôi", "của tôi", "ko", "namin", "natin", "mo",
                "my", "our")  # fmt: skip
# Lower-case particles that sit inside a name: Juan dela Cruz, Ahmad bin Ismail.
_NAME_PARTICLES = ("bin", "binti", "bt", "bte", "a/l", "a/p", "s/o", "d/o", "de", "del",
                   "dela", "della", "delos", "van", "von", "da", "dos")  # fmt: skip


def _char_class(categories: tuple[str, ...]) -> str:
    """The body of a character class matching the given Unicode categories (BMP only).

    ``re`` has no ``\\p{Lu}``, and a capital letter is what tells a name from a word here.
    """
    ranges: list[tuple[int, int]] = []
    for cp in range(0x10000):
        if unicodedata.category(chr(cp)) in categories:
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1] = (ranges[-1][0], cp)
            else:
                ranges.append((cp, cp))
    return "".join(
        re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
        for a, b in ranges
    )


def _alternation(words: Iterable[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(set(words), key=lambda w: (-len(w), w)))


_CAPITAL = f"[{_char_class(('Lu', 'Lt'))}]"
_LOWER = f"[{_char_class(('Ll',))}]"
_INITIAL = rf"{_CAPITAL}\."  # "A. Rahman"
_CAP_WORD = rf"(?:{_CAPITAL}[\w'\u2019-]*|{_INITIAL})"
_TITLE_WORD = rf"(?:{_CAPITAL}{_LOWER}[\w'\u2019-]*|{_INITIAL})"
_PARTICLE = rf"(?:(?:{_alternation(_NAME_PARTICLES)})[ \t]+)?"


def _run(word: str) -> str:
    """Up to four words of the given shape, possibly with particles between them."""
    return rf"{word}(?:[ \t]+{_PARTICLE}{word}){{0,3}}(?!\w)"


def _cue(words: Iterable[str]) -> str:
    words = set(words)
    abbreviated = words & set(_ABBREVIATED)
    parts = [f"(?i:{_alternation(words - abbreviated)})"]
    if abbreviated:
        parts.insert(0, rf"(?i:{_alternation(abbreviated)})\.?")
    return "|".join(parts)


# The cue, a possessive, a title ("officer Sgt. Reyes", "client Pak Budi"), then the name.
# Everything but the name is kept.
_BETWEEN = (
    rf"[:,]?(?:[ \t]+(?i:{_alternation(_POSSESSIVES)}))?,?[ \t]+"
    rf"(?:(?:{_cue(_HONORIFICS)})[ \t]+)?"
)
_CUED_NAMES = (
    # Introducers first, so "Client: Mr. Jonathan Aquino" keeps its "Mr.".
    re.compile(rf"(?<!\w)(?P<cue>{_cue(_INTRODUCERS)})(?P<between>{_BETWEEN}){_run(_TITLE_WORD)}"),
    re.compile(rf"(?<!\w)(?P<cue>{_cue(_HONORIFICS)})(?P<between>{_BETWEEN}){_run(_CAP_WORD)}"),
)
# Title-case words next to a redacted name belong to it: with the sender's surname Nguyễn
# redacted, "Nguyễn Văn Hùng" must not leave "Văn Hùng" behind. Adjacent placeholders merge.
_NAME_NEIGHBOURS = re.compile(
    rf"(?<!\w)(?P<before>(?:{_TITLE_WORD}[ \t]+){{0,2}})\[name\]"
    rf"(?:[ \t]+(?:{_TITLE_WORD}(?!\w)|\[name\]))*"
)
_CUE_WORDS = frozenset(_HONORIFICS + _INTRODUCERS)
# Names that carry their own marker: Ahmad bin Ismail, Ravi a/l Kumar, Juan dela Cruz.
_PATRONYMIC = re.compile(
    rf"(?<!\w){_CAP_WORD}(?:[ \t]+{_CAP_WORD}){{0,2}}"
    r"[ \t]+(?:bin|binti|bte|bt|a/l|a/p|s/o|d/o|anak|dela|delos|de los|de la)[ \t]+"
    rf"{_CAP_WORD}(?:[ \t]+{_CAP_WORD}){{0,2}}(?!\w)"
)
# Thai writes no spaces between words, so after a Thai title (Mr, Mrs, Miss, boy, girl,
# "named") the whole run of Thai letters is taken, and the next run too, which is usually
# the surname. คุณ is left out: it also means "you".
_THAI_NAME = re.compile(
    r"(?P<cue>นางสาว|นาย|นาง|น\.ส\.|ด\.ช\.|ด\.ญ\.|ชื่อ)[ ]?[\u0e00-\u0e7f]+(?:[ ][\u0e00-\u0e7f]+)?"
)
_PLACEHOLDER = "|".join(re.escape(p) for p in PLACEHOLDERS)
# Scripts written without spaces between words: a name there cannot be matched as a whole
# word, so it is matched anywhere.
_NO_SPACE_LETTERS = r"\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u9fff"
_NO_SPACE_SCRIPTS = re.compile(rf"[{_NO_SPACE_LETTERS}]")
# "Whole word", except that letters of those scripts do not count as a word boundary
# violation: "ผมชื่อRina" still gives up Rina.
_BEFORE_WORD = rf"(?:(?<!\w)|(?<=[{_NO_SPACE_LETTERS}]))"
_AFTER_WORD = rf"(?:(?!\w)|(?=[{_NO_SPACE_LETTERS}]))"


def redact(text: str, *, names: Iterable[str] = ()) -> str:
    """Return ``text`` with identifiers replaced by placeholders.

    ``names`` are the sender's first name, last name and username as Telegram sent them;
    they are removed case-insensitively wherever they stand as whole words, as is each
    word of a multi-word name and the username with or without ``@``. Names shorter than
    two characters are ignored.

    >>> redact("Call me on +62 812-3456-7890, I am Rina", names=["Rina"])
    'Call me on [phone], I am [name]'
    """
    text = unicodedata.normalize("NFC", text)
    # Order matters: an e-mail contains a domain and an @handle, a URL may contain digits.
    text = _EMAIL.sub("[email]", text)
    text = _URL.sub("[url]", text)
    text = _HANDLE.sub("[handle]", text)
    text = _PASSPORT.sub("[id-number]", text)
    text = _PLATE.sub("[plate]", text)
    text = _NUMBER.sub(_number_placeholder, text)
    text = _redact_sender_names(text, names)
    text = _PATRONYMIC.sub(_keep_leading_cues, text)
    for pattern in _CUED_NAMES:
        text = pattern.sub(lambda m: m["cue"] + m["between"] + "[name]", text)
    text = _THAI_NAME.sub(lambda m: m["cue"] + "[name]", text)
    text = _NAME_NEIGHBOURS.sub(_absorb_neighbours, text)
    return text


def _is_cue(word: str) -> bool:
    return word.rstrip(".").casefold() in _CUE_WORDS


def _keep_leading_cues(match: re.Match[str]) -> str:
    # "Encik Ahmad Faizal bin Ismail": the honorific is not part of the name.
    words = match[0].split()
    kept = []
    while words and _is_cue(words[0]):
        kept.append(words.pop(0))
    return " ".join([*kept, "[name]"])


def _absorb_neighbours(match: re.Match[str]) -> str:
    # Words before the name are absorbed from the nearest outwards, up to a cue: in
    # "Pak Nguyễn [name]" the surname goes and the honorific stays.
    words = match["before"].split()
    while words and not _is_cue(words[-1]):
        words.pop()
    return " ".join([*words, "[name]"])


def _number_placeholder(match: re.Match[str]) -> str:
    number = match[0]
    digits = sum(ch.isdigit() for ch in number)
    if digits < _MIN_DIGITS:
        return number
    looks_local = number.lstrip("(").startswith("0") and digits <= 12
    if number.startswith("+") or looks_local or digits == _MIN_DIGITS:
        return "[phone]"
    return "[id-number]"


def _name_variants(names: Iterable[str]) -> list[str]:
    variants: set[str] = set()
    for raw in names:
        name = unicodedata.normalize("NFC", (raw or "").strip()).lstrip("@")
        if len(name) < 2:
            continue
        variants.add(name)
        variants.update(part for part in name.split() if len(part) >= 2)
    # Longest first, so "Budi Santoso" goes before "Budi" leaves "Santoso" behind.
    return sorted(variants, key=lambda v: (-len(v), v))


def _redact_sender_names(text: str, names: Iterable[str]) -> str:
    # Most questions hold none of the sender's names. Compiling a pattern for every
    # sender (more senders than re's cache holds) made each question pay for a compile.
    # Both foldings, because re.IGNORECASE matches what either of them makes equal.
    folded, lowered = text.casefold(), text.lower()
    present = [
        name
        for name in _name_variants(names)
        if name.casefold() in folded or name.lower() in lowered
    ]
    alternatives = []
    for name in present:
        escaped = re.escape(name)
        if _NO_SPACE_SCRIPTS.search(name):
            alternatives.append(escaped)
        else:
            alternatives.append(_BEFORE_WORD + escaped + _AFTER_WORD)
    if not alternatives:
        return text
    # Placeholders are matched first and kept, so a user called "Phone" cannot turn an
    # earlier "[phone]" into "[[name]]".
    pattern = re.compile(rf"(?P<keep>{_PLACEHOLDER})|" + "|".join(alternatives), re.IGNORECASE)
    return pattern.sub(lambda m: m["keep"] or "[name]", text)


# --- pseudonyms ----------------------------------------------------------------------------


def iso_week(when: datetime) -> str:
    """The ISO year-week of ``when`` in UTC, e.g. ``"2026-W48"``."""
    year, week, _ = _utc(when).isocalendar()
    return f"{year}-W{week:02d}"


def hour_bucket(when: datetime) -> str:
    """``when`` in UTC, truncated to the hour: ``"2026-11-26T15:00:00+00:00"``.

    Every stored timestamp has this shape, so they sort and compare as strings.
    """
    return _utc(when).replace(minute=0, second=0, microsecond=0).isoformat()


def _utc(when: datetime) -> datetime:
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError("expected an aware datetime (e.g. datetime.now(UTC)), got a naive one")
    return when.astimezone(UTC)


class Pseudonymiser:
    """Weekly pseudonyms for askers, made with a key that exists only for that week.

    The same user gets the same pseudonym within one ISO week, so admins can count distinct
    askers, and an unrelated one the next. Each week's key is random; when the week ends it
    is replaced, in memory and in ``keys_path``, so that afterwards nobody (not even whoever
    holds the database, the configured secret and the server) can tell which id a past
    pseudonym stood for: there is nothing left to recompute it with. The configured secret
    is mixed in as well, so that the week's key file alone is not enough either.

    ``keys_path`` keeps the current week's key across restarts (without it a restart would
    count everyone again as new); ``None`` keeps it in memory only.
    """

    __slots__ = ("_key", "_keys_path", "_lock", "_secret", "_week")

    def __init__(self, secret: bytes, keys_path: Path | None = None) -> None:
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(f"the pseudonym secret must be at least {MIN_SECRET_BYTES} bytes long")
        self._secret = bytes(secret)
        self._keys_path = Path(keys_path) if keys_path is not None else None
        self._week: str | None = None
        self._key = b""
        self._lock = threading.Lock()
        if self._keys_path is not None:
            self._week, self._key = _read_week_key(self._keys_path)

    def pseudonym(self, user_id: int, when: datetime) -> str:
        week = iso_week(when)
        key = self._key_for(week)
        message = f"rightsdesk.asker.v2|{int(user_id)}|{week}".encode()
        return hmac.new(key, message, hashlib.sha256).hexdigest()[:16]

    def _key_for(self, week: str) -> bytes:
        with self._lock:
            # A late event from a week already closed gets the current key: its pseudonym
            # then matches nobody's, which is the point of closing the week.
            if self._week is None or week > self._week:
                self._week = week
                self._key = secrets.token_bytes(SECRET_BYTES)
                if self._keys_path is not None:
                    _write_week_key(self._keys_path, week, self._key)
            return hmac.new(self._secret, self._key, hashlib.sha256).digest()

    def __repr__(self) -> str:
        return "Pseudonymiser(secret=<hidden>)"


# The week's key file always has the same length, so a new week's key is written over the
# old one in place rather than into a new file that would leave the old bytes on disk.
_WEEK_KEY_FORMAT = re.compile(r"(\d{4}-W\d{2}) ([0-9a-f]{64})\n")


def _read_week_key(path: Path) -> tuple[str | None, bytes]:
    try:
        text = path.read_text(encoding="ascii")
    except (FileNotFoundError, UnicodeDecodeError):
        return None, b""
    found = _WEEK_KEY_FORMAT.fullmatch(text)
    if not found:
        return None, b""  # damaged: a new key is made, as for a new week
    return found.group(1), bytes.fromhex(found.group(2))


def _write_week_key(path: Path, week: str, key: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "wb") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write(f"{week} {key.hex()}\n".encode("ascii"))
        f.truncate()
        f.flush()
        os.fsync(f.fileno())


class SecretError(ValueError):
    """The pseudonym secret cannot be used. The message is one sentence naming the file and
    the fix: the bot refuses to start on it rather than run for months without a log."""


def load_secret(path: Path) -> bytes:
    """The pseudonym key in ``path`` (a configured ``RIGHTSDESK_SECRET`` is checked by the
    settings and used instead).

    If the file does not exist, 32 random bytes are written to ``path`` (created 0600, its parent
    directory 0700) and returned. Anything else that is not a private regular file holding a
    long enough key raises :class:`SecretError`: a file group or others may read or write, a
    directory, a symbolic link, an unreadable, empty or short file. Keep the file out of
    backups that travel with the database: together they re-identify askers within a week.
    """
    path = Path(path)
    try:
        return read_secret(path)
    except FileNotFoundError:
        pass
    secret = secrets.token_bytes(SECRET_BYTES)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        # Another process created it between our read and our create: use theirs.
        return read_secret(path)
    except OSError as error:
        raise SecretError(
            f"cannot create the secret file {path} ({error.strerror}); make its folder"
            " writable by the bot's user, or set RIGHTSDESK_SECRET_FILE to a path that is."
        ) from error
    with os.fdopen(fd, "wb") as f:
        f.write(secret)
        f.flush()
        os.fsync(f.fileno())
    return secret


def read_secret(path: Path) -> bytes:
    """The key in an existing secret file, checked as :func:`load_secret` does; never creates
    one. Raises FileNotFoundError when there is no file, :class:`SecretError` when it is
    unusable."""
    path = Path(path)
    # O_NONBLOCK: a named pipe put there by mistake must not hang the start.
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise  # for load_secret, which then creates the file
    except OSError as error:
        raise _unreadable(path, error) from error
    try:
        # fstat on the open file, so the checked file is the one we read.
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise SecretError(
                f"the secret file {path} is not a file but a {_kind(mode)}; remove it (a new"
                " secret is then made at start) or set RIGHTSDESK_SECRET_FILE to a file."
            )
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise SecretError(
                f"the secret file {path} is accessible to group or others "
                f"(mode {stat.filemode(mode)}); restrict it with: chmod 600 {path}"
            )
        with os.fdopen(fd, "rb", closefd=False) as f:
            secret = f.read()
    except OSError as error:
        raise _unreadable(path, error) from error
    finally:
        os.close(fd)
    if not secret:
        raise SecretError(
            f"the secret file {path} is empty; remove it (a new secret is then made at start)"
            f" or write one into it with: {_new_secret_command(path)}"
        )
    _check_length(secret, path)
    return secret


def _unreadable(path: Path, error: OSError) -> SecretError:
    if error.errno == errno.ELOOP:
        return SecretError(
            f"the secret file {path} is a symbolic link, which is refused; put the file itself"
            " there (or set RIGHTSDESK_SECRET_FILE to it)."
        )
    return SecretError(
        f"cannot read the secret file {path} ({error.strerror}); run the bot as the user that"
        f" owns it, or give it that user with: chown <user> {path}"
    )


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISFIFO(mode):
        return "named pipe"
    return "special file"


def _check_length(secret: bytes, path: Path) -> None:
    if len(secret) < MIN_SECRET_BYTES:
        raise SecretError(
            f"the secret file {path} holds a pseudonym secret of {len(secret)} bytes; at least "
            f"{MIN_SECRET_BYTES} are needed. Make a new one with: {_new_secret_command(path)}"
        )


def _new_secret_command(path: Path) -> str:
    return f"python -c 'import secrets; print(secrets.token_hex(32))' > {path} && chmod 600 {path}"
