"""What the anonymiser keeps and what it removes.

Redaction errs towards removing too much: a lost word costs an admin some context, a kept
phone number can cost someone their freedom.
"""

from __future__ import annotations

import os
import re
import stat
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from rightsdesk.anonymise import Pseudonymiser, hour_bucket, iso_week, load_secret, redact

CORPUS = yaml.safe_load((Path(__file__).parent / "data" / "pii_corpus.yaml").read_text("utf-8"))
SECRET = b"0123456789abcdef0123456789abcdef"


# --- phone numbers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    [
        "+62 812-3456-7890",  # Indonesia, international
        "0812 3456 7890",  # Indonesia, local with spaces
        "081234567890",  # Indonesia, local run
        "+66 81 234 5678",  # Thailand
        "081-234-5678",  # Thailand, local
        "09171234567",  # Philippines, local
        "+63 917 123 4567",  # Philippines, international
        "(021) 555-1234",  # Jakarta landline
        "+84 912 345 678",  # Viet Nam
        "0912.345.678",  # Viet Nam, dotted
        "+60 12-345 6789",  # Malaysia
        "012-3456789",  # Malaysia, local
        "555-1234",  # seven digits, no area code
    ],
)
def test_phone_numbers_become_phone(number: str) -> None:
    assert redact(f"call {number} tonight") == "call [phone] tonight"


# --- e-mail, links, handles ------------------------------------------------------------------


def test_email_addresses() -> None:
    assert redact("write to rina.lbh+cases@gmail.com.") == "write to [email]."
    assert redact("emel: kavitha.s@outlook.com.my") == "emel: [email]"


@pytest.mark.parametrize(
    "url",
    [
        "https://example.org/cases?id=42",
        "http://lbh.or.id",
        "www.lbhmasyarakat.org/kontak",
        "t.me/rina_lbh",
        "bit.ly/3xYz9",
        "wa.me/6281234567890",
        "facebook.com/mark.outreach",
        "lbh.or.id",
    ],
)
def test_links_become_url(url: str) -> None:
    assert redact(f"see {url}, thanks") == "see [url], thanks"


def test_handles() -> None:
    assert redact("ask @rina_lbh or @paralegal.ph.") == "ask [handle] or [handle]."


def test_identifiers_glued_to_thai_text_are_still_found() -> None:
    # Thai has no spaces between words, so an identifier may touch Thai letters.
    assert redact("ติดต่อ@rina_lbh หรือ 0812345678") == "ติดต่อ[handle] หรือ [phone]"


# --- ID and passport numbers ------------------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    [
        "3175021203850004",  # Indonesian NIK, 16 digits
        "3201 1505 9001 0002",  # NIK with spaces
        "1-2345-67890-12-3",  # Thai ID as printed on the card
        "1234567890123",  # Thai ID as a run
        "1234-5678-9012",  # PhilSys PSN
        "850312-10-5523",  # Malaysian MyKad
    ],
)
def test_long_digit_runs_become_id_number(number: str) -> None:
    assert redact(f"ID {number} please") == "ID [id-number] please"


@pytest.mark.parametrize("code", ["A1234567", "AB1234567", "P12345678", "P1234567A", "B 7812345"])
def test_passport_numbers_become_id_number(code: str) -> None:
    assert redact(f"passport {code}, expired") == "passport [id-number], expired"


def test_a_card_number_after_two_capitals_is_redacted_whole() -> None:
    # "IC 850312" looks like a passport number; it is the start of a MyKad number.
    assert redact("His IC 900101-07-1234.") == "His IC [id-number]."


# --- what stays ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "he is 17 and was held for 3 days",
        "What does Guideline II.7 say about compulsory treatment?",
        "caught with 10 grams of ganja, section 3.2.1, Rp 50.000",
        "I am HIV positive, can the clinic tell the police?",
        "Can police in Viet Nam send me to an 06 centre without a court?",
        "My brother was arrested in Jakarta. Police took his phone.",
        "apakah BNN boleh tes urin tanpa surat? e.g. at a checkpoint",
        "ตำรวจค้นโทรศัพท์ได้ไหม",
    ],
)
def test_ordinary_questions_are_unchanged(text: str) -> None:
    assert redact(text) == text


def test_text_is_normalised_to_nfc() -> None:
    decomposed = "Ho\u0302\u0300ng"  # Hồng typed with combining marks
    assert redact(decomposed) == "Hồng"


# --- names ----------------------------------------------------------------------------------------


def test_sender_names_are_redacted_case_insensitively_as_whole_words() -> None:
    text = "I am Rina, RINA from LBH; my username is rina_lbh. Rinaldi is someone else."
    assert redact(text, names=["Rina", "Wulandari", "rina_lbh"]) == (
        "I am [name], [name] from LBH; my username is [name]. Rinaldi is someone else."
    )


