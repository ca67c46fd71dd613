"""The scope model: a question no Guidelines entry answers is declined even when its words
meet an entry's, and the model shipped in bot/scope/ is the one its data gives."""

from __future__ import annotations

import functools
import shutil
import zlib
from array import array
from collections.abc import Sequence
from pathlib import Path

import pytest

from rightsdesk import analysis, scope_model
from rightsdesk.content import check_content
from rightsdesk.decision import Decision
from rightsdesk.evaluation import evaluate, load_questions, matcher_ranker, summarise
from rightsdesk.knowledge_base import KnowledgeBase, load_knowledge_base
from rightsdesk.matching import Matcher
from rightsdesk.scope_model import ScopeModel
from rightsdesk.text_model import HashedModel, buckets, dump_hashed, read_hashed
from rightsdesk.yaml_source import YamlSyntaxError

ROOT = Path(__file__).resolve().parents[1]
BOT = ROOT / "bot"
SHIPPED = ROOT / scope_model.MODEL_PATH


@functools.cache
def kb() -> KnowledgeBase:
    return load_knowledge_base(ROOT / "knowledge_base")


@functools.cache
def shipped() -> ScopeModel:
    return scope_model.read(SHIPPED)[0]


@functools.cache
def plain() -> Matcher:
    return Matcher(kb())


@functools.cache
def scoped() -> Matcher:
    return Matcher(kb(), scope=shipped())


class Fixed(ScopeModel):
    """A scope model that finds every question out of scope with the same probability."""

    def __init__(self, doubt: float) -> None:
        super().__init__(array("f", [0.0, 0.0]), 0.0, 1)
        self.doubt = doubt

    def out_of_scope(self, words: Sequence[str]) -> float:
        return self.doubt


# -- what the matcher does with it ------------------------------------------------------------

ANSWERED = "my landlord evicted me because i use drugs"  # no rights word
WITH_RIGHTS_WORD = "can the court refuse bail because it is a drug case"


def test_without_a_model_the_words_decide_alone() -> None:
    result = plain().match(ANSWERED)
    assert result.decision is Decision.ANSWER
    assert result.out_of_scope is None


def test_a_question_the_model_finds_out_of_scope_is_declined_with_its_choices() -> None:
    before = plain().match(ANSWERED)
    result = Matcher(kb(), scope=Fixed(0.6)).match(ANSWERED)
    assert result.decision is Decision.NONE
    assert result.declined is None  # no decline kind matched: the model declined it
    assert result.out_of_scope == pytest.approx(0.6)
    # The entries it would have answered with are still offered, one tap away.
    assert result.choices and result.choices[0].entry.id == before.best.entry.id  # type: ignore[union-attr]


def test_below_the_threshold_the_answer_stands_and_the_probability_is_kept() -> None:
    result = Matcher(kb(), scope=Fixed(0.4)).match(ANSWERED)
    assert result.decision is Decision.ANSWER
    assert result.out_of_scope == pytest.approx(0.4)


def test_a_rights_word_needs_more_doubt_before_the_model_declines() -> None:
    assert plain().match(WITH_RIGHTS_WORD).decision is not Decision.NONE
    assert scope_model.THRESHOLD < 0.7 < scope_model.RIGHTS_THRESHOLD
    assert Matcher(kb(), scope=Fixed(0.7)).match(WITH_RIGHTS_WORD).decision is not Decision.NONE
    assert Matcher(kb(), scope=Fixed(0.7)).match(ANSWERED).decision is Decision.NONE
    high = Matcher(kb(), scope=Fixed(0.9)).match(WITH_RIGHTS_WORD)
    assert high.decision is Decision.NONE


def test_a_question_found_nowhere_is_not_sent_to_the_model() -> None:
    result = Matcher(kb(), scope=Fixed(0.0)).match("qwzx vbnm plokij")
    assert result.decision is Decision.NONE
    assert result.out_of_scope is None


