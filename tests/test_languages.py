"""Tests for rightsdesk.languages: repair, Zawgyi, folding, tokens and language identification.

The Zawgyi strings were produced once with ICU's my-Zawgyi transliterator from the Unicode
strings beside them and are hard-coded as escapes, so a change of converter shows up here.
"""

from __future__ import annotations

import subprocess
import sys
import unicodedata

import pytest

from rightsdesk.languages import (
    NATIVE_NAMES,
    SUPPORTED,
    Prepared,
    char_ngrams,
    detect_script,
    fold,
    identify,
    prepare,
    rank_languages,
    tokens,
    unicode_to_zawgyi,
    zawgyi_probability,
    zawgyi_to_unicode,
)

# "The police arrested me and took my phone." in Unicode and in Zawgyi.
POLICE_UNICODE = (
    "\u101b\u1032\u1000 \u1000\u103b\u103d\u1014\u103a\u1010\u1031\u102c\u1037\u103a\u1000"
    "\u102d\u102f \u1016\u1019\u103a\u1038\u1015\u103c\u102e\u1038 \u1016\u102f\u1014\u103a"
    "\u1038\u1000\u102d\u102f \u101e\u102d\u1019\u103a\u1038\u101e\u103d\u102c\u1038\u1010"
    "\u101a\u103a\u104b"
)
POLICE_ZAWGYI = (
    "\u101b\u1032\u1000 \u1000\u103c\u107d\u1014\u1039\u1031\u1010\u102c\u1039\u1037\u1000"
    "\u102d\u102f \u1016\u1019\u1039\u1038\u107f\u1015\u102e\u1038 \u1016\u102f\u1014\u1039"
    "\u1038\u1000\u102d\u102f \u101e\u102d\u1019\u1039\u1038\u101e\u103c\u102c\u1038\u1010"
    "\u101a\u1039\u104b"
)
# "Do I have the right to hire a lawyer?"
LAWYER_UNICODE = (
    "\u1000\u103b\u103d\u1014\u103a\u102f\u1015\u103a\u1010\u103d\u1004\u103a \u101b\u103e"
    "\u1031\u1037\u1014\u1031 \u1004\u103e\u102c\u1038\u1001\u103d\u1004\u1037\u103a \u101b"
    "\u103e\u102d\u1015\u102b\u101e\u101c\u102c\u1038\u104b"
)
LAWYER_ZAWGYI = (
    "\u1000\u103c\u107d\u108f\u1039\u102f\u1015\u1039\u1010\u103c\u1004\u1039 \u1031\u101b"
    "\u1094\u103d\u1031\u1014 \u1004\u103d\u102c\u1038\u1001\u103c\u1004\u1039\u1037 \u101b"
    "\u102d\u103d\u1015\u102b\u101e\u101c\u102c\u1038\u104b"
)
# "Why are you arresting me?"
WHY_UNICODE = (
    "\u1004\u102b\u1037\u1000\u102d\u102f \u1018\u102c\u1000\u103c\u1031\u102c\u1004\u1037"
    "\u103a \u1016\u1019\u103a\u1038\u1010\u102c\u101c\u1032"
)
WHY_ZAWGYI = (
    "\u1004\u102b\u1037\u1000\u102d\u102f \u1018\u102c\u1031\u107e\u1000\u102c\u1004\u1039"
    "\u1037 \u1016\u1019\u1039\u1038\u1010\u102c\u101c\u1032"
)

UNICODE_BURMESE = [
    POLICE_UNICODE,
    LAWYER_UNICODE,
    WHY_UNICODE,
    "မြန်မာနိုင်ငံ ရဲက လူကို ဖမ်းသွားတယ်။",
    "ဝရမ်း မပါဘဲ အိမ်ကို ရှာဖွေခွင့် ရှိသလား",
    "ကျွန်မရဲ့ သားကို ထောင်ထဲ ထည့်ထားတယ်",
    "ပြည်ထောင်စု သမ္မတ မြန်မာနိုင်ငံတော်",
    "သင်္ချိုင်း",
    # Single words score anywhere between 0.05 and 0.97 as Zawgyi; they must stay as typed.
    "ကို",
    "ရဲ",
    "ဖမ်း",
    "ငါ့",
    "ရှေ့နေ",
    "ဟုတ်ကဲ့",
]


