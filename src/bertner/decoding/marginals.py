"""Forward-backward over a linear chain in log space: each word's tag distribution, and the probability of
stretches of words carrying given tags (what an entity's score is made of, decoding/entities.py).

The chain defines P(y) = exp(score(y)) / Z over all tag paths y of a sentence (decoding/chain.py; a forbidden
move scores IMPOSSIBLE, so its paths have probability exp(-10000) = 0 in float64). With

    alpha[t, j] = log of the summed exp-scores of the paths over words 0..t that end in tag j at word t
                  (word t's emission included),
    beta[t, i]  = log of the summed exp-scores of the ways to finish the sentence after word t from tag i
                  (the end score included, word t's emission not),

a word's marginal is P(y_t = j) = exp(alpha[t, j] + beta[t, j] - log Z), and the probability that words
first..first+k-1 carry tags from the sets M_0..M_k-1 is a forward pass restricted to those sets, started
from alpha at `first` and closed with beta at the last of them (`Posterior.log_probabilities`, which runs
many such stretches at once, one numpy step per word of the longest).

Everything is in float64 whatever the chain's precision: the sums of many small probabilities need it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bertner.decoding.chain import LinearChain


@dataclass(frozen=True, eq=False)
class Posterior:
    """The forward-backward tables of many sentences, flat as in WordScores; build them with `forward_backward`."""

    emissions: np.ndarray
    """(all words, num_tags) float64, the scores the tables were computed from."""
    offsets: np.ndarray
    """(sentences + 1,) int64: sentence s's words are rows offsets[s]:offsets[s + 1]."""
    transitions: np.ndarray
    """(num_tags, num_tags) float64, the chain's transitions with its constraints applied."""
    log_alpha: np.ndarray
    """(all words, num_tags) float64, see the module."""
    log_beta: np.ndarray
    """(all words, num_tags) float64, see the module."""
    log_z: np.ndarray
    """(sentences,) float64, the log of the summed exp-scores of each sentence's paths; 0 for no words."""

    def sentence_of_words(self) -> np.ndarray:
        """(all words,) int64: the sentence of each word."""
        return np.repeat(np.arange(len(self.log_z)), np.diff(self.offsets))

    def marginals(self) -> np.ndarray:
        """(all words, num_tags) float64: P(y_t = j), each row summing to 1."""
        return np.exp(self.log_alpha + self.log_beta - self.log_z[self.sentence_of_words()][:, None])

    def log_probability(self, sentence: int, first: int, masks: np.ndarray) -> float:
        """log P(words first.. of `sentence` carry tags in masks[0], masks[1], ...); masks is (k, num_tags) bool."""
        begin, end = int(self.offsets[sentence]), int(self.offsets[sentence + 1])
        if len(masks) < 1 or first < 0 or begin + first + len(masks) > end:
            fits = f"a stretch of {len(masks)} words at word {first} does not fit"
            raise ValueError(f"{fits} sentence {sentence} of {end - begin} words")
        found = self.log_probabilities(np.array([begin + first]), masks[None], np.array([len(masks)]))
        return float(found[0])

    def log_probabilities(self, firsts: np.ndarray, masks: np.ndarray, steps: np.ndarray) -> np.ndarray:
        """The log-probabilities of many stretches at once; -inf for a stretch that no legal path takes.

        Args:
            firsts: (stretches,) int, the first word of each stretch, as a row of the flat tables.
            masks: (stretches, k, num_tags) bool, the tags each word of each stretch may carry.
            steps: (stretches,) int in 1..k, each stretch's own length (its masks past it are ignored). A stretch
                must end inside its sentence; this is the caller's to ensure.

        Returns:
            (stretches,) float64.
        """
        if not len(firsts):
            return np.zeros(0)
        # Longest first, so that the stretches still going at each step are a prefix of the rest.
        order = np.argsort(-steps, kind="stable")
        firsts, masks, steps = firsts[order], masks[order], steps[order]
        # (stretches, num_tags): the paths up to the current word that met the masks so far
        alpha = np.where(masks[:, 0], self.log_alpha[firsts], -np.inf)
        for step in range(1, int(steps[0])):
            going = int(np.count_nonzero(steps > step))
            # (going, from, to)
            moved = (
                _logsumexp(alpha[:going, :, None] + self.transitions, axis=1) + self.emissions[firsts[:going] + step]
            )
            alpha[:going] = np.where(masks[:going, step], moved, -np.inf)
        sentences = self.sentence_of_words()[firsts]
        found = _logsumexp(alpha + self.log_beta[firsts + steps - 1], axis=1) - self.log_z[sentences]
        out = np.empty_like(found)
        out[order] = found
        return out