# -- the shipped model ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "how much is the bail for a ganja case in chiang mai",
        "how do i apply for a job as a prison guard",
        "harga metadon sebulan di klinik swasta berapa",
    ],
)
def test_the_shipped_model_declines_sums_and_jobs_the_guidelines_do_not_give(text: str) -> None:
    # The words alone would answer or offer choices.
    assert plain().match(text).decision is not Decision.NONE
    assert scoped().match(text).decision is Decision.NONE


@pytest.mark.parametrize(
    "text",
    [
        ANSWERED,
        WITH_RIGHTS_WORD,
        "polisi paksa tes urin tanpa surat, boleh gak",
        "is it legal for the prison to stop my methadone",
        "they want to send my son to a compulsory rehab centre without a court",
        "police searched my phone without a warrant",
    ],
)
def test_the_shipped_model_lets_rights_questions_through(text: str) -> None:
    assert plain().match(text).decision is not Decision.NONE
    assert scoped().match(text).decision is not Decision.NONE


def test_on_the_development_sets_it_declines_more_and_costs_no_top3() -> None:
    files = sorted((ROOT / "tests/eval").glob("lang1[0-4]/*-retired.yaml"))
    questions = [q for path in files for q in load_questions(path)]
    before = summarise(evaluate(questions, matcher_ranker(plain()))).overall
    after = summarise(evaluate(questions, matcher_ranker(scoped()))).overall
    # These are training data, so the gain flatters; the held-out figures are in the README.
    assert after.oos_rejected > before.oos_rejected
    assert after.top3 >= before.top3 - 0.01
    assert after.wrong_answer_rate <= before.wrong_answer_rate


def test_the_shipped_model_was_trained_on_the_current_data() -> None:
    pairs = scope_model.training_pairs(
        kb(), scope_model.development_files(ROOT), scope_model.written_questions(ROOT)
    )
    assert shipped().trained_on == scope_model.data_hash(pairs), "run scripts/scope-model"


def test_the_training_data_holds_no_held_out_set() -> None:
    files = scope_model.development_files(ROOT)
    assert files and not any("holdout" in p.name for p in files)
    assert not any("blind" in p.parts for p in files)


def test_the_questions_written_for_the_model_are_learnt_as_out_of_scope() -> None:
    written = scope_model.written_questions(ROOT)
    assert len(written) >= 7 * 30
    pairs = scope_model.training_pairs(kb(), [], written)
    assert pairs[-len(written) :] == [(text, True) for text in written]
    # The bot never reads them: they stay out of the folder it loads the model from.
    assert (ROOT / scope_model.WRITTEN_PATH).parent != SHIPPED.parent


def test_no_written_question_nearly_repeats_an_evaluation_question() -> None:
    # Trained on, a near copy of a held-out question would flatter the held-out figures.
    from rapidfuzz import fuzz, process

    from rightsdesk.knowledge_base import normalise_question

    asked = [
        normalise_question(q.q)
        for path in sorted((ROOT / "tests/eval").rglob("*.yaml"))
        if "emergency" not in path.parent.name
        for q in load_questions(path)
    ]
    near = [
        text
        for text in scope_model.written_questions(ROOT)
        if (found := process.extractOne(normalise_question(text), asked, scorer=fuzz.ratio))
        and found[1] >= 80
    ]
    assert near == []


def test_a_written_file_that_is_not_lists_of_texts_names_its_line(tmp_path: Path) -> None:
    bad = tmp_path / scope_model.WRITTEN_PATH
    bad.parent.mkdir(parents=True)
    bad.write_text("en:\n  - how much is bail\nid: berapa biaya\n", encoding="utf-8")
    with pytest.raises(YamlSyntaxError, match=r"not-answered.yaml:3: id: expected a list"):
        scope_model.written_questions(tmp_path)
    assert scope_model.written_questions(tmp_path / "none") == []


