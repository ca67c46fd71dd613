"""A small statistical model of "is this an emergency happening now, and of which kind", next
to the editors' word lists (:mod:`rightsdesk.emergency`).

The word lists scored 0.998 on the messages they were tuned on and 0.64 to 0.88 recall on each
fresh set written by someone else: no list can hold every way of saying "he is not waking up".
This model is a softmax regression over six classes (no emergency, and the five kinds) on
character n-grams (1 to 4 letters, with word boundaries, of the same folded tokens the lists
match; a Thai or Burmese letter with its signs counts as one) plus whole words and pairs of
words. It is trained on the development emergency sets, and on the matcher's development
sets as everyday questions that are no emergency, by ``scripts/emergency-model`` and
shipped as ``bot/emergency/model.tsv``: a header with the hash of the training files, then one
line per feature with its six weights. Training is deterministic (full-batch Adam, fixed
steps), so the file can be checked to be up to date.

A second, binary model (:class:`LookalikeModel`, shipped as ``bot/emergency/lookalike.tsv``)
is trained on the same features of the emergency sets' urgent messages against their
look-alikes only (non-urgent messages on the same topics: a past arrest, a question about
overdose in general, a role-play), with no everyday questions and no regularisation. The main
model learns "emergency or not" mostly from everyday questions, which are easy; this one learns
only the hard line, "happening now, or about it", and is used as a veto of list hits.

How the lists and the models combine (see :meth:`Emergencies.combine`): a list hit shows its
card unless the main model finds it very unlikely (VETO, LOW_VETO, IF_VETO) or the look-alike
model finds it a look-alike (LOOKALIKE_VETO, LOOKALIKE_LOW_VETO); with no list hit, the main
model shows a card when it is confident enough (THRESHOLD) and no "not now" word holds it back.
All these numbers were picked by leave-one-set-out evaluation (``scripts/emergency-loso``).
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rightsdesk.text_model import (
    MAX_N,
    STEP_SIZE,
    STEPS,
    BinaryModel,
    dump_binary,
    features,
    fit,
    fit_binary,
    read_binary,
    read_weights,
)

MODEL_FILE = "model.tsv"
LOOKALIKE_FILE = "lookalike.tsv"
URGENT, LOOKALIKE, EVERYDAY = "urgent", "look-alike", "everyday"
# Short everyday chat ("pagi kak", "ok noted"), a list per language code, learnt as no
# emergency: the development sets hold questions, nearly no chat, and the model alone carded
# "pagi kak" (good morning) as an arrest. Training data only, so it sits apart from the word
# lists the bot reads.
# Measured and not taken: 280 jokes about dying and other figurative speech ("bored to death",
# "this traffic is killing me", written by a helper) learnt as look-alikes, after held-out set
# 9's eight false look-alike cards were all such jokes: leave-one-set-out over sets 2-9, urgent
# messages missed 42 -> 48 of 1,750 and look-alikes carded only 40 -> 39 of 1,470.
# A second batch (2026-12-03, after held-out set 12's six lone model cards on chat: Friday
# greetings, thanks for yesterday's answer, requests to translate): holiday and religious
# greetings, thanks for an earlier answer, requests to the bot, outreach logistics, calm
# questions and calm mentions of police, prisons and rehab, 60 a language. Leave-one-set-out
# over sets 1-12: urgent messages missed 30 -> 30 of 2,625, look-alikes carded 53 -> 50 of
# 2,135, everyday messages carded 20 -> 16 of 980.
CHAT_FILE = "chat.yaml"
CHAT_PATH = Path("bot") / "emergency" / "training" / CHAT_FILE
CLASSES = (None, "custody_violence", "self_harm", "overdose", "compulsory_centre", "arrest")
L2 = 1e-4
PRUNE = 0.002  # features whose weights all stay below this are left out of the file
DIGITS = 4
# Picked by leave-one-set-out over sets 2-7 (scripts/emergency-loso; recall / look-alikes
# carded / everyday carded, means of the folds). Before the look-alike model, at threshold
# 0.35 and vetoes 0.2 / 0.05 / 0.2: 0.966 / 0.082 / 0.036 (set 7 0.971 / 0.152 / 0.021). With
# it, at the numbers below: 0.976 / 0.035 / 0.036 (set 7 0.971 / 0.048 / 0.021), and every
# kind and every set misses no more urgent messages than before (overdose 9 of 280 against
# 10). Chosen on those same folds, so the means flatter: with the thresholds re-chosen for
# each fold on the other five (nested), 0.968 / 0.029 / 0.036 (before 0.963 / 0.078 / 0.036).
# 2026-12-03, with the everyday chat file in training (bot/emergency/training/chat.yaml) the
# numbers below were re-picked on the same folds, pooled over sets 2-8: THRESHOLD 0.3 -> 0.25,
# LOOKALIKE_VETO 0.5 -> 0.3, and LOOKALIKE_MODEL_VETO 0.7 (new). Urgent messages missed 43 ->
# 37 of 1,575 (overdose 9 -> 10), look-alikes carded 39 -> 33 of 735, everyday carded 14 -> 9
# of 420. Before the re-pick, the chat file alone gave 49 missed, 35 and 7 carded.
THRESHOLD = 0.25  # the model alone shows a card above this probability of an emergency
# An arrest or compulsory-centre list hit shows no card below this probability. It was 0.2
# before the look-alike model; with that model's veto beside it, 0.05 keeps more urgent
# cards (recall 0.976 against 0.971 at 0.2) for the same look-alikes carded.
VETO = 0.05
# Any other list hit (overdose, self-harm, custody violence) shows no card below LOW_VETO, or
# below IF_VETO when an "if" word and no "now" word is in the message. Leave-one-set-out, the
# lowest urgent such hit got 0.128 (0.305 with "if" and no "now"), and look-alikes below these
# were a role-play, a first-aid card, a past self-harm "fine now".
LOW_VETO = 0.05
IF_VETO = 0.2
# The look-alike model's vetoes, on its probability that a message is urgent rather than a
# look-alike: an arrest or compulsory-centre list hit shows no card below LOOKALIKE_VETO, any
# other list hit none below LOOKALIKE_LOW_VETO. Leave-one-set-out, the rest as above: with no
# look-alike model 0.981 / 0.112 (0.966 / 0.082 at the old 0.35 and 0.2); LOOKALIKE_VETO 0.3 /
# 0.5 / 0.7: 0.979 / 0.038, 0.976 / 0.035, 0.968 / 0.034; LOOKALIKE_LOW_VETO 0 / 0.1 / 0.2 /
# 0.3: 0.976 / 0.059, 0.976 / 0.037, 0.976 / 0.035, 0.975 / 0.030, with 8, 9, 9 and 10
# overdoses missed (of 280).
LOOKALIKE_VETO = 0.3
LOOKALIKE_LOW_VETO = 0.2
# ... and a card of the main model alone none below these, per kind. The model's overdose and
# custody-violence cards are never vetoed by it: with all five kinds vetoed at 0.5, overdoses
# missed went from 10 to 13. Self-harm at 0.2 (added after held-out set 9, whose jokes about
# dying got the model's self-harm cards while the look-alike model gave them 0.01-0.17):
# leave-one-set-out over sets 2-9, no urgent message more missed (42 of 1,750, self-harm 7 of
# 350, at 0.1, 0.2 and 0.3 alike), look-alikes carded 40 -> 34 of 1,470.
LOOKALIKE_MODEL_VETO = {"arrest": 0.7, "compulsory_centre": 0.7, "self_harm": 0.2}
# The look-alike model has no L2 penalty: leave-one-set-out, with all vetoes re-chosen for
# each (recall 0.970 or more), L2 1e-4 (as the main model) gave 0.973 / 0.052 at best, 1e-5
# 0.971 / 0.041, 1e-6 0.971 / 0.023, 0 0.971 / 0.016. It is trained for STEPS steps like the
# main model.
LOOKALIKE_L2 = 0.0
# Also measured and not taken (leave-one-set-out, sets 2-7):
# - the look-alike model also vetoing every card of the main model alone (below 0.6: 0.974 /
#   0.025 / 0.025, fewer false cards of both sorts, but 12 overdoses missed against 9);
# - counting look-alikes 3 or 6 times (and urgent messages twice) in the main model's
#   training, which LOOKALIKE_WEIGHT and URGENT_WEIGHT once allowed: alone at best 0.966 /
#   0.056 (3), 0.968 / 0.085 (6), 0.971 / 0.063 (3 and 2), against 0.973 / 0.075 (1); with
#   the look-alike model no fewer look-alikes carded (0.019 at 0.970 recall, as with 1) and
#   more everyday ones (0.057, 0.075 against 0.021). Both weights were removed;
# - the look-alike model also trained on the sets' everyday messages (0.971 / 0.055 against
#   0.973 / 0.052, both at L2 1e-4);
# - features for the lists' "now", "not now" and "if" words and list hits in the look-alike
#   model (0.971 / 0.015 / 0.021 against 0.971 / 0.016 / 0.025: no real change);
# - the main model at L2 1e-5: alone better than 1e-4 (0.974 / 0.058 against 0.973 / 0.075),
#   with the look-alike model no better (nested 0.969 / 0.019 against 0.967 / 0.021).


@dataclass(frozen=True)
class Prediction:
    urgent: float  # probability that the message is about an emergency happening now
    kind: str  # the likeliest kind, whatever ``urgent`` is


class EmergencyModel:
    def __init__(self, weights: dict[str, tuple[float, ...]], bias: Sequence[float]) -> None:
        self.weights = weights
        self.bias = tuple(bias)

    def predict(self, words: Sequence[str]) -> Prediction:
        # A message is a vector of its features scaled to length 1, as in training.
        feats = features(words)
        get = self.weights.get
        found = [w for w in map(get, feats) if w is not None]
        scale = 1 / math.sqrt(len(feats)) if feats else 0.0
        # Summing each class's column at once (zip transposes, sum adds, both in C) is several
        # times faster than a Python loop over the features, and than numpy for six numbers.
        totals = map(sum, zip(*found, strict=True)) if found else itertools.repeat(0.0)
        scores = [b + scale * t for b, t in zip(self.bias, totals, strict=False)]
        top = max(scores)
        exp = [math.exp(s - top) for s in scores]
        total = sum(exp)
        kinds = range(1, len(CLASSES))
        best = max(kinds, key=lambda k: scores[k])
        return Prediction(urgent=1 - exp[0] / total, kind=str(CLASSES[best]))


class LookalikeModel(BinaryModel):
    """Urgent message or look-alike: one weight per feature, a logistic regression."""

    def urgent(self, words: Sequence[str]) -> float:
        """The probability that the message is urgent rather than a look-alike."""
        return self.probability(words)


# -- training (numpy only here, so that start-up does not need it) ---------------------------


def train(messages: Iterable[tuple[Sequence[str], str | None]]) -> EmergencyModel:
    """Fit the model on (tokens, kind or None) pairs."""
    rows, labels = [], []
    for words, kind in messages:
        rows.append(sorted(features(words)))
        labels.append(CLASSES.index(kind))
    vocab, w, b = fit(rows, labels, len(CLASSES), L2)
    weights = {
        f: tuple(round(float(x), DIGITS) for x in w[i])
        for f, i in sorted(vocab.items())
        if float(abs(w[i]).max()) >= PRUNE
    }
    return EmergencyModel(weights, [round(float(x), DIGITS) for x in b])


def train_lookalike(messages: Iterable[tuple[Sequence[str], bool]]) -> LookalikeModel:
    """Fit the look-alike model on (tokens, urgent or not) pairs."""
    model = fit_binary(messages, LOOKALIKE_L2, prune=PRUNE, digits=DIGITS)
    return LookalikeModel(model.weights, model.bias)


# -- the shipped file -----------------------------------------------------------------------


def data_hash(paths: Iterable[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths, key=lambda p: p.as_posix()):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    settings = (MAX_N, L2, STEPS, STEP_SIZE, PRUNE, DIGITS, LOOKALIKE_L2)
    digest.update(" ".join(map(str, settings)).encode())
    return digest.hexdigest()


def dump(model: EmergencyModel, trained_on: str) -> str:
    lines = [
        "# Generated by scripts/emergency-model from the development sets; do not edit.",
        f"# data {trained_on}",
        # In the header: "bias" is also a feature (a 4-gram of Indonesian "biasa", usually).
        "# bias " + " ".join(f"{x:g}" for x in model.bias),
    ]
    for name, ws in sorted(model.weights.items()):
        lines.append(name + "\t" + " ".join(f"{x:g}" for x in ws))
    return "\n".join(lines) + "\n"


def dump_lookalike(model: LookalikeModel, trained_on: str) -> str:
    header = [
        "# Generated by scripts/emergency-model from the development sets; do not edit.",
        "# Urgent messages against their look-alikes: one weight per feature.",
        f"# data {trained_on}",
    ]
    return dump_binary(model, header)


def read_lookalike(path: Path) -> tuple[LookalikeModel, str]:
    """The look-alike model in ``path`` and the hash of the data it was trained on."""
    model, trained_on = read_binary(path)
    return LookalikeModel(model.weights, model.bias), trained_on


def read(path: Path) -> tuple[EmergencyModel, str]:
    """The model in ``path`` and the hash of the data it was trained on."""
    weights, bias, trained_on = read_weights(path, len(CLASSES))
    return EmergencyModel(weights, bias), trained_on


# -- the training data ----------------------------------------------------------------------

# The development sets (the held-out ones are never read): set 1 with its dev files, set 2,
# and sets 3 to 7 once retired. Relative to the repository root.
TRAINING_SETS = {
    1: "tests/eval/emergency/*.yaml",
    2: "tests/eval/emergency2/*.yaml",
    3: "tests/eval/emergency3/*-retired.yaml",
    4: "tests/eval/emergency4/*-retired.yaml",
    5: "tests/eval/emergency5/*-retired.yaml",
    6: "tests/eval/emergency6/*-retired.yaml",
    7: "tests/eval/emergency7/*-retired.yaml",
    8: "tests/eval/emergency8/*-retired.yaml",
    9: "tests/eval/emergency9/*-retired.yaml",
    10: "tests/eval/emergency10/*-retired.yaml",
    11: "tests/eval/emergency11/*-retired.yaml",
    12: "tests/eval/emergency12/*-retired.yaml",
    13: "tests/eval/emergency13/*-retired.yaml",
}


def message_words(text: str) -> list[str]:
    """The folded tokens of a message, as the word lists see them."""
    from rightsdesk.languages import prepare, tokens

    return [w for w in tokens(prepare(text).text) if w]


# Everyday questions, none of them an emergency: the development sets of the matcher. The
# emergency sets hold urgent messages and their close look-alikes only, so a model trained on
# them alone had never seen "hi bot" or a question about a phone bill, and carded one
# everyday question in ten.
EVERYDAY_SETS = (
    "tests/eval/questions.yaml",
    "tests/eval/lang/*-dev.yaml",
    "tests/eval/lang2/*-retired.yaml",
    "tests/eval/lang3/*-retired.yaml",
    "tests/eval/lang4/*-retired.yaml",
    "tests/eval/lang5/*-retired.yaml",
    "tests/eval/lang6/*-retired.yaml",
    "tests/eval/lang7/*-retired.yaml",
    "tests/eval/lang8/*-retired.yaml",
    "tests/eval/lang9/*-retired.yaml",
    "tests/eval/lang10/*-retired.yaml",
    "tests/eval/lang11/*-retired.yaml",
    "tests/eval/lang12/*-retired.yaml",
    "tests/eval/lang13/*-retired.yaml",
    "tests/eval/lang14/*-retired.yaml",
    "tests/eval/lang15/*-retired.yaml",
    "tests/eval/lang16/*-retired.yaml",
)


def training_files(
    root: Path, sets: Iterable[int] | None = None, *, everyday: bool = True
) -> list[Path]:
    """The emergency sets chosen (all by default) and, unless told not to, the everyday ones
    and the files written for training (the chat)."""
    chosen = TRAINING_SETS if sets is None else {s: TRAINING_SETS[s] for s in sets}
    patterns = [*chosen.values(), *(EVERYDAY_SETS if everyday else ())]
    files = sorted(p for pattern in patterns for p in root.glob(pattern))
    if everyday and (root / CHAT_PATH).is_file():
        files.append(root / CHAT_PATH)
    return files


def training_messages(files: Iterable[Path]) -> list[tuple[str, str | None]]:
    """(text, kind or None) for every message of ``files``; a matcher set's are all None."""
    return [(text, kind) for text, kind, _ in grouped_messages(files)]


