"""An ensemble of models that tags as one: the members' per-word scores are combined, then decoded once.

Members are loaded models of any kind and backend (inference/load.py: run folders, ONNX exports, HF
token-classification models) with the same label set. Each member encodes the words with its own tokenizer
and its own data settings (windows, document context) and scores them per word (`InferenceModel.word_scores`),
so members need not share an encoder or a tokenizer. Their scores are put in the ensemble's label order and
combined word by word:

- No member has a CRF: the mean of the members' softmax distributions (each word's label probabilities).
  The ensemble's scores are the log of that mean, so the shared decoder (decoding/words.py) takes its argmax.
- Some member has a CRF: the mean of the members' per-word scores (emissions), decoded by Viterbi with a CRF
  whose start, end and transition scores are the mean of the members' (a member without a CRF counts as one
  with all-zero transition scores, its path score being the sum of its word scores, which its own argmax
  maximises). A path's ensemble score is then the mean of the members' path scores, and Viterbi finds the
  best path the members' CRFs all allow (IOB2 for bertner's). Adding a constant to all of a word's scores moves
  neither the best path nor the chain's probabilities, so a member's logits and its log-probabilities mix the same.

An entity's probability is read from these combined scores as from one model's (decoding/entities.py: the
product formula on the mean distributions, or the constrained forward-backward of the mean chain), with the
ensemble folder's own calibration (`calibration`), fitted on the combined scores by `bertner calibrate`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bertner.config import Config
from bertner.decoding.chain import mean_chain
from bertner.decoding.temperature import Calibration
from bertner.decoding.words import WordScores
from bertner.errors import UserError
from bertner.inference.hf_labels import ModelLabels
from bertner.inference.model import InferenceModel

ENSEMBLE_KIND = "ensemble"


@dataclass(frozen=True)
class EnsembleModel:
    """Members that tag as one model (a `TaggingModel`, inference/tagging.py); build it with `EnsembleModel.of`.

    `labels` are the ensemble's tags in id order (its first member's order); `config` is its first member's,
    with `model.encoder` naming every member's encoder, so labelled files are read with the first member's
    data settings while each member encodes with its own.
    """

    members: tuple[InferenceModel, ...]
    labels: ModelLabels
    config: Config
    path: str
    kind: str = ENSEMBLE_KIND
    calibration: Calibration | None = None
    """The ensemble folder's own temperature, fitted on its combined scores (members' own are not used)."""

    @classmethod
    def of(
        cls,
        members: Sequence[InferenceModel],
        path: str,
        labels: ModelLabels | None = None,
        calibration: Calibration | None = None,
    ) -> EnsembleModel:
        """An ensemble of `members`, whose labels must all be `labels` (default: the first member's) in any order.

        Raises UserError naming the first member whose label set or scheme differs.
        """
        if not members:
            raise UserError(f"{path}: an ensemble needs at least one member")
        labels = labels or members[0].labels
        for member in members:
            _check_labels(member, labels)
        first = members[0].config
        encoders = " + ".join(member.config.model.encoder for member in members)
        config = dataclasses.replace(first, model=dataclasses.replace(first.model, encoder=encoders))
        return cls(tuple(members), labels, config, path, calibration=calibration)

    @property
    def types(self) -> tuple[str, ...]:
        return self.labels.types

    @property
    def backend(self) -> str:
        return "+".join(dict.fromkeys(member.backend for member in self.members))

    def word_scores(
        self,
        words: Sequence[Sequence[str]],
        batch_size: int = 64,
        progress: bool = False,
        documents: Sequence[int] | None = None,
    ) -> WordScores:
        """The members' scores of the words, each from its own encoding of them, combined (see the module)."""
        scores = [
            in_label_order(member.word_scores(words, batch_size, progress, documents), member.labels.tags, self.labels)
            for member in self.members
        ]
        return average_scores(scores)


def _check_labels(member: InferenceModel, labels: ModelLabels) -> None:
    if set(member.labels.tags) != set(labels.tags) or len(member.labels.tags) != len(labels.tags):
        missing = sorted(set(labels.tags) - set(member.labels.tags))
        extra = sorted(set(member.labels.tags) - set(labels.tags))
        raise UserError(
            f"{member.path}: its labels are not the ensemble's (members must have the same label set): "
            f"it lacks {missing or 'none'} and has {extra or 'none'} besides"
        )
    if member.labels.scheme is not labels.scheme:
        raise UserError(
            f"{member.path}: its labels are {member.labels.scheme.value} tags, the ensemble's are "
            f"{labels.scheme.value}; members must have the same label set"
        )


def in_label_order(scores: WordScores, tags: Sequence[str], labels: ModelLabels) -> WordScores:
    """`scores` of a model whose label ids name `tags`, with their columns (and CRF) in `labels.tags` order."""
    columns = [list(tags).index(tag) for tag in labels.tags]
    if columns == list(range(len(columns))):
        return scores
    crf = None if scores.crf is None else scores.crf.permuted(columns)
    # (all words, num_labels), the columns reordered
    return WordScores(np.ascontiguousarray(scores.logits[:, columns]), scores.offsets, crf)


def average_scores(members: Sequence[WordScores]) -> WordScores:
    """The members' scores of the same words, in the same label order, combined as the module describes."""
    first = members[0]
    for scores in members[1:]:
        assert np.array_equal(scores.offsets, first.offsets), "members scored different sentences"
        assert scores.num_labels == first.num_labels, "members scored different label sets"
    if all(scores.crf is None for scores in members):
        # (members, all words, num_labels): log-probabilities in float64, so that a word's mean probability is
        # exact to float32 and its log never underflows (log-sum-exp, not log(mean(exp))).
        log_probabilities = np.stack([_log_softmax(s.logits.astype(np.float64)) for s in members])
        top = log_probabilities.max(axis=0)
        mean = np.log(np.exp(log_probabilities - top).sum(axis=0)) + top - math.log(len(members))
        return WordScores(mean.astype(np.float32), first.offsets)
    # (all words, num_labels); a sum then one division, so that identical members give their own scores exactly
    emissions = sum((scores.logits for scores in members), np.zeros_like(first.logits)) / len(members)
    return WordScores(emissions.astype(np.float32), first.offsets, mean_chain([s.crf for s in members]))


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    """(words, num_labels): each row's log-softmax."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
