"""How uncertain a model is about a text, from its words' marginals: the scores active learning ranks a pool by.

A text's words t = 1..N (all its sentences' words) each have a marginal distribution p_t over the model's K
labels (inference/probabilities.py: the softmax without a CRF, the forward-backward marginal with one, the
members' mean for an ensemble). Write p_t(1) >= p_t(2) for its two largest values. A higher score means more
informative. The first three scores are length-normalised, so that a long text does not win by its length alone
(Shen et al. 2018, "Deep active learning for named entity recognition", normalise their sequence scores by length
for the same reason): they suit a budget counted in words. The last is not: where the budget counts texts (an
annotator's task is a text, whatever its length), a long text holds more to learn for the same cost.

    entropy           U = (1/N) * sum_t H(p_t),  H(p) = -sum_j p_j log p_j   (nats; token entropy, the mean over
                                                                              words: Settles & Craven 2008)
    margin            U = (1/N) * sum_t (1 - (p_t(1) - p_t(2)))              (a small gap between the two best
                                                                              tags of a word is uncertainty)
    least-confidence  U = 1 - (prod_t p_t(1)) ** (1/N)
                        = 1 - exp((1/N) * sum_t log p_t(1))                  (one minus the sequence's confidence,
                                                                              length-normalised: Shen et al.'s
                                                                              MNLP in probability form)
    total-entropy     U = sum_t H(p_t)                                       (Settles & Craven's total token
                                                                              entropy: the entropy of all the
                                                                              text's words, not normalised)

The sequence's confidence in least-confidence is the product of its words' best marginals: the probability of
the best path when words are independent (no CRF); with a CRF it reads the marginals the same way rather than
the Viterbi path's probability, so that all three scores come from the same marginals for every model.
`random` (the baseline) ranks by a seeded uniform draw instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

STRATEGIES = ("entropy", "margin", "least-confidence", "total-entropy", "random")
MODEL_STRATEGIES = STRATEGIES[:4]

# log(0) guard: a marginal of exactly 0 contributes 0 to the entropy, and the best marginal is never below 1/K
_TINY = 1e-300


def uncertainty(marginals: np.ndarray, strategy: str) -> float:
    """The score of one text (see the module) from its (words, num_labels) marginals; at least one word."""
    if strategy not in MODEL_STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(MODEL_STRATEGIES)}, not {strategy!r}")
    if marginals.ndim != 2 or len(marginals) == 0:
        raise ValueError(f"expected (words >= 1, num_labels) marginals, got shape {marginals.shape}")
    p = np.asarray(marginals, dtype=np.float64)
    if strategy in ("entropy", "total-entropy"):
        # (words,)
        entropy = -(p * np.log(np.maximum(p, _TINY))).sum(axis=1)
        return float(entropy.mean() if strategy == "entropy" else entropy.sum())
    # (words, num_labels), each row descending
    ordered = -np.sort(-p, axis=1)
    if strategy == "margin":
        second = ordered[:, 1] if p.shape[1] > 1 else np.zeros(len(p))
        return float((1.0 - (ordered[:, 0] - second)).mean())
    return float(1.0 - np.exp(np.log(np.maximum(ordered[:, 0], _TINY)).mean()))


def text_uncertainties(
    marginals: Sequence[np.ndarray], text_of_sentence: Sequence[int], texts: int, strategy: str
) -> np.ndarray:
    """(texts,) float64: each text's score from its sentences' marginals (sentence s belongs to text
    `text_of_sentence[s]`); NaN for a text with no words."""
    if len(marginals) != len(text_of_sentence):
        raise ValueError(f"marginals of {len(marginals)} sentences, texts given for {len(text_of_sentence)}")
    rows: list[list[np.ndarray]] = [[] for _ in range(texts)]
    for sentence, text in zip(marginals, text_of_sentence, strict=True):
        rows[text].append(sentence)
    scores = np.full(texts, np.nan)
    for text, parts in enumerate(rows):
        words = np.concatenate(parts) if parts else np.zeros((0, 0))
        if len(words):
            scores[text] = uncertainty(words, strategy)
    return scores


def ranking(scores: np.ndarray | None, count: int, strategy: str, seed: int) -> list[int]:
    """Text indices, most informative first: by descending score (ties in input order), or for `random` a seeded
    permutation of `count` texts (`scores` unused). NaN scores (no words) come last."""
    if strategy == "random":
        return [int(i) for i in np.random.default_rng(seed).permutation(count)]
    if strategy not in MODEL_STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, not {strategy!r}")
    assert scores is not None and len(scores) == count
    keyed = np.where(np.isnan(scores), -np.inf, scores)
    return [int(i) for i in np.argsort(-keyed, kind="stable")]
