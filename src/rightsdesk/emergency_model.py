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

How the lists and the model combine (see :meth:`Emergencies.detect`): a list hit shows its
card unless the model finds it very unlikely (VETO); with no list hit, the model shows a card
when it is confident enough (THRESHOLD) and no "not now" word holds it back. Both numbers were
picked by leave-one-set-out evaluation (``scripts/emergency-loso``).
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rightsdesk.languages import _clusters

MODEL_FILE = "model.tsv"
CLASSES = (None, "custody_violence", "self_harm", "overdose", "compulsory_centre", "arrest")
MAX_N = 4
L2 = 1e-4
STEPS = 300
STEP_SIZE = 0.05
PRUNE = 0.002  # features whose weights all stay below this are left out of the file
DIGITS = 4
# How much a message counts in training, by what it is: the emergency sets' look-alikes are
# few beside the everyday questions, and are what false cards are made of.
LOOKALIKE_WEIGHT = 1.0
URGENT_WEIGHT = 1.0
THRESHOLD = 0.35  # the model alone shows a card above this probability of an emergency
# An arrest or compulsory-centre list hit shows no card below this probability. 0.2, not 0.3,
# since the matcher's sets 5 and 6 joined the everyday training: leave-one-set-out over sets
# 2-6, recall / look-alikes carded 0.961 / 0.065 at 0.2 against 0.951 / 0.057 at 0.3.
VETO = 0.2
# Any other list hit (overdose, self-harm, custody violence) shows no card below LOW_VETO, or
# below IF_VETO when an "if" word and no "now" word is in the message. Leave-one-set-out, the
# lowest urgent such hit got 0.128 (0.305 with "if" and no "now"), and look-alikes below these
# were a role-play, a first-aid card, a past self-harm "fine now".
LOW_VETO = 0.05
IF_VETO = 0.2


def features(words: Sequence[str]) -> set[str]:
    """The features of a message's folded tokens (as :func:`rightsdesk.languages.tokens`)."""
    out: set[str] = set()
    for word in words:
        out |= _word_features(word)
    for a, b in itertools.pairwise(words):
        out.add(f"b:{a} {b}")
    return out


@functools.lru_cache(maxsize=1 << 16)
def _word_features(word: str) -> frozenset[str]:
    # Words repeat from one message to the next, so their n-grams are worth keeping.
    units = ["<", *_clusters(word), ">"]
    out = {"w:" + word}
    for n in range(1, MAX_N + 1):
        for i in range(len(units) - n + 1):
            gram = "".join(units[i : i + n])
            if gram not in ("<", ">"):
                out.add(gram)
    return frozenset(out)


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


# -- training (numpy only here, so that start-up does not need it) ---------------------------


