"""The emergency models beside the word lists: what they add, what holds them back, and that
the shipped files are what the development sets train.

How well it does on messages written by others is measured by scripts/emergency-loso
(leave-one-set-out), not asserted here."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest

from conftest import ROOT, shipped_emergencies
from rightsdesk import emergency_model as em
from rightsdesk.emergency import Emergencies, check_emergencies, load_emergencies
from rightsdesk.emergency_model import EmergencyModel, LookalikeModel, Prediction
from rightsdesk.yaml_source import YamlSyntaxError

EMERGENCY_DIR = ROOT / "bot" / "emergency"


class Fixed(EmergencyModel):
    """A model that always gives the same guess."""

    def __init__(self, urgent: float, kind: str) -> None:
        super().__init__({}, [0.0] * len(em.CLASSES))
        self.guess = Prediction(urgent, kind)

    def predict(self, words: Sequence[str]) -> Prediction:
        return self.guess


class FixedLookalike(LookalikeModel):
    """A look-alike model that always gives the same probability of urgent."""

    def __init__(self, urgent: float) -> None:
        super().__init__({}, 0.0)
        self.fixed = urgent

    def urgent(self, words: Sequence[str]) -> float:
        return self.fixed


def with_model(model: EmergencyModel, lookalike: LookalikeModel | None = None) -> Emergencies:
    emergencies = load_emergencies(EMERGENCY_DIR)
    emergencies.model = model
    emergencies.lookalike = lookalike
    return emergencies


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("my mate has gone grey and cold after his hit and we cannot rouse him", "overdose"),
        (
            "the officers took my brother into the back room and we hear him screaming",
            "custody_violence",
        ),
    ],
)
def test_the_model_cards_an_urgent_paraphrase_no_list_word_covers(text: str, kind: str) -> None:
    emergencies = shipped_emergencies()
    assert emergencies.detect_by_lists(text) is None
    found = emergencies.detect(text)
    assert found is not None and found.kind == kind and found.by_model


@pytest.mark.parametrize(
    "text",
    [
        "last year police raided our office, can we sue them now?",
        "we wrote a training manual on what to do when someone is not breathing after using",
        "my thesis is about raids on karaoke bars in 2019",
    ],
)
def test_look_alikes_stay_without_a_card(text: str) -> None:
    assert shipped_emergencies().detect(text) is None


def test_a_not_now_word_holds_back_even_a_confident_model() -> None:
    emergencies = with_model(Fixed(0.99, "arrest"))
    assert emergencies.detect("the police are at my neighbours' house") is not None
    assert emergencies.detect("the police were at my neighbours' house last year") is None


def test_the_model_vetoes_a_list_hit_only_when_all_but_certain() -> None:
    unsure = with_model(Fixed(0.1, "arrest"))
    assert unsure.detect_by_lists("police are raiding my friend's room right now") is not None
    assert unsure.detect("police are raiding my friend's room right now") is not None
    found = unsure.detect("help my boyfriend is not breathing after he used")
    assert found is not None and found.kind == "overdose" and not found.by_model
    assert with_model(Fixed(0.01, "arrest")).detect("help my boyfriend is not breathing") is None


def test_the_lookalike_model_vetoes_an_arrest_sooner_than_an_overdose() -> None:
    # Fairly sure it is a look-alike: the arrest card goes, the overdose card stays (a card
    # too few there can cost a life).
    fairly_sure = with_model(Fixed(0.9, "arrest"), FixedLookalike(0.25))
    assert fairly_sure.detect("police are raiding my friend's room right now") is None
    found = fairly_sure.detect("help my boyfriend is not breathing after he used")
    assert found is not None and found.kind == "overdose" and not found.by_model
    # Nearly sure: both go.
    nearly_sure = with_model(Fixed(0.9, "arrest"), FixedLookalike(0.1))
    assert nearly_sure.detect("help my boyfriend is not breathing after he used") is None
    # Sure it is urgent: both stay.
    urgent = with_model(Fixed(0.9, "arrest"), FixedLookalike(0.9))
    assert urgent.detect("police are raiding my friend's room right now") is not None


def test_the_lookalike_model_never_vetoes_an_overdose_card_of_the_model_alone() -> None:
    found = with_model(Fixed(0.99, "overdose"), FixedLookalike(0.0)).detect("blah blah")
    assert found is not None and found.by_model


def test_the_lookalike_model_vetoes_a_self_harm_card_of_the_model_alone_only_when_sure() -> None:
    # "bored to death in this seminar" got the model's self-harm card (held-out set 9).
    assert with_model(Fixed(0.3, "self_harm"), FixedLookalike(0.1)).detect("blah") is None
    found = with_model(Fixed(0.3, "self_harm"), FixedLookalike(0.3)).detect("blah")
    assert found is not None and found.kind == "self_harm" and found.by_model


def test_the_lookalike_model_vetoes_an_arrest_card_of_the_model_alone() -> None:
    # Arrest and compulsory-centre cards are the ones look-alikes ("what if police raid our
    # office") most often earned; below LOOKALIKE_MODEL_VETO they go.
    assert with_model(Fixed(0.99, "arrest"), FixedLookalike(0.6)).detect("blah blah") is None
    found = with_model(Fixed(0.99, "arrest"), FixedLookalike(0.8)).detect("blah blah")
    assert found is not None and found.kind == "arrest" and found.by_model


def test_an_if_without_a_now_lets_a_fairly_sure_model_veto_an_overdose() -> None:
    fairly_sure = with_model(Fixed(0.15, "overdose"))
    assert fairly_sure.detect("my friend is not breathing after he used") is not None
    assert fairly_sure.detect_by_lists("if my friend is not breathing after he used") is not None
    assert fairly_sure.detect("if my friend is not breathing after he used") is None


def test_without_a_model_file_the_lists_decide_alone(tmp_path: Path) -> None:
    folder = tmp_path / "emergency"
    shutil.copytree(EMERGENCY_DIR, folder)
    (folder / em.MODEL_FILE).unlink()
    emergencies = load_emergencies(folder)
    assert emergencies.model is None and emergencies.lookalike is None
    text = "my mate has gone grey and cold after his hit and we cannot rouse him"
    assert emergencies.detect(text) is None


@pytest.mark.parametrize(
    ("name", "broken"),
    [
        (em.MODEL_FILE, "# bias 1 2\nfoo\t1 2 3\n"),  # six weights a line, six biases
        (em.LOOKALIKE_FILE, "foo\t1\n"),  # no bias line
        (em.LOOKALIKE_FILE, "# bias 0.5\nfoo\t1 2\n"),  # one weight a line
    ],
)
def test_a_broken_model_file_is_a_problem_kb_check_reports(
    tmp_path: Path, name: str, broken: str
) -> None:
    folder = tmp_path / "emergency"
    shutil.copytree(EMERGENCY_DIR, folder)
    (folder / name).write_text(broken, encoding="utf-8")
    problems, emergencies = check_emergencies(folder)
    assert emergencies is None
    assert any(p.path.name == name for p in problems)


def test_the_shipped_models_were_trained_on_the_current_development_sets() -> None:
    current = em.data_hash(em.training_files(ROOT))
    _, trained_on = em.read(EMERGENCY_DIR / em.MODEL_FILE)
    assert trained_on == current, "run scripts/emergency-model"
    _, trained_on = em.read_lookalike(EMERGENCY_DIR / em.LOOKALIKE_FILE)
    assert trained_on == current, "run scripts/emergency-model"
    assert shipped_emergencies().lookalike is not None


def test_retraining_gives_the_shipped_model() -> None:
    shipped, _ = em.read(EMERGENCY_DIR / em.MODEL_FILE)
    fresh = em.train_on_files(em.training_files(ROOT))
    # Equal up to rounding: another CPU may differ in the last bits of exp().
    assert max(abs(a - b) for a, b in zip(shipped.bias, fresh.bias, strict=True)) < 1e-3
    for name in shipped.weights.keys() ^ fresh.weights.keys():
        weights = shipped.weights.get(name) or fresh.weights[name]
        assert max(map(abs, weights)) < em.PRUNE + 1e-3, name
    for name in shipped.weights.keys() & fresh.weights.keys():
        pairs = zip(shipped.weights[name], fresh.weights[name], strict=True)
        assert max(abs(a - b) for a, b in pairs) < 1e-3, name


def test_retraining_gives_the_shipped_lookalike_model() -> None:
    shipped, _ = em.read_lookalike(EMERGENCY_DIR / em.LOOKALIKE_FILE)
    fresh = em.train_lookalike_on_files(em.training_files(ROOT))
    assert abs(shipped.bias - fresh.bias) < 1e-3
    for name in shipped.weights.keys() ^ fresh.weights.keys():
        weight = shipped.weights.get(name, fresh.weights.get(name, 0.0))
        assert abs(weight) < em.PRUNE + 1e-3, name
    for name in shipped.weights.keys() & fresh.weights.keys():
        assert abs(shipped.weights[name] - fresh.weights[name]) < 1e-3, name


def test_the_lookalike_model_learns_urgent_messages_against_look_alikes_only() -> None:
    messages = em.grouped_messages(em.training_files(ROOT, [7], everyday=False))
    groups = [group for _, _, group in messages]
    # Set 7's files say "25 urgent, 15 look-alikes, 20 everyday" in each of 7 languages.
    assert (groups.count(em.URGENT), groups.count(em.LOOKALIKE)) == (175, 105)
    assert groups.count(em.EVERYDAY) == 140
    # Older files have no everyday block: every non-urgent message is a look-alike.
    older = [g for _, _, g in em.grouped_messages(em.training_files(ROOT, [4], everyday=False))]
    assert em.EVERYDAY not in older and older.count(em.LOOKALIKE) > 0


def test_the_training_data_never_includes_a_held_out_set() -> None:
    for path in em.training_files(ROOT):
        assert "holdout" not in path.name
        if path == ROOT / em.CHAT_PATH:
            continue
        development = path.name.endswith(("-retired.yaml", "-dev.yaml"))
        assert development or path.parent.name in ("emergency", "emergency2", "eval"), path
    assert not any("blind" in p.parts for p in em.training_files(ROOT))


def test_everyday_chat_is_learnt_as_no_emergency() -> None:
    files = em.training_files(ROOT)
    chat = ROOT / em.CHAT_PATH
    assert chat in files
    messages = em.grouped_messages([chat])
    assert len(messages) >= 7 * 50 and {(k, g) for _, k, g in messages} == {(None, em.EVERYDAY)}
    # Not read by the bot (only the word lists and the two models are), and not shipped.
    assert chat.parent != EMERGENCY_DIR


def test_a_chat_file_that_is_not_lists_of_texts_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / em.CHAT_FILE
    bad.write_text("en:\n  - hi\n  - {q: nested}\n", encoding="utf-8")
    with pytest.raises(YamlSyntaxError, match=r"chat.yaml:1: en: expected a list of texts"):
        em.grouped_messages([bad])


def test_everyday_questions_are_learnt_as_no_emergency() -> None:
    everyday = em.training_files(ROOT, [], everyday=True)
    assert everyday and all("emergency" not in p.parent.name for p in everyday)
    messages = em.training_messages(everyday)
    assert len(messages) > 1_000 and {kind for _, kind in messages} == {None}
    # And an emergency set keeps its labels.
    urgent = em.training_messages(em.training_files(ROOT, [4], everyday=False))
    assert {kind for _, kind in urgent} == {None, *em.CLASSES[1:]}


@pytest.mark.parametrize(
    "text",
    [
        "hi bot",
        "good morning",
        # Carded as an arrest (0.375) before the chat file joined the training data.
        "pagi kak",
        pytest.param(
            "telegram not sending OTP to my phone",
            # An everyday training message, yet the model has given it a self-harm card since
            # set 7 joined the training (0.354 now, over the threshold), and the look-alike
            # model takes it for urgent (0.86), so it does not veto it.
            # Known, left visible: strict, so that it fails once the model gets it right.
            marks=pytest.mark.xfail(strict=True, reason="model gives 0.354 (self-harm)"),
        ),
    ],
)
def test_greetings_and_everyday_chat_get_no_card(text: str) -> None:
    # The model once carded "hi bot" (overdose) and "good morning" (self-harm): it had been
    # trained on emergencies and their look-alikes only.
    assert shipped_emergencies().detect(text) is None, text


def test_a_model_card_says_it_came_from_the_model() -> None:
    found = with_model(Fixed(0.99, "self_harm")).detect("blah blah nothing here")
    assert found is not None and found.by_model and found.lang == ""
