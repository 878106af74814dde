"""Brute force over every tag path: the oracle of the numpy chain's Viterbi, marginals and entity probabilities."""

from __future__ import annotations

import itertools

import numpy as np

from bertner.decoding.chain import IMPOSSIBLE, LinearChain
from bertner.evaluation.spans import Entity, chunks
from bertner.labels import Scheme, to_iob2

IOB2_LABELS = ("O", "B-LOC", "I-LOC", "B-PER", "I-PER")


def random_chain(
    num_tags: int, seed: int, allowed: np.ndarray | None = None, start: np.ndarray | None = None
) -> LinearChain:
    """A float64 chain with scores large enough that transitions matter; `allowed`/`start`: its constraints."""
    rng = np.random.default_rng(seed)
    return LinearChain(
        transitions=rng.normal(0.0, 1.0, (num_tags, num_tags)),
        start=rng.normal(0.0, 1.0, num_tags),
        end=rng.normal(0.0, 1.0, num_tags),
        allowed=np.ones((num_tags, num_tags), dtype=bool) if allowed is None else allowed,
        allowed_start=np.ones(num_tags, dtype=bool) if start is None else start,
    )


def iob2_constraints(labels: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """IOB2's table written out directly (I-X only after B-X or I-X, never first): independent of CRF.from_labels."""
    allowed = np.ones((len(labels), len(labels)), dtype=bool)
    start = np.ones(len(labels), dtype=bool)
    for to, label in enumerate(labels):
        if label.startswith("I-"):
            start[to] = False
            for prev, before in enumerate(labels):
                allowed[prev, to] = before in (f"B-{label[2:]}", label)
    return allowed, start


def all_paths(num_tags: int, length: int) -> np.ndarray:
    """(num_tags ** length, length): every tag path."""
    return np.array(list(itertools.product(range(num_tags), repeat=length)), dtype=np.int64).reshape(-1, length)


def path_probabilities(chain: LinearChain, emissions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every path of a sentence and its probability, each path scored directly from the chain's parameters."""
    paths = all_paths(chain.num_tags, len(emissions))
    start = np.where(chain.allowed_start, chain.start, IMPOSSIBLE)[paths[:, 0]]
    moves = np.where(chain.allowed, chain.transitions, IMPOSSIBLE)[paths[:, :-1], paths[:, 1:]].sum(axis=1)
    emitted = emissions[np.arange(len(emissions)), paths].sum(axis=1)
    scores = start + moves + emitted + chain.end[paths[:, -1]]
    weights = np.exp(scores - scores.max())
    return paths, weights / weights.sum()


def brute_marginals(chain: LinearChain, emissions: np.ndarray) -> np.ndarray:
    """(words, num_tags): P(y_t = j) summed over every path."""
    paths, probabilities = path_probabilities(chain, emissions)
    out = np.zeros(emissions.shape)
    for t in range(len(emissions)):
        np.add.at(out[t], paths[:, t], probabilities)
    return out


def brute_entity_probability(
    chain: LinearChain, emissions: np.ndarray, labels: tuple[str, ...], entity: Entity, scheme: Scheme = Scheme.IOB2
) -> float:
    """The summed probability of the paths whose tags, converted to IOB2 and read by conlleval, contain `entity`."""
    paths, probabilities = path_probabilities(chain, emissions)
    total = 0.0
    for path, probability in zip(paths, probabilities, strict=True):
        tags = [labels[i] for i in path]
        if entity in chunks(tags if scheme is Scheme.IOB2 else to_iob2(tags, scheme)):
            total += probability
    return total


def flat(sentences: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Sentences' (words, num_tags) arrays as one (all words, num_tags) array and its offsets."""
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in sentences])]).astype(np.int64)
    width = sentences[0].shape[1] if sentences else 0
    return (np.concatenate(sentences) if sentences else np.zeros((0, width))), offsets


def brute_best_path(chain: LinearChain, emissions: np.ndarray) -> list[int]:
    paths, probabilities = path_probabilities(chain, emissions)
    return paths[int(np.argmax(probabilities))].tolist()
