"""Character n-gram features of a message's words, and the linear models trained on them.

The emergency models (:mod:`rightsdesk.emergency_model`) and the scope model
(:mod:`rightsdesk.scope_model`) read messages the same way and are fitted the same way, so the
way lives here once: features, a softmax regression fitted by full-batch Adam (deterministic, so
a shipped model file can be checked to be up to date), a logistic model with one weight per
feature, and the tab-separated file both kinds of model are shipped in.
"""

from __future__ import annotations

import functools
import itertools
import math
import zlib
from array import array
from collections.abc import Hashable, Iterable, Sequence
from pathlib import Path
from typing import Any

from rightsdesk.languages import _clusters

MAX_N = 4  # letters in the longest n-gram (a Thai or Burmese letter with its signs is one)
STEPS = 300
STEP_SIZE = 0.05


def features(words: Sequence[str]) -> frozenset[str]:
    """The features of a message's folded tokens (as :func:`rightsdesk.languages.tokens`)."""
    return _features(tuple(words))


# Both models read every message's features, one right after the other: a short memory
# spares the second from computing them again.
@functools.lru_cache(maxsize=16)
def _features(words: tuple[str, ...]) -> frozenset[str]:
    out: set[str] = set()
    for word in words:
        out |= _word_features(word)
    for a, b in itertools.pairwise(words):
        out.add(f"b:{a} {b}")
    return frozenset(out)


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


class BinaryModel:
    """A logistic regression: one weight per feature, and a bias."""

    def __init__(self, weights: dict[str, float], bias: float) -> None:
        self.weights = weights
        self.bias = bias

    def probability(self, words: Sequence[str]) -> float:
        """The probability of the class the model was trained to find, for these tokens."""
        feats = features(words)
        get = self.weights.get
        total = sum(w for w in map(get, feats) if w is not None)
        return _logistic(self.bias + (total / math.sqrt(len(feats)) if feats else 0.0))


def buckets(words: Sequence[str], bits: int) -> frozenset[int]:
    """The features of ``words`` hashed into ``2**bits`` buckets (CRC-32, the same on every
    machine and in every process, where Python's own hash of a string is not)."""
    mask = (1 << bits) - 1
    return frozenset(zlib.crc32(f.encode()) & mask for f in features(words))


class HashedModel:
    """A logistic regression on hashed features: one weight per bucket, in one array of
    four-byte floats. A dictionary from feature to weight costs about 120 bytes a feature;
    155,000 features (the scope model's) would have cost 19 MB, this costs ``4 * 2**bits``."""

    def __init__(self, weights: array[float], bias: float, bits: int) -> None:
        if len(weights) != 1 << bits:
            raise ValueError(f"expected {1 << bits} weights, got {len(weights)}")
        self.weights = weights
        self.bias = bias
        self.bits = bits

    def probability(self, words: Sequence[str]) -> float:
        """The probability of the class the model was trained to find, for these tokens."""
        hit = buckets(words, self.bits)
        weights = self.weights
        total = sum(weights[i] for i in hit)
        return _logistic(self.bias + (total / math.sqrt(len(hit)) if hit else 0.0))


def _logistic(score: float) -> float:
    # Written so that exp() cannot overflow, however large the score.
    if score >= 0:
        return 1 / (1 + math.exp(-score))
    e = math.exp(score)
    return e / (1 + e)


def fit_hashed(
    messages: Iterable[tuple[Sequence[str], bool]], l2: float, *, bits: int, digits: int
) -> HashedModel:
    """Fit a :class:`HashedModel` on (tokens, in the class or not) pairs."""
    rows, labels = [], []
    for words, positive in messages:
        rows.append(sorted(buckets(words, bits)))
        labels.append(int(positive))
    vocab, w, b = fit(rows, labels, 2, l2)
    diff = w[:, 1] - w[:, 0]
    weights = array("f", bytes(4 << bits))
    for bucket, column in vocab.items():
        weights[bucket] = round(float(diff[column]), digits)
    return HashedModel(weights, round(float(b[1] - b[0]), digits), bits)


def fit_binary(
    messages: Iterable[tuple[Sequence[str], bool]], l2: float, *, prune: float, digits: int
) -> BinaryModel:
    """Fit a :class:`BinaryModel` on (tokens, in the class or not) pairs; weights below
    ``prune`` are left out, the rest rounded to ``digits``."""
    rows, labels = [], []
    for words, positive in messages:
        rows.append(sorted(features(words)))
        labels.append(int(positive))
    vocab, w, b = fit(rows, labels, 2, l2)
    # A softmax over two classes is a logistic regression on the difference of their scores.
    diff = w[:, 1] - w[:, 0]
    weights = {
        f: round(float(diff[i]), digits)
        for f, i in sorted(vocab.items())
        if abs(float(diff[i])) >= prune
    }
    return BinaryModel(weights, round(float(b[1] - b[0]), digits))


def dump_binary(model: BinaryModel, header: Sequence[str]) -> str:
    """The file of a binary model: the ``header`` lines (each starts with "# "), its bias,
    then one line per feature."""
    lines = [*header, f"# bias {model.bias:g}"]
    for name, weight in sorted(model.weights.items()):
        lines.append(f"{name}\t{weight:g}")
    return "\n".join(lines) + "\n"