def test_retraining_gives_the_shipped_model() -> None:
    pairs = scope_model.training_pairs(
        kb(), scope_model.development_files(ROOT), scope_model.written_questions(ROOT)
    )
    fresh = scope_model.train(pairs)
    model = shipped()
    assert fresh.bits == model.bits == scope_model.BITS
    assert abs(fresh.bias - model.bias) < 1e-3
    # Equal up to rounding: another CPU may differ in the last bits of exp().
    assert max(abs(a - b) for a, b in zip(fresh.weights, model.weights, strict=True)) < 1e-3


# -- the file, and content checks -------------------------------------------------------------


def test_features_hash_the_same_on_every_machine() -> None:
    # CRC-32, not Python's hash(), which changes with every process.
    expected = {zlib.crc32(f.encode()) & 0xFF for f in ["w:bail", "<b", "ba", "ail>"]}
    assert expected <= buckets(["bail"], 8)


def test_a_hashed_model_survives_its_file(tmp_path: Path) -> None:
    weights = array("f", [0.0] * 16)
    weights[3], weights[11] = 1.5, -0.25
    path = tmp_path / "model.tsv"
    path.write_text(dump_hashed(HashedModel(weights, 0.5, 4), ["# data abc"]), encoding="utf-8")
    model, trained_on = read_hashed(path)
    assert trained_on == "abc"
    assert (model.bits, model.bias, list(model.weights)) == (4, 0.5, list(weights))
    # Only the buckets with a weight are written.
    assert len([line for line in path.read_text().splitlines() if "\t" in line]) == 2


def test_a_broken_line_is_named_with_its_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "model.tsv"
    path.write_text("# data x\n# bits 4\n# bias 0\n3\t0.5\nseven\teight\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"model\.tsv:5: expected .* a bucket and its weight"):
        read_hashed(path)
    path.write_text("# bits 4\n# bias 0\n99\t0.5\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"model\.tsv:3: bucket 99 is not below 16"):
        read_hashed(path)
    # A weight before the size is known, and a size no model has.
    path.write_text("3\t0.5\n# bits 4\n# bias 0\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"model\.tsv:1: expected '# bits'"):
        read_hashed(path)
    path.write_text("# bits 40\n# bias 0\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"model\.tsv:1: expected '# bits' \(1 to 24\)"):
        read_hashed(path)


def test_kb_check_reports_a_broken_scope_model_and_runs_without_one(tmp_path: Path) -> None:
    bot = tmp_path / "bot"
    shutil.copytree(BOT, bot)
    found = check_content(ROOT / "knowledge_base", bot / "messages.yaml")
    assert found.ok and found.scope is not None
    (bot / "scope" / "model.tsv").write_text("# bits 4\n# bias x\n", encoding="utf-8")
    found = check_content(ROOT / "knowledge_base", bot / "messages.yaml")
    assert not found.ok and found.scope is None
    assert any(p.path.name == "model.tsv" and "scope model" in p.message for p in found.problems)
    (bot / "scope" / "model.tsv").unlink()
    found = check_content(ROOT / "knowledge_base", bot / "messages.yaml")
    assert found.ok and found.scope is None


def test_the_probability_crosses_to_the_analysis_worker_and_back() -> None:
    done = analysis.Analysis(None, Matcher(kb(), scope=Fixed(0.6)).match(ANSWERED))
    again = analysis.from_wire(analysis.to_wire(done), kb())
    assert again.result == done.result
    wire = analysis.to_wire(done)
    wire["out_of_scope"] = 1.5
    with pytest.raises(ValueError, match="malformed"):
        analysis.from_wire(wire, kb())


def test_the_analysis_version_names_the_scope_model() -> None:
    emergencies = check_content(ROOT / "knowledge_base", BOT / "messages.yaml").emergencies
    with_model = analysis.version(kb(), emergencies, shipped())
    assert with_model != analysis.version(kb(), emergencies)
    assert shipped().trained_on[:12] in with_model
