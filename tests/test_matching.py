"""Matching finds the right entry for short, misspelt, slangy questions, or honestly none."""

from __future__ import annotations

import builtins
import functools
import gc
import json
from dataclasses import asdict
from pathlib import Path

import pytest

from rightsdesk.cli import main
from rightsdesk.evaluation import (
    METRICS,
    bm25_ranker,
    evaluate,
    load_questions,
    matcher_ranker,
    ranking_only,
    summarise,
)
from rightsdesk.knowledge_base import KnowledgeBase, load_knowledge_base
from rightsdesk.matching import _COLLECTOR, Match, Matcher, Vocabulary, normalise

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT / "tests" / "eval" / "questions.yaml"
HOLDOUT = ROOT / "tests" / "eval" / "holdout.yaml"

# A little under the targets (top1 0.85, top3 0.95, oos 0.90, wrong answers 0.05), so a
# content edit that costs a question or two does not fail CI, but a real regression does.
FLOORS = {"top1": 0.82, "top3": 0.92, "oos_rejected": 0.86}
CEILINGS = {"wrong_answer_rate": 0.07}


@functools.cache
def kb() -> KnowledgeBase:
    return load_knowledge_base(ROOT / "knowledge_base")


@functools.cache
def matcher() -> Matcher:
    return Matcher(kb())


def best(question: str) -> tuple[str, str | None]:
    result = matcher().match(question)
    return result.decision, (result.best.entry.ref or result.best.id) if result.best else None


# -- normalising text ----------------------------------------------------------------------


def test_normalise_folds_case_width_and_punctuation() -> None:
    assert normalise("Cops TOOK my client's HP!!") == "cops took my clients hp"
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in "POLICE")  # as some keyboards type
    assert normalise(full_width) == "police"


def test_normalise_keeps_thai_and_burmese_marks() -> None:
    thai = "ตำรวจยึดโทรศัพท์"  # police seized the phone: vowels and tone marks are combining
    burmese = "ရဲက ဖမ်းတယ်"
    # Cut into words and syllables, but no mark is dropped, so unrelated Thai words stay
    # different: fuzzywuzzy's cleaning made them all equal.
    assert "".join(normalise(thai).split()) == thai
    assert "ตำรวจ" in normalise(thai).split()  # SARA AM whole, not split by NFKC
    assert "".join(normalise(burmese).split()) == burmese.replace(" ", "")
    assert len(normalise(burmese).split()) >= 3  # syllables
    assert normalise("ยา") != normalise("ย่า")  # "medicine" and "grandmother": one tone mark


def test_synonyms_typos_and_plurals_reach_the_base_words() -> None:
    vocabulary = Vocabulary({"cops": "police", "hp": "phone"}, ["police", "phone", "warrant"])
    assert vocabulary.content_words("cops took my hp no warant") == [
        "police",
        "took",
        "phone",
        "warrant",
    ]
    assert vocabulary.content_words("warrants") == ["warrant"]


def test_inflected_english_words_fold_to_the_form_the_base_holds() -> None:
    known = ["stop", "stopped", "search", "searched", "force", "forced", "see", "seed", "dibed"]
    vocabulary = Vocabulary({}, known)
    assert vocabulary.content_words("stopped searched forced seed dibed") == [
        "stop",
        "search",
        "force",
        "seed",  # not "see"
        "dibed",  # no "dib", "dibe" or "dibd" to fold to
    ]


def test_a_word_corrected_into_a_stopword_is_dropped() -> None:
    # "mega" is one letter from the Tagalog plural marker "mga", a stopword the base's
    # texts hold: corrected into it, it is no content word the index has never seen.
    words = matcher().vocabulary.content_words("yung mega rehab sa Nueva Ecija", lang="tl")
    assert "mga" not in words and "nueva" in words


# -- finding entries -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "ref"),
    [
        ("wat r my rights if police hold me for using drugs", "II.7"),
        ("cops took my clients hp no warant", "II.9"),
        ("DRUGS USING FOR POLICE HOLD CAN", "II.7"),  # word order
        ("is the death penalty for drug trafficking allowed", "II.5"),
    ],
)
def test_slang_typos_and_word_order_still_find_the_provision(question: str, ref: str) -> None:
    decision, found = best(question)
    assert decision != "none"
    assert found == ref


@pytest.mark.parametrize(
    "question", ["how do I cook rice", "tell me a joke", "weather in jakarta tomorrow", "?", ""]
)
def test_out_of_scope_questions_end_in_none(question: str) -> None:
    decision, _ = best(question)
    assert decision == "none"