def read_binary(path: Path) -> tuple[BinaryModel, str]:
    """The binary model in ``path`` and the hash of the data it was trained on."""
    weights, bias, trained_on = read_weights(path, 1)
    return BinaryModel({f: w for f, (w,) in weights.items()}, bias[0]), trained_on


# -- training (numpy only here, so that start-up does not need it) ---------------------------


def fit(
    rows: Sequence[Sequence[Hashable]],
    labels: Sequence[int],
    c: int,
    l2: float,
    *,
    steps: int = STEPS,
    step_size: float = STEP_SIZE,
) -> tuple[dict[Any, int], Any, Any]:
    """A softmax regression over ``c`` classes on messages given as their features: the
    feature index, the weights (features x classes) and the biases."""
    import numpy as np

    vocab: dict[Any, int] = {}
    for feats in rows:
        for f in feats:
            vocab.setdefault(f, len(vocab))
    n, v = len(labels), len(vocab)
    r = np.array([i for i, fs in enumerate(rows) for _ in fs], dtype=np.int64)
    col = np.array([vocab[f] for fs in rows for f in fs], dtype=np.int64)
    counts = np.bincount(r, minlength=n).astype(float)
    val = 1 / np.sqrt(counts[r])
    target = np.eye(c)[np.array(labels)]
    share = (np.ones(n) / n)[:, None]  # each message counts alike in the loss
    w = np.zeros((v, c))
    b = np.zeros(c)
    m_w, v_w, m_b, v_b = np.zeros_like(w), np.zeros_like(w), np.zeros(c), np.zeros(c)
    for t in range(1, steps + 1):
        z = b + np.stack(
            [np.bincount(r, weights=w[col, k] * val, minlength=n) for k in range(c)], 1
        ).astype(float)
        z -= z.max(1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(1, keepdims=True)
        g = (p - target) * share
        g_w = l2 * w + np.stack(
            [np.bincount(col, weights=g[r, k] * val, minlength=v) for k in range(c)], 1
        ).astype(float)
        g_b = g.sum(0)
        m_w = 0.9 * m_w + 0.1 * g_w
        v_w = 0.999 * v_w + 0.001 * g_w**2
        m_b = 0.9 * m_b + 0.1 * g_b
        v_b = 0.999 * v_b + 0.001 * g_b**2
        w -= step_size * (m_w / (1 - 0.9**t)) / (np.sqrt(v_w / (1 - 0.999**t)) + 1e-8)
        b -= step_size * (m_b / (1 - 0.9**t)) / (np.sqrt(v_b / (1 - 0.999**t)) + 1e-8)
    return vocab, w, b


# -- the shipped files ---------------------------------------------------------------------


def read_weights(
    path: Path, width: int
) -> tuple[dict[str, tuple[float, ...]], tuple[float, ...], str]:
    """A model file's features with their ``width`` weights each, its bias line and the hash
    of the data it was trained on."""
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
        if not name or len(numbers) != width:
            raise ValueError(f"{path}:{number}: expected a feature and {width} weight(s)")
        weights[name] = numbers
    if len(bias) != width:
        raise ValueError(f"{path}: expected a line '# bias' with {width} number(s)")
    return weights, bias, trained_on


def dump_hashed(model: HashedModel, header: Sequence[str]) -> str:
    """The file of a hashed model: the ``header`` lines (each starts with "# "), its number
    of bits and its bias, then "bucket<TAB>weight" for every bucket whose weight is not 0."""
    lines = [*header, f"# bits {model.bits}", f"# bias {model.bias:g}"]
    lines += [f"{i}\t{w:g}" for i, w in enumerate(model.weights) if w]
    return "\n".join(lines) + "\n"


MAX_BITS = 24  # 64 MB of weights: a file asking for more is broken, not a bigger model


def read_hashed(path: Path) -> tuple[HashedModel, str]:
    """The hashed model in ``path`` and the hash of the data it was trained on. Read line by
    line into the array, which "# bits" sizes before the first weight: holding the file's
    118,000 lines as strings first would have raised the bot's peak memory."""
    bits = bias = None
    trained_on = ""
    weights: array[float] | None = None
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            line = line.rstrip("\n")
            try:
                if line.startswith("# data "):
                    trained_on = line[len("# data ") :].strip()
                elif line.startswith("# bits "):
                    bits = int(line[len("# bits ") :])
                    if not 1 <= bits <= MAX_BITS:
                        raise ValueError
                    weights = array("f", bytes(4 << bits))
                elif line.startswith("# bias "):
                    bias = float(line[len("# bias ") :])
                elif line and not line.startswith("#"):
                    key, value = line.split("\t")
                    if weights is None:
                        raise ValueError
                    bucket = int(key)
                    if not 0 <= bucket < len(weights):
                        raise ValueError(
                            f"{path}:{number}: bucket {bucket} is not below {len(weights)}"
                        )
                    weights[bucket] = float(value)
            except ValueError as error:
                if str(error).startswith(str(path)):
                    raise
                raise ValueError(
                    f"{path}:{number}: expected '# bits' (1 to {MAX_BITS}) before the weights,"
                    " then a bucket and its weight per line"
                ) from None
    if bits is None or bias is None or weights is None:
        raise ValueError(f"{path}: expected the lines '# bits' and '# bias'")
    return HashedModel(weights, bias, bits), trained_on