# --------------------------------------------------------------------------------------------
# Constants


def test_native_names_cover_exactly_the_supported_languages() -> None:
    assert tuple(NATIVE_NAMES) == SUPPORTED
    assert NATIVE_NAMES["vi"] == "Tiếng Việt"
    assert NATIVE_NAMES["th"] == "ไทย"
    assert NATIVE_NAMES["my"] == "မြန်မာ"
    # The Burmese name must itself be Unicode, not Zawgyi, and already in prepared form.
    assert prepare(NATIVE_NAMES["my"]) == Prepared("မြန်မာ", "myanmar", "unicode")


# --------------------------------------------------------------------------------------------
# Zawgyi


@pytest.mark.parametrize(
    ("zawgyi", "unicode"),
    [(POLICE_ZAWGYI, POLICE_UNICODE), (LAWYER_ZAWGYI, LAWYER_UNICODE), (WHY_ZAWGYI, WHY_UNICODE)],
)
def test_zawgyi_sentence_is_detected_and_converted_exactly(zawgyi: str, unicode: str) -> None:
    assert zawgyi != unicode
    assert zawgyi_probability(zawgyi) > 0.95
    assert zawgyi_probability(unicode) < 0.05
    prepared = prepare(zawgyi)
    assert prepared.text == unicode
    assert prepared.encoding == "zawgyi"
    assert prepared.script == "myanmar"


def test_zawgyi_typed_with_dot_below_first_is_converted_too() -> None:
    # Zawgyi writers type ့ and ္ (its asat) in either order.
    swapped = WHY_ZAWGYI.replace("\u1039\u1037", "\u1037\u1039")
    assert swapped != WHY_ZAWGYI
    assert prepare(swapped).text == WHY_UNICODE


@pytest.mark.parametrize("text", UNICODE_BURMESE)
def test_unicode_burmese_is_never_converted(text: str) -> None:
    prepared = prepare(text)
    assert prepared.text == text
    assert prepared.encoding == "unicode"


@pytest.mark.parametrize("text", UNICODE_BURMESE)
def test_unicode_to_zawgyi_round_trip_is_exact(text: str) -> None:
    assert zawgyi_to_unicode(unicode_to_zawgyi(text)) == text


def test_unicode_to_zawgyi_produces_the_zawgyi_form() -> None:
    assert unicode_to_zawgyi(POLICE_UNICODE) == POLICE_ZAWGYI
    assert zawgyi_to_unicode(POLICE_ZAWGYI) == POLICE_UNICODE


def test_zawgyi_functions_leave_text_without_burmese_alone() -> None:
    assert zawgyi_probability("police arrested me") == 0.0
    assert zawgyi_to_unicode("ตำรวจ hp") == "ตำรวจ hp"
    assert unicode_to_zawgyi("lawyer") == "lawyer"


def test_mixed_latin_and_zawgyi_converts_only_the_burmese() -> None:
    zawgyi = "the police took my phone and " + unicode_to_zawgyi("ကျွန်တော့်ကို ဖမ်းပြီ")
    prepared = prepare(zawgyi)
    assert prepared.text == "the police took my phone and ကျွန်တော့်ကို ဖမ်းပြီ"
    assert prepared.encoding == "zawgyi"
    assert prepared.script == "latin"


# --------------------------------------------------------------------------------------------
# Burmese canonical order


def test_both_orders_of_dot_below_and_asat_prepare_the_same() -> None:
    dot_first = "\u1000\u103c\u1031\u102c\u1004\u1037\u103a"  # ကြောင့်
    asat_first = "\u1000\u103c\u1031\u102c\u1004\u103a\u1037"
    assert prepare(dot_first).text == prepare(asat_first).text
    assert tokens(prepare(dot_first).text) == tokens(prepare(asat_first).text) == [dot_first]
    sentence = POLICE_UNICODE.replace("\u1037\u103a", "\u103a\u1037")
    assert sentence != POLICE_UNICODE
    assert prepare(sentence).text == POLICE_UNICODE


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("\u1000\u102f\u102d", "\u1000\u102d\u102f"),  # ကို typed u before i
        ("\u1000\u1036\u102f", "\u1000\u102f\u1036"),  # ကုံ typed anusvara first
        ("\u1019\u103d\u103c", "\u1019\u103c\u103d"),  # မြွ with medials swapped
        ("\u101b\u1031\u103e", "\u101b\u103e\u1031"),  # ရှေ with E vowel before medial HA
        ("\u1000\u102d\u102d", "\u1000\u102d"),  # a vowel sign typed twice
        ("\u1040\u1014\u103a", "\u101d\u1014\u103a"),  # ၀န် with digit zero for WA
        ("\u1044\u1004\u103a\u1038", "\u104e\u1004\u103a\u1038"),  # ၄င်း with digit four
    ],
)
def test_commonly_swapped_burmese_marks_are_put_in_storage_order(
    typed: str, canonical: str
) -> None:
    assert prepare(typed).text == canonical
    assert prepare(canonical).text == canonical


