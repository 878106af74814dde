"""Per-word scores of many sentences, and what is read from them: tags, word distributions, the word loss.

Scoring (model/decode.py's `score_words`, or any backend's) and decoding (`decode_words`) are separate
steps, so that per-word scores can be combined before they are decoded (an ensemble) and calibrated before
they are turned into probabilities (decoding/calibration.py). Everything here is numpy: an ONNX export
decodes without torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bertner.data.alignment import IGNORE
from bertner.decoding.chain import LinearChain
from bertner.decoding.marginals import forward_backward
from bertner.decoding.viterbi import viterbi


@dataclass(frozen=True)
class WordPredictions:
    """Per sentence, per word: the predicted label id and its probability."""

    label_ids: tuple[tuple[int, ...], ...]
    confidences: tuple[tuple[float, ...], ...]
    loss: float | None = None
    """Mean word-level cross-entropy of the gold labels under each word's softmax, when gold was given."""


@dataclass(frozen=True, eq=False)
class WordScores:
    """Per-word label scores of many sentences, before decoding: what an ensemble averages.

    Without a CRF, the softmax of a word's row is its label distribution; with one, the row is the word's
    emissions, and the CRF decodes each whole sentence.
    """

    logits: np.ndarray
    """(all words, num_labels) float32: sentence s's words are rows offsets[s]:offsets[s + 1]."""
    offsets: np.ndarray
    """(sentences + 1,) int64, from 0 to the number of words."""
    crf: LinearChain | None = None
    """The CRF whose transitions decode whole sentences, or None for a per-word argmax."""

    @property
    def num_sentences(self) -> int:
        return len(self.offsets) - 1

    @property
    def num_labels(self) -> int:
        return int(self.logits.shape[1])

    def sentences(self) -> list[np.ndarray]:
        """One (words, num_labels) view per sentence."""
        if self.num_sentences == 0:
            return []
        return np.split(self.logits, self.offsets[1:-1])


def decode_words(scores: WordScores, batch_size: int = 64) -> WordPredictions:
    """One (label id, probability) per word: the argmax of each word's softmax, or with a CRF the Viterbi path
    of each whole sentence (legal IOB2 across window boundaries too), with the softmax of the chosen tag's score.
    The CRF decodes `batch_size` sentences at a time."""
    if scores.num_sentences == 0:
        return WordPredictions((), ())
    probabilities = softmax(scores.logits)
    bounds = scores.offsets[1:-1]
    if scores.crf is None:
        best = probabilities.argmax(axis=1)
    else:
        paths = viterbi(scores.crf, scores.sentences(), batch_size)
        best = np.concatenate(paths) if paths else np.zeros(0, dtype=np.int64)
    chosen = probabilities[np.arange(len(best)), best]
    return WordPredictions(
        tuple(tuple(row.tolist()) for row in np.split(best, bounds)),
        tuple(tuple(row.tolist()) for row in np.split(chosen.astype(np.float64), bounds)),
    )


def word_marginals(scores: WordScores, batch_size: int = 64) -> np.ndarray:
    """(all words, num_labels) float64, each word's label distribution, rows as in `scores.logits`.

    Without a CRF, the softmax of the word's scores; with one, its forward-backward marginal P(y_t = j), which
    (unlike the softmax of the emissions) counts the transitions' evidence too.
    """
    if scores.crf is None:
        return softmax(scores.logits).astype(np.float64)
    return forward_backward(scores.crf, scores.logits, scores.offsets, batch_size).marginals()


def word_loss(scores: WordScores, gold_label_ids: Sequence[Sequence[int]]) -> float | None:
    """Mean cross-entropy of the gold labels under each word's softmax (for a CRF, of its emissions, not the
    CRF likelihood), over words whose gold label is known (not IGNORE); None when there is none."""
    if not len(scores.logits):
        return None
    # (all words,)
    targets = np.array([label for row in gold_label_ids for label in row], dtype=np.int64)
    if len(targets) != len(scores.logits):
        raise ValueError(f"gold labels for {len(targets)} words, scores for {len(scores.logits)}")
    known = targets != IGNORE
    if not known.any():
        return None
    # (known words, num_labels) in float64: the mean of many float32 terms
    logits = scores.logits[known].astype(np.float64)
    top = logits.max(axis=1, keepdims=True)
    log_z = np.log(np.exp(logits - top).sum(axis=1)) + top[:, 0]
    return float(np.mean(log_z - logits[np.arange(len(logits)), targets[known]]))


def softmax(logits: np.ndarray) -> np.ndarray:
    """The softmax of each row of a (rows, num_labels) array, in its precision, without overflow."""
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)
