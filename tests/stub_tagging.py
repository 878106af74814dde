"""A TaggingModel whose word distributions are chosen by the test: the oracle for audit and selection tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from bertner.config import Config
from bertner.decoding.chain import LinearChain
from bertner.decoding.words import WordScores
from bertner.inference.hf_labels import ModelLabels
from bertner.labels import Scheme

TAGS = ("O", "B-LOC", "I-LOC", "B-PER", "I-PER")


@dataclass(frozen=True)
class StubModel:
    """Scores each sentence with `scores(words)`, a (words, len(tags)) array: log-probabilities (no chain) or
    emissions (with `chain`, a CRF)."""

    scores: Callable[[Sequence[str]], np.ndarray]
    tags: tuple[str, ...] = TAGS
    chain: LinearChain | None = None
    scheme: Scheme = Scheme.IOB2
    path: str = "stub"
    kind: str = "run"
    backend: str = "torch"
    config: Config = field(default_factory=Config)

    @property
    def labels(self) -> ModelLabels:
        return ModelLabels(self.tags, self.scheme)

    @property
    def types(self) -> tuple[str, ...]:
        return self.labels.types

    def word_scores(
        self,
        words: Sequence[Sequence[str]],
        batch_size: int = 64,
        progress: bool = False,
        documents: Sequence[int] | None = None,
    ) -> WordScores:
        rows = [np.asarray(self.scores(sentence), dtype=np.float64) for sentence in words]
        offsets = np.concatenate([[0], np.cumsum([len(row) for row in rows])]).astype(np.int64)
        logits = np.concatenate(rows) if rows else np.zeros((0, len(self.tags)))
        return WordScores(logits.astype(np.float32), offsets, self.chain)


def knowing(truth: dict[tuple[str, ...], Sequence[str]], tags: Sequence[str] = TAGS, sure: float = 0.9) -> Callable:
    """Scores that put `sure` on each word's true tag (truth[words]) and share the rest among the others."""

    def scores(words: Sequence[str]) -> np.ndarray:
        true = truth[tuple(words)]
        probabilities = np.full((len(words), len(tags)), (1 - sure) / (len(tags) - 1))
        probabilities[np.arange(len(words)), [tags.index(tag) for tag in true]] = sure
        return np.log(probabilities)

    return scores