def train(
    messages: Iterable[tuple[Sequence[str], str | None]], importance: Sequence[float] | None = None
) -> EmergencyModel:
    """Fit the model on (tokens, kind or None) pairs, each counting ``importance[i]`` (1 when
    not given) in the loss."""
    import numpy as np

    rows_features = []
    labels = []
    vocab: dict[str, int] = {}
    for words, kind in messages:
        feats = sorted(features(words))
        rows_features.append(feats)
        labels.append(CLASSES.index(kind))
        for f in feats:
            vocab.setdefault(f, len(vocab))
    n, v, c = len(labels), len(vocab), len(CLASSES)
    r = np.array([i for i, fs in enumerate(rows_features) for _ in fs], dtype=np.int64)
    col = np.array([vocab[f] for fs in rows_features for f in fs], dtype=np.int64)
    counts = np.bincount(r, minlength=n).astype(float)
    val = 1 / np.sqrt(counts[r])
    target = np.eye(c)[np.array(labels)]
    share = np.ones(n) if importance is None else np.asarray(importance, dtype=float)
    share = (share / share.sum())[:, None]
    w = np.zeros((v, c))
    b = np.zeros(c)
    m_w, v_w, m_b, v_b = np.zeros_like(w), np.zeros_like(w), np.zeros(c), np.zeros(c)
    for t in range(1, STEPS + 1):
        z = b + np.stack(
            [np.bincount(r, weights=w[col, k] * val, minlength=n) for k in range(c)], 1
        ).astype(float)
        z -= z.max(1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(1, keepdims=True)
        g = (p - target) * share
        g_w = L2 * w + np.stack(
            [np.bincount(col, weights=g[r, k] * val, minlength=v) for k in range(c)], 1
        ).astype(float)
        g_b = g.sum(0)
        m_w = 0.9 * m_w + 0.1 * g_w
        v_w = 0.999 * v_w + 0.001 * g_w**2
        m_b = 0.9 * m_b + 0.1 * g_b
        v_b = 0.999 * v_b + 0.001 * g_b**2
        w -= STEP_SIZE * (m_w / (1 - 0.9**t)) / (np.sqrt(v_w / (1 - 0.999**t)) + 1e-8)
        b -= STEP_SIZE * (m_b / (1 - 0.9**t)) / (np.sqrt(v_b / (1 - 0.999**t)) + 1e-8)
    names = sorted(vocab)
    weights = {
        f: tuple(round(float(x), DIGITS) for x in w[vocab[f]])
        for f in names
        if float(np.abs(w[vocab[f]]).max()) >= PRUNE
    }
    return EmergencyModel(weights, [round(float(x), DIGITS) for x in b])


# -- the shipped file -----------------------------------------------------------------------


def data_hash(paths: Iterable[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths, key=lambda p: p.as_posix()):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    settings = (MAX_N, L2, STEPS, STEP_SIZE, PRUNE, DIGITS, LOOKALIKE_WEIGHT, URGENT_WEIGHT)
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


def read(path: Path) -> tuple[EmergencyModel, str]:
    """The model in ``path`` and the hash of the data it was trained on."""
    weights: dict[str, tuple[float, ...]] = {}
    bias: tuple[float, ...] = ()
    trained_on = ""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("# data "):
            trained_on = line[len("# data ") :].strip()
            continue
        if line.startswith("# bias "):
            bias = tuple(float(x) for x in line[len("# bias ") :].split())
            continue
        if not line or line.startswith("#"):
            continue
        name, _, values = line.rpartition("\t")
        numbers = tuple(float(x) for x in values.split())
        if not name or len(numbers) != len(CLASSES):
            raise ValueError(f"{path}:{number}: expected a feature and {len(CLASSES)} weights")
        weights[name] = numbers
    if len(bias) != len(CLASSES):
        raise ValueError(f"{path}: expected a line '# bias' with {len(CLASSES)} numbers")
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
}


def message_words(text: str) -> list[str]:
    """The folded tokens of a message, as the word lists see them."""
    from rightsdesk.languages import prepare, tokens

    return [w for w in tokens(prepare(text).text) if w]


# Everyday questions, none of them an emergency: the development sets of the matcher. The
# emergency sets hold urgent messages and their close look-alikes only, so a model trained on
# them alone had never seen "hi bot" or a question about a phone bill, and carded one
# everyday question in ten.
EVERYDAY = (
    "tests/eval/questions.yaml",
    "tests/eval/lang/*-dev.yaml",
    "tests/eval/lang2/*-retired.yaml",
    "tests/eval/lang3/*-retired.yaml",
    "tests/eval/lang4/*-retired.yaml",
    "tests/eval/lang5/*-retired.yaml",
    "tests/eval/lang6/*-retired.yaml",
)


def training_files(
    root: Path, sets: Iterable[int] | None = None, *, everyday: bool = True
) -> list[Path]:
    """The emergency sets chosen (all by default) and, unless told not to, the everyday ones."""
    chosen = TRAINING_SETS if sets is None else {s: TRAINING_SETS[s] for s in sets}
    patterns = [*chosen.values(), *(EVERYDAY if everyday else ())]
    return sorted(p for pattern in patterns for p in root.glob(pattern))


def training_messages(files: Iterable[Path]) -> list[tuple[str, str | None]]:
    """(text, kind or None) for every message of ``files``; a matcher set's are all None."""
    return [(text, kind) for text, kind, _ in _weighted_messages(files)]


def _weighted_messages(files: Iterable[Path]) -> list[tuple[str, str | None, float]]:
    from rightsdesk.evaluation import load_emergency_questions, load_questions

    messages: list[tuple[str, str | None, float]] = []
    for path in files:
        if _is_everyday(path):
            messages.extend((q.q, None, 1.0) for q in load_questions(path))
            continue
        for q in load_emergency_questions(path):
            weight = URGENT_WEIGHT if q.emergency else LOOKALIKE_WEIGHT
            messages.append((q.q, q.emergency, weight))
    return messages


def _is_everyday(path: Path) -> bool:
    return "emergency" not in path.parent.name


def train_on_files(files: Sequence[Path]) -> EmergencyModel:
    messages = _weighted_messages(files)
    return train(((message_words(q), kind) for q, kind, _ in messages), [w for _, _, w in messages])