def test_burmese_numbers_and_contractions_are_left_alone() -> None:
    assert prepare("၁၀၀ ကျပ်").text == "၁၀၀ ကျပ်"
    # Asat before the vowel is the real spelling of ကျွန်ုပ် ("I").
    assert prepare("ကျွန်ုပ်").text == "ကျွန်ုပ်"


# --------------------------------------------------------------------------------------------
# Thai


def test_sara_am_survives_prepare() -> None:
    assert prepare("ตำรวจ").text == "ตำรวจ"
    assert "\u0e33" in prepare("ตำรวจ").text
    # Text that went through NFKC somewhere upstream arrives split: it is recomposed.
    split = unicodedata.normalize("NFKC", "ตำรวจ")
    assert split != "ตำรวจ"
    assert prepare(split).text == "ตำรวจ"
    assert prepare(unicodedata.normalize("NFKC", "น้ำ")).text == "น้ำ"


def test_thai_doubled_and_misordered_marks_are_repaired() -> None:
    assert prepare("ที่่").text == "ที่"
    assert prepare("ท\u0e48\u0e35").text == "ท\u0e35\u0e48"  # tone typed before the vowel


def test_spaceless_thai_sentence_splits_into_words() -> None:
    text = prepare("ตำรวจจับผมโดยไม่มีหมายจับ").text
    words = tokens(text)
    assert "ตำรวจ" in words
    assert len(words) >= 5
    assert "".join(words) == text
    assert tokens(text) == words  # the same text always gives the same words
    assert prepare(text).script == "thai"


def test_thai_tokens_drop_repetition_marks_and_keep_numbers() -> None:
    words = tokens(prepare("ตำรวจยึดโทรศัพท์ ๆ 555").text)
    assert words[:3] == ["ตำรวจ", "ยึด", "โทรศัพท์"]
    assert "ๆ" not in words
    assert words[-1] == "555"


# --------------------------------------------------------------------------------------------
# Tokens


def test_burmese_syllables_of_a_short_sentence() -> None:
    assert tokens(prepare("မြန်မာနိုင်ငံ ရဲက လူကို ဖမ်းသွားတယ်။").text) == [
        "မြန်",
        "မာ",
        "နိုင်",
        "ငံ",
        "ရဲ",
        "က",
        "လူ",
        "ကို",
        "ဖမ်း",
        "သွား",
        "တယ်",
    ]


def test_burmese_stacked_consonants_and_numbers_stay_whole() -> None:
    assert tokens("သင်္ချိုင်း") == ["သင်္ချိုင်း"]
    assert tokens("ပြည်ထောင်စု သမ္မတ") == ["ပြည်", "ထောင်", "စု", "သမ္မ", "တ"]
    assert tokens("၁၀၀ ကျပ်") == ["၁၀၀", "ကျပ်"]


def test_mixed_text_gives_tokens_of_each_run() -> None:
    assert tokens(prepare("ตำรวจ ยึด hp").text) == ["ตำรวจ", "ยึด", "hp"]
    assert tokens(prepare("police ဖမ်း").text) == ["police", "ဖမ်း"]
    assert tokens(prepare("ตำรวจยึดHP ของฉัน").text) == ["ตำรวจ", "ยึด", "hp", "ของ", "ฉัน"]