def test_building_the_index_ends_in_one_full_collection_instead_of_several() -> None:
    # A full (generation 2) collection walks every object built so far: left on, the
    # collector sets off several during the build; one at the end leaves none for a question.
    full_collections: list[dict[str, int]] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] == 2:
            full_collections.append(info)

    base = kb()
    assert gc.isenabled()
    gc.callbacks.append(count)
    try:
        Matcher(base)
        assert len(full_collections) == 1
        assert gc.isenabled()
        gc.disable()
        Matcher(load_knowledge_base(ROOT / "tests" / "fixtures" / "kb_valid"))
        assert len(full_collections) == 1, "with the collector off, the build collects nothing"
        assert not gc.isenabled(), "a collector that was off is left off"
    finally:
        gc.enable()
        gc.callbacks.remove(count)


def test_overlapping_builds_turn_the_collector_back_on_only_after_the_last() -> None:
    # A reload builds on a worker thread, so a second build may start before the first ends,
    # and end after it.
    first, second = _COLLECTOR.paused(), _COLLECTOR.paused()
    first.__enter__()
    second.__enter__()
    try:
        first.__exit__(None, None, None)
        assert not gc.isenabled(), "the second build is still running"
    finally:
        second.__exit__(None, None, None)
    assert gc.isenabled()


