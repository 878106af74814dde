"""Brute force over every tag path of a numpy chain at a temperature: the oracle of the teacher's word distributions."""

from __future__ import annotations

import itertools

import numpy as np

from bertner.decoding.chain import IMPOSSIBLE, LinearChain


def brute_word_distributions(chain: LinearChain, emissions: np.ndarray, temperature: float) -> np.ndarray:
    """(words, num_tags): P(y_t = j) with every score of the chain and the emissions divided by `temperature`,
    forbidden moves scoring IMPOSSIBLE; every path scored from the parameters directly."""
    start = np.where(chain.allowed_start, chain.start / temperature, IMPOSSIBLE)
    moves = np.where(chain.allowed, chain.transitions / temperature, IMPOSSIBLE)
    end = chain.end / temperature
    words, tags = emissions.shape
    paths = np.array(list(itertools.product(range(tags), repeat=words)), dtype=np.int64).reshape(-1, words)
    scores = start[paths[:, 0]] + end[paths[:, -1]] + (emissions[np.arange(words), paths] / temperature).sum(axis=1)
    scores += moves[paths[:, :-1], paths[:, 1:]].sum(axis=1)
    weights = np.exp(scores - scores.max())
    weights /= weights.sum()
    out = np.zeros((words, tags))
    for t in range(words):
        np.add.at(out[t], paths[:, t], weights)
    return out