def test_latin_tokens_are_folded_words_without_punctuation() -> None:
    assert tokens("Don't arrest me!! Na-arrest ako, walang warrant; NGƯỜI bị bắt (2024)") == [
        "dont",
        "arrest",
        "me",
        "na",
        "arrest",
        "ako",
        "walang",
        "warrant",
        "nguoi",
        "bi",
        "bat",
        "2024",
    ]
    assert tokens("...  ?!") == []


# --------------------------------------------------------------------------------------------
# Folding


@pytest.mark.parametrize(
    ("accented", "plain"),
    [
        ("người", "nguoi"),
        ("Công an bắt người vì ma túy", "cong an bat nguoi vi ma tuy"),
        ("Đà Nẵng", "da nang"),
        ("hoà", "hòa"),  # old and new tone placement
        ("tuý", "túy"),
        ("\uff30\uff2f\uff2c\uff29\uff23\uff25", "police"),  # fullwidth
    ],
)
def test_fold_makes_vietnamese_with_and_without_diacritics_equal(accented: str, plain: str) -> None:
    assert fold(accented) == fold(plain)


def test_fold_values_and_decomposed_input() -> None:
    assert fold("Người") == "nguoi"
    assert fold("đ") == "d"
    assert fold(unicodedata.normalize("NFD", "người")) == "nguoi"
    assert tokens("Công an bắt người") == tokens("cong an bat nguoi")


def test_fold_leaves_thai_and_burmese_signs_alone() -> None:
    assert fold("ตำรวจ") == "ตำรวจ"
    assert fold("ที่") == "ที่"
    assert fold("ကြောင့်") == "ကြောင့်"
    assert fold("ဖမ်း") != fold("ဖမ")


# --------------------------------------------------------------------------------------------
# Character n-grams


def test_char_ngrams_keep_thai_and_burmese_signs_with_their_letters() -> None:
    assert char_ngrams("ตำรวจ") == ["ตำรว", "รวจ"]
    assert char_ngrams("police") == ["pol", "oli", "lic", "ice"]
    assert char_ngrams("မြန်မာ", 2) == ["မြန်", "န်မာ"]
    for gram in char_ngrams("โทรศัพท์") + char_ngrams("ကျွန်တော်", 2):
        assert unicodedata.category(gram[0]) not in ("Mn", "Mc")


def test_char_ngrams_short_and_invalid() -> None:
    assert char_ngrams("ab") == ["ab"]
    assert char_ngrams("") == []
    with pytest.raises(ValueError):
        char_ngrams("abc", 0)


# --------------------------------------------------------------------------------------------
# Script detection and cleaning


@pytest.mark.parametrize(
    ("text", "script"),
    [
        ("police", "latin"),
        ("tôi bị bắt", "latin"),
        ("ตำรวจ ยึด hp", "thai"),
        ("ရဲက ဖမ်းတယ်", "myanmar"),
        ("Привет", "other"),
        ("123 !?", "none"),
        ("", "none"),
    ],
)
def test_detect_script(text: str, script: str) -> None:
    assert detect_script(text) == script


def test_zero_width_and_bidi_controls_are_removed() -> None:
    assert prepare("war\u200brant").text == "warrant"
    assert prepare("\ufeffpolice\u200d").text == "police"
    assert prepare("my \u202enoitca\u202c").text == "my noitca"
    assert prepare("\u2066law\u2069yer\u200f").text == "lawyer"
    assert prepare("ตำ\u200bรวจ").text == "ตำรวจ"


@pytest.mark.parametrize(
    "text", ["abc\ud800def", "\udfff", "ok \ufffd", "ตำรวจ\ud83d", "ဖမ်း\ufffd", "\x00\x1b[0m"]
)
def test_lone_surrogates_and_replacement_characters_do_not_crash(text: str) -> None:
    prepared = prepare(text)
    prepared.text.encode("utf-8")  # raises on a surrogate left behind
    assert "\ufffd" not in prepared.text
    tokens(prepared.text)
    identify(text)


@pytest.mark.parametrize(
    "text",
    [
        "The police arrested me!",
        "Công an bắt người",
        "ตำรวจจับผม",
        POLICE_ZAWGYI,
        LAWYER_UNICODE,
        "police ဖမ်း",
    ],
)
def test_prepare_is_idempotent(text: str) -> None:
    once = prepare(text).text
    assert prepare(once).text == once