def forward_backward(chain: LinearChain, emissions: np.ndarray, offsets: np.ndarray, batch_size: int = 64) -> Posterior:
    """The forward-backward tables of every sentence, `batch_size` sentences of similar length at a time.

    Args:
        chain: the CRF's scores and constraints (`LinearChain.independent` for a model without a CRF).
        emissions: (all words, num_tags), sentence s's words are rows offsets[s]:offsets[s + 1].
        offsets: (sentences + 1,) int, from 0 to the number of words; a sentence may have no words.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if emissions.ndim != 2 or emissions.shape[1] != chain.num_tags:
        raise ValueError(f"emissions must be (words, {chain.num_tags}), got {emissions.shape}")
    offsets = np.asarray(offsets, dtype=np.int64)
    if offsets[0] != 0 or offsets[-1] != len(emissions) or (np.diff(offsets) < 0).any():
        raise ValueError(f"offsets must rise from 0 to {len(emissions)}, got {offsets.tolist()[:8]}...")
    start, transitions = (array.astype(np.float64) for array in chain.constrained())
    end = chain.end.astype(np.float64)
    scores = np.asarray(emissions, dtype=np.float64)
    log_alpha, log_beta = np.zeros_like(scores), np.zeros_like(scores)
    log_z = np.zeros(len(offsets) - 1)
    lengths = np.diff(offsets)
    order = [int(s) for s in np.argsort(-lengths, kind="stable") if lengths[s]]
    for begin in range(0, len(order), batch_size):
        chunk = order[begin : begin + batch_size]
        # (batch, seq_len), True at real words; their flat rows, in row-major order
        mask = np.arange(lengths[chunk[0]])[None, :] < lengths[chunk][:, None]
        flat = np.concatenate([np.arange(offsets[s], offsets[s + 1]) for s in chunk])
        padded = np.zeros((*mask.shape, chain.num_tags))
        padded[mask] = scores[flat]
        alpha, beta, log_z[chunk] = _tables(start, transitions, end, padded, lengths[chunk])
        log_alpha[flat], log_beta[flat] = alpha[mask], beta[mask]
    return Posterior(scores, offsets, transitions, log_alpha, log_beta, log_z)


def _tables(
    start: np.ndarray, transitions: np.ndarray, end: np.ndarray, emissions: np.ndarray, lengths: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Alpha, beta (batch, seq_len, num_tags) and log Z (batch,) of a padded batch of sentences of >= 1 word."""
    seq_len = emissions.shape[1]
    alpha = np.empty_like(emissions)
    alpha[:, 0] = start + emissions[:, 0]
    for t in range(1, seq_len):
        # (batch, from, to); padded positions get values that are never read
        alpha[:, t] = _logsumexp(alpha[:, t - 1, :, None] + transitions, axis=1) + emissions[:, t]
    beta = np.empty_like(emissions)
    beta[:, seq_len - 1] = end
    for t in range(seq_len - 2, -1, -1):
        # (batch, from, to): leave word t from `from`, enter word t + 1 in `to` and finish from there
        onward = _logsumexp(transitions + (emissions[:, t + 1] + beta[:, t + 1])[:, None, :], axis=2)
        # a sentence whose last word is t finishes right there
        beta[:, t] = np.where((t + 1 < lengths)[:, None], onward, end)
    log_z = _logsumexp(alpha[np.arange(len(lengths)), lengths - 1] + end, axis=1)
    return alpha, beta, log_z


def _logsumexp(values: np.ndarray, axis: int) -> np.ndarray:
    """log(sum(exp(values))) along `axis`, without overflow; -inf where every value is -inf."""
    top = values.max(axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        summed = np.log(np.exp(values - top).sum(axis=axis, keepdims=True))
    return np.squeeze(summed + top, axis=axis)