def test_username_is_redacted_with_and_without_at() -> None:
    assert redact("me: @dewi_harm or dewi_harm", names=["@dewi_harm"]) == "me: [handle] or [name]"


def test_each_word_of_a_multi_word_name_is_redacted() -> None:
    assert redact("Ah Kow here; Kow is fine", names=["Ah Kow"]) == "[name] here; [name] is fine"


def test_names_that_are_common_words_are_redacted_anyway() -> None:
    # Indah means "beautiful": safety first.
    assert (
        redact("tempat kami tidak indah lagi", names=["Indah"]) == "tempat kami tidak [name] lagi"
    )


def test_names_with_regex_characters_are_matched_literally() -> None:
    assert redact("Ma. Cristina here, Max too", names=["Ma. Cristina", "C++"]) == (
        "[name] here, Max too"
    )
    assert redact("a+b and C++ rules", names=["C++"]) == "a+b and [name] rules"


def test_one_letter_names_are_ignored() -> None:
    assert redact("I am T and a tester", names=["T", ""]) == "I am T and a tester"


def test_a_name_equal_to_a_placeholder_word_does_not_mangle_placeholders() -> None:
    assert redact("Phone here: 0812 3456 7890", names=["Phone"]) == "[name] here: [phone]"


def test_thai_sender_names_are_found_inside_unspaced_text() -> None:
    assert redact("ผมชื่อสมชายครับ", names=["สมชาย"]) == "ผมชื่อ[name]ครับ"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("My client Budi Santoso, 24, was arrested", "My client [name], 24, was arrested"),
        ("klien saya Pak Agus Salim ditangkap", "klien saya Pak [name] ditangkap"),
        ("adikku Andi ketangkap", "adikku [name] ketangkap"),
        ("Khun Somchai was searched", "Khun [name] was searched"),
        ("em trai tôi tên là Nguyễn Văn Hùng", "em trai tôi tên là [name]"),
        ("si Jerome Dela Cruz hinuli sa Tondo", "si [name] hinuli sa Tondo"),
        ("Encik Ahmad Faizal bin Ismail ditahan", "Encik [name] ditahan"),
        ("Puan Kavitha a/p Subramaniam disoal", "Puan [name] disoal"),
        ("Client: Mr. Jonathan Aquino, detained", "Client: Mr. [name], detained"),
        ("นายสมศักดิ์ แก้วมณี ถูกจับ", "นาย[name] ถูกจับ"),
    ],
)
def test_client_names_after_a_cue_are_redacted(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_a_full_stop_after_an_ordinary_word_ends_the_sentence() -> None:
    assert redact("I am her brother. Police came") == "I am her brother. Police came"


def test_words_next_to_a_redacted_sender_name_go_with_it() -> None:
    # The sender's surname is Lim; his brother's given names must not be left behind.
    assert redact("My brother Lim Wei Jie was caught", names=["Lim"]) == (
        "My brother [name] was caught"
    )


# --- the corpus: realistic messages full of personal data ----------------------------------------


def sender_names(message: dict) -> list[str]:
    sender = message["sender"]
    return [sender.get(field) or "" for field in ("first_name", "last_name", "username")]


def digits_only(value: str) -> str:
    return re.sub(r"[\s().+-]", "", value)


def test_corpus_is_large_and_well_formed() -> None:
    assert len(CORPUS) >= 45
    assert {m["country"] for m in CORPUS} == {"ID", "TH", "PH", "VN", "MY"}
    for message in CORPUS:
        for planted in message["planted"]:
            assert str(planted) in message["text"], planted


@pytest.mark.parametrize("message", CORPUS, ids=lambda m: m["text"][:40])
def test_no_planted_identifier_survives_redaction(message: dict) -> None:
    redacted = redact(message["text"], names=sender_names(message))
    for planted in map(str, message["planted"]):
        assert planted not in redacted
        if sum(ch.isdigit() for ch in planted) >= 7:
            assert digits_only(planted) not in digits_only(redacted)


# --- pseudonyms -------------------------------------------------------------------------------


def test_pseudonym_is_stable_within_an_iso_week() -> None:
    p = Pseudonymiser(SECRET)
    monday = datetime(2026, 11, 23, 0, 5, tzinfo=UTC)
    sunday = datetime(2026, 11, 29, 23, 55, tzinfo=UTC)
    assert p.pseudonym(5123456789, monday) == p.pseudonym(5123456789, sunday)
    assert len(p.pseudonym(5123456789, monday)) == 16


def test_pseudonym_changes_across_weeks_users_and_secrets() -> None:
    p = Pseudonymiser(SECRET)
    week = datetime(2026, 11, 26, 12, tzinfo=UTC)
    assert p.pseudonym(42, week) != p.pseudonym(42, week + timedelta(days=7))
    assert p.pseudonym(42, week) != p.pseudonym(43, week)
    assert p.pseudonym(42, week) != Pseudonymiser(b"another secret of 32 bytes......").pseudonym(
        42, week
    )


def test_pseudonym_reveals_neither_user_id_nor_secret() -> None:
    p = Pseudonymiser(SECRET)
    assert "5123456789" not in p.pseudonym(5123456789, datetime.now(UTC))
    assert "0123456789abcdef" not in repr(p)


def test_short_secrets_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        Pseudonymiser(b"thirty-one bytes, one too short")


def test_weeks_follow_iso_8601_in_utc() -> None:
    assert iso_week(datetime(2026, 11, 26, tzinfo=UTC)) == "2026-W48"
    # Monday 00:30 in Bangkok is still Sunday in UTC, and in the previous ISO week.
    bangkok = timezone(timedelta(hours=7))
    assert iso_week(datetime(2026, 11, 30, 0, 30, tzinfo=bangkok)) == "2026-W48"
    assert iso_week(datetime(2027, 1, 1, tzinfo=UTC)) == "2026-W53"


# --- time --------------------------------------------------------------------------------------


def test_hour_bucket_truncates_to_the_hour_in_utc() -> None:
    manila = timezone(timedelta(hours=8))
    when = datetime(2026, 11, 26, 23, 47, 33, 123456, tzinfo=manila)
    assert hour_bucket(when) == "2026-11-26T15:00:00+00:00"


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        hour_bucket(datetime(2026, 11, 26, 15, 47))


# --- the secret --------------------------------------------------------------------------------


def test_secret_file_is_created_0600_in_a_private_directory(tmp_path: Path) -> None:
    path = tmp_path / "state" / "pseudonym.key"
    secret = load_secret(path)
    assert len(secret) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_secret(path) == secret  # read back, not regenerated


def test_secret_file_readable_by_group_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "pseudonym.key"
    load_secret(path)
    os.chmod(path, 0o640)
    with pytest.raises(ValueError, match=r"chmod 600 .*pseudonym\.key"):
        load_secret(path)


def test_a_short_secret_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "pseudonym.key"
    path.write_bytes(b"short")
    os.chmod(path, 0o600)
    with pytest.raises(ValueError, match=r"secrets\.token_hex"):
        load_secret(path)


def test_a_restart_within_the_week_keeps_counting_the_same_person(tmp_path: Path) -> None:
    keys = tmp_path / "week.key"
    monday = datetime(2026, 11, 23, 9, tzinfo=UTC)
    before = Pseudonymiser(SECRET, keys).pseudonym(42, monday)
    after_restart = Pseudonymiser(SECRET, keys).pseudonym(42, monday + timedelta(days=3))
    assert before == after_restart
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600


def test_last_weeks_pseudonyms_cannot_be_recomputed_after_the_rotation(tmp_path: Path) -> None:
    """Everything a server's owner has after the week ends (the database, the configured
    secret, the key file) is not enough to tell which id a past pseudonym stood for."""
    import hashlib
    import hmac

    import sqlite_utils

    from conftest import make_event
    from rightsdesk.query_log import QueryLog

    keys, db_path = tmp_path / "week.key", tmp_path / "q.db"
    last_week = datetime(2026, 11, 25, 10, tzinfo=UTC)
    log = QueryLog(db_path, secret=SECRET, keys_path=keys).open()
    log.record_query(make_event(user_id=42, at=last_week))
    log.flush()
    old_key_line = keys.read_text()
    log.record_query(make_event(user_id=7, at=last_week + timedelta(days=7)))
    log.close()

    [old] = [r for r in sqlite_utils.Database(db_path)["queries"].rows if r["week"] == "2026-W48"]
    assert keys.read_text() != old_key_line  # the old key was written over
    old_key = old_key_line.split()[1]
    for path in tmp_path.iterdir():
        assert old_key.encode() not in path.read_bytes(), path
        assert bytes.fromhex(old_key) not in path.read_bytes(), path
    # Whatever is left, used in every way the code could use it, gives another pseudonym.
    candidates = [SECRET, bytes.fromhex(keys.read_text().split()[1])]
    candidates.append(hmac.new(SECRET, candidates[1], hashlib.sha256).digest())
    message = b"rightsdesk.asker.v2|42|2026-W48"
    for key in candidates:
        assert hmac.new(key, message, hashlib.sha256).hexdigest()[:16] != old["asker"]
    assert Pseudonymiser(SECRET, keys).pseudonym(42, last_week) != old["asker"]


def test_a_sender_name_in_another_case_form_is_still_found() -> None:
    # The Kelvin sign and the long s fold to "k" and "s": re.IGNORECASE matches them, so the
    # quick check for whether a name is there at all must not skip them.
    assert redact("ask \u212aim about it", names=["Kim"]) == "ask [name] about it"
    assert redact("Ro\u017fa was searched", names=["Rosa"]) == "[name] was searched"