def test_encoding_is_none_without_burmese() -> None:
    assert prepare("ตำรวจ").encoding is None
    assert prepare("police").encoding is None
    assert prepare("police ဖမ်း").encoding == "unicode"


# --------------------------------------------------------------------------------------------
# Language identification


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("The police arrested me without a warrant, what are my rights?", "en"),
        ("Can they search my phone?", "en"),
        ("Anak saya ditangkap polisi karena narkoba, apa yang harus saya lakukan?", "id"),
        ("gw ditangkep polisi gmn nih", "id"),
        ("hp saya disita polisi, bisa diambil lagi gak?", "id"),
        # py3langid alone says Malay for this one; "polisi" is the Indonesian word.
        ("Apakah polisi boleh menggeledah hp saya tanpa izin?", "id"),
        ("Anak saya ditangkap polis kerana dadah, apa yang perlu saya buat?", "ms"),
        ("Bolehkah polis memeriksa telefon bimbit saya tanpa waran?", "ms"),
        ("saya nak jumpa peguam", "ms"),
        # Chat-style Malay, which py3langid alone reads as Indonesian.
        ("adik aku kena tahan kat lokap, boleh ke macam tu", "ms"),
        ("orang asli dan polisi dadah, apa hak diorang", "ms"),
        ("esok hujan tak", "ms"),
        ("kakak gw ditangkep, gimana dong", "id"),
        ("tôi có quyền gì khi bị bắt", "vi"),
        ("cong an bat nguoi vi ma tuy", "vi"),
        ("toi bi cong an bat, toi co quyen gi", "vi"),
        ("con toi bi bat vi drug test duong tinh", "vi"),
        ("thu tuc xin giay phep kinh doanh can giay to gi", "vi"),
        ("hinuli ako ng pulis walang warrant", "tl"),
        ("na-arrest ako kahapon, may karapatan ba ako sa lawyer?", "tl"),
        ("Pwede ba nila i-search yung phone ko kahit walang warrant?", "tl"),
        ("salamat po", "tl"),
        ("ตำรวจค้นบ้านโดยไม่มีหมายค้นได้ไหมครับ", "th"),
        ("ตำรวจ ยึด hp", "th"),
        (POLICE_UNICODE, "my"),
        (POLICE_ZAWGYI, "my"),
        ("police ဖမ်း", "my"),
    ],
)
def test_identify(text: str, language: str) -> None:
    assert identify(text) == language


@pytest.mark.parametrize(
    "text",
    ["ok", "", "rehab", "?!", "123 456", "la policía me arrestó sin orden judicial"],
)
def test_identify_is_none_when_unsure(text: str) -> None:
    assert identify(text) is None


def test_identify_respects_among() -> None:
    assert identify("ตำรวจจับผม", among=("en", "id")) is None
    assert identify("hinuli ako ng pulis walang warrant", among=("en", "tl")) == "tl"
    assert identify("The police took my phone", among=("en",)) == "en"
    assert identify("polis tangkap saya semalam", among=("th", "my")) is None
    assert identify("cong an bat nguoi vi ma tuy", among=("en", "id", "ms", "tl")) != "vi"


def test_rank_languages_gives_the_malay_indonesian_margin() -> None:
    ranked = rank_languages("polisi tangkap saya tanpa surat")
    assert [lang for lang, _ in ranked[:2]] == ["id", "ms"]
    assert abs(sum(p for _, p in ranked) - 1.0) < 1e-9
    assert ranked[0][1] > ranked[1][1] > 0.0


# --------------------------------------------------------------------------------------------
# Import cost and offline use


def test_import_loads_no_heavy_package_and_everything_works_offline() -> None:
    code = """
import socket, sys

def refuse(*args, **kwargs):
    raise OSError("network used")

socket.socket.connect = refuse
socket.create_connection = refuse
import rightsdesk.languages as L
heavy = sorted({"icu", "myanmartools", "py3langid", "numpy"} & set(sys.modules))
assert not heavy, heavy
assert L.identify("The police arrested me without a warrant") == "en"
assert L.tokens("ตำรวจจับผม")[0] == "ตำรวจ"
assert L.prepare(L.unicode_to_zawgyi("ငါ့ကို ဘာကြောင့် ဖမ်းတာလဲ")).encoding == "zawgyi"
print("ok")
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