_COUNTS = re.compile(r"(\d+) urgent, (\d+) look-alikes, (\d+) everyday")


def grouped_messages(files: Iterable[Path]) -> list[tuple[str, str | None, str]]:
    """(text, kind or None, group) for every message of ``files``: URGENT, LOOKALIKE (a
    non-urgent message of an emergency set, on the same topics) or EVERYDAY (a matcher set's
    question, or an emergency set's everyday message). An emergency file whose header says
    "N urgent, M look-alikes, K everyday" (set 6 on) lists its look-alikes before its everyday
    messages; in older files every non-urgent message is a look-alike."""
    from rightsdesk.evaluation import load_emergency_questions, load_questions
    from rightsdesk.yaml_source import load_texts_by_language

    out: list[tuple[str, str | None, str]] = []
    for path in files:
        if path.name == CHAT_FILE:
            out.extend((text, None, EVERYDAY) for text in load_texts_by_language(path))
            continue
        if _is_everyday(path):
            out.extend((q.q, None, EVERYDAY) for q in load_questions(path))
            continue
        counts = _COUNTS.search(path.read_text(encoding="utf-8")[:2000])
        lookalikes = int(counts.group(2)) if counts else None
        seen = 0
        for q in load_emergency_questions(path):
            if q.emergency:
                out.append((q.q, q.emergency, URGENT))
                continue
            seen += 1
            everyday = lookalikes is not None and seen > lookalikes
            out.append((q.q, None, EVERYDAY if everyday else LOOKALIKE))
    return out


def _is_everyday(path: Path) -> bool:
    return path.name == CHAT_FILE or "emergency" not in path.parent.name


def train_on_files(files: Sequence[Path]) -> EmergencyModel:
    return train((message_words(q), kind) for q, kind, _ in grouped_messages(files))


def train_lookalike_on_files(files: Sequence[Path]) -> LookalikeModel:
    """The look-alike model, from the emergency sets among ``files`` (urgent messages and
    look-alikes; their everyday messages and the matcher's sets are left out)."""
    messages = grouped_messages(p for p in files if not _is_everyday(p))
    return train_lookalike(
        (message_words(q), group == URGENT) for q, _, group in messages if group != EVERYDAY
    )