def test_the_index_is_built_once_and_a_query_reads_no_files(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    m = matcher()

    def no_files(*args: object, **kwargs: object) -> None:
        raise AssertionError("a query opened a file")

    monkeypatch.setattr(builtins, "open", no_files)
    monkeypatch.setattr(Path, "read_text", no_files)
    monkeypatch.setattr(Path, "read_bytes", no_files)
    assert m.match("can police detain someone just for using drugs").decision == "answer"


def test_forced_rehab_without_a_court_offers_the_treatment_provision() -> None:
    # Forced treatment is II.1.2 (v), but detention without a court is II.7 and the closing of
    # compulsory centres a topic of its own: since BM25 has a say, II.7 leads and the three
    # are offered together (until then II.1.2 led, 2 points ahead of II.7).
    result = matcher().match("can they lock him in rehab w/o court")
    assert result.decision == "clarify"
    assert "II.1.2" in {m.entry.ref for m in result.choices}


def test_clarify_offers_two_or_three_close_entries() -> None:
    result = matcher().match("women and children who use drugs")
    assert result.decision == "clarify"
    choices = result.choices
    assert 2 <= len(choices) <= 3
    assert choices[0].score - choices[-1].score <= matcher().thresholds.choice_window


def test_the_lower_vietnamese_threshold_holds_for_vietnamese_only() -> None:
    m = matcher()
    near = (Match(kb().entries[0], m.thresholds.clarify - 2.0),)
    assert m.thresholds.clarify_for("vi") < near[0].score
    assert m.decide(near, "vi") == "clarify"
    assert m.decide(near, "en") == "none"
    assert m.decide(near, "th") == "none"


def test_vietnamese_questions_are_offered_choices_from_a_lower_score() -> None:
    # Vietnamese scores run lower; at the common threshold this question got nothing.
    result = matcher().match("malaysia lam methadone thanh cong ha")
    assert result.identified == "vi"
    assert matcher().thresholds.clarify_for("vi") <= result.matches[0].score
    assert result.matches[0].score < matcher().thresholds.clarify
    assert result.decision == "clarify"
    assert [m.id for m in result.choices] == ["ex-malaysia-methadone"]


def test_a_declined_kind_of_question_says_why() -> None:
    result = matcher().match("where can i buy shabu cheap tonight")
    assert result.decision == "none"
    assert result.declined is not None and result.declined.id == "buying-selling-drugs"


def test_a_question_about_someones_rights_is_never_declined() -> None:
    # It shares words with "buying drugs", but it asks about detention.
    result = matcher().match("caught with 1 gram of ganja, will i go to jail")
    assert result.declined is None
    assert result.decision != "none"


def test_a_rights_word_widened_by_the_synonyms_does_not_stop_a_decline() -> None:
    # "fired" and "dipecat" are rights words; the synonyms make them "employment", as they
    # do "job" and "kerja", which are not: a question about passing a test for work is still
    # declined, and one about being fired is still not.
    for question in (
        "how to pass a urine test for my new job",
        "camne nak lulus ujian air kencing utk kerja",
    ):
        result = matcher().match(question)
        assert result.decision == "none" and result.declined is not None, question
    for question in ("i got fired from my job for using drugs", "dipecat krn pakai narkoba"):
        assert matcher().match(question).declined is None, question


# -- the commands --------------------------------------------------------------------------


def test_ask_json_answers_with_ii_7(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "wat r my rights if police hold me for using drugs", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["decision"] == "answer"
    assert out["matches"][0]["ref"] == "II.7"
    assert len(out["matches"]) <= 5
    assert set(out["matches"][0]) == {"id", "ref", "kind", "title", "score"}


def test_ask_json_declines_cooking(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "how do I cook rice", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["decision"] == "none"


def test_ask_prints_the_reply_with_its_source(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "can police detain someone just for using drugs"]) == 0
    out = capsys.readouterr().out
    assert "FREEDOM FROM ARBITRARY ARREST AND DETENTION" in out
    assert "Source: Guidelines II.7" in out and "What you can do" in out


def test_eval_json_has_exactly_the_documented_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    small = tmp_path / "small.yaml"
    small.write_text(
        "- {q: 'can police detain someone just for using drugs', lang: en, expect: [II.7]}\n"
        "- {q: 'polisi tahan orang cuma karena pakai narkoba', lang: id, expect: [II.7]}\n"
        "- {q: 'how do I cook rice', lang: en, expect: []}\n"
    )
    assert main(["eval", str(small), "--json", "--no-baseline"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"overall", "by_lang", "reply_in_question_language"}
    assert set(report["by_lang"]) == {"en", "id"}
    assert set(report["overall"]) == set(METRICS)
    assert report["overall"]["n"] == 2 and report["overall"]["oos_n"] == 1
    assert report["overall"]["oos_rejected"] == 1.0


# -- quality on questions written apart from the knowledge base ----------------------------


@functools.cache
def quality() -> dict[str, float]:
    return asdict(summarise(evaluate(load_questions(EVAL), matcher_ranker(matcher()))).overall)


@pytest.mark.parametrize("metric", sorted(FLOORS))
def test_quality_stays_above_its_floor(metric: str) -> None:
    assert quality()[metric] >= FLOORS[metric], quality()


def test_wrong_answers_stay_rare() -> None:
    assert quality()["wrong_answer_rate"] <= CEILINGS["wrong_answer_rate"], quality()


def test_we_are_clearly_ahead_of_plain_bm25() -> None:
    pytest.importorskip("bm25s")
    questions = load_questions(EVAL)
    ours = quality()
    bm25 = asdict(summarise(evaluate(questions, bm25_ranker(kb()))).overall)
    # BM25 has no way to say "I don't know": it answers everything, often wrongly. Those are
    # the failures that hurt people, and where we must be far ahead.
    assert ours["oos_rejected"] >= bm25["oos_rejected"] + 0.5  # type: ignore[operator]
    assert ours["wrong_answer_rate"] <= bm25["wrong_answer_rate"] / 3  # type: ignore[operator]

    # And our ranking alone, ignoring the decision, is at least as good.
    in_scope = [q for q in questions if q.expect]
    ranked = asdict(summarise(evaluate(in_scope, ranking_only(matcher_ranker(matcher())))).overall)
    baseline = asdict(summarise(evaluate(in_scope, ranking_only(bm25_ranker(kb())))).overall)
    assert ranked["top3"] >= baseline["top3"]  # type: ignore[operator]
    assert ranked["mrr"] >= baseline["mrr"] - 0.01  # type: ignore[operator]


def test_the_held_out_set_does_not_collapse() -> None:
    held = asdict(summarise(evaluate(load_questions(HOLDOUT), matcher_ranker(matcher()))).overall)
    assert held["top1"] >= 0.78 and held["oos_rejected"] >= 0.8, held  # type: ignore[operator]


# Floors per language on the development sets, a little under what was measured when the
# translations landed (2026-12-01), so that a change which breaks one language fails here.
LANGUAGE_FLOORS = {"top1": 0.78, "top3": 0.88, "oos_rejected": 0.75}
LANGUAGE_CEILING = 0.05  # wrong confident answers


@pytest.mark.parametrize("lang", ["id", "ms", "vi", "th", "my", "tl"])
def test_each_language_stays_above_its_floor(lang: str) -> None:
    path = ROOT / "tests" / "eval" / "lang" / f"{lang}-dev.yaml"
    found = summarise(evaluate(load_questions(path), matcher_ranker(matcher()))).overall
    for metric, floor in LANGUAGE_FLOORS.items():
        assert getattr(found, metric) >= floor, (metric, found)
    assert found.wrong_answer_rate <= LANGUAGE_CEILING, found
