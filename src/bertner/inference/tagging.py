"""Words -> IOB2 tags and entities with any model: one model on any backend, or an ensemble; decoding shared
(decoding/words.py).

Each entity comes with its probability (decoding/entities.py): the model's probability that exactly this span,
with this type, is an entity, read from the same scores the tags are decoded from (an ensemble's combined scores
and mean chain), with the model's calibration applied (decoding/temperature.py). The tags are decoded from the
raw scores, so a calibration changes the probabilities, never the entities.

Raw-text prediction and evaluation both come through here; nothing in this module imports the training
or report stack.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from bertner.config import Config
from bertner.data.alignment import IGNORE
from bertner.decoding.entities import score_entities
from bertner.decoding.temperature import Calibration
from bertner.decoding.words import WordScores, decode_words, word_loss
from bertner.evaluation.spans import Entity, chunks
from bertner.inference.hf_labels import ModelLabels
from bertner.labels import LabelSet, Scheme, to_iob2


class TaggingModel(Protocol):
    """What tagging, evaluation, the Predictor and the server need of a model.

    Two kinds: one model on one backend (`InferenceModel`, inference/load.py) and an ensemble of them
    (`EnsembleModel`, inference/ensemble/model.py). Each gives per-word scores in the order of `labels`; decoding,
    the loss and the conversion to IOB2 are done here, the same for both.
    """

    @property
    def labels(self) -> ModelLabels:
        """The model's tags in id order, and their scheme (predictions are converted to IOB2 from it)."""

    @property
    def types(self) -> tuple[str, ...]: ...

    @property
    def config(self) -> Config:
        """Its settings; `config.data` says how labelled files are read for it."""

    @property
    def kind(self) -> str:
        """`run`, `export`, `hf` or `ensemble`."""

    @property
    def path(self) -> str:
        """Where it was loaded from (a folder or an HF hub id)."""

    @property
    def backend(self) -> str:
        """`torch` or `onnx` (an ensemble's distinct members' backends joined by `+`)."""

    @property
    def calibration(self) -> Calibration | None:
        """The temperature saved with the model (layout.CALIBRATION_FILE), applied to its entity probabilities;
        None: none was fitted (T = 1)."""

    def word_scores(
        self,
        words: Sequence[Sequence[str]],
        batch_size: int = 64,
        progress: bool = False,
        documents: Sequence[int] | None = None,
    ) -> WordScores:
        """Each word's scores, `len(words[s])` rows for sentence s; `documents` as in `tag_words`."""


@dataclass(frozen=True)
class TaggedWords:
    """Per sentence: the IOB2 tag of each word, its entities and each entity's probability; the loss on gold
    labels where given."""

    tags: tuple[tuple[str, ...], ...]
    entities: tuple[tuple[Entity, ...], ...]
    """The entities of each sentence's tags (evaluation/spans.py `chunks`), in order."""
    scores: tuple[tuple[float, ...], ...]
    """Each entity's probability under the model's calibration, parallel to `entities`."""
    loss: float | None = None


def tag_words(
    model: TaggingModel,
    words: Sequence[Sequence[str]],
    batch_size: int = 64,
    progress: bool = False,
    gold: Sequence[Sequence[str]] | None = None,
    documents: Sequence[int] | None = None,
) -> TaggedWords:
    """IOB2 tags, entities and their probabilities for each sentence, and the loss on `gold` if given.

    `documents[s]` is sentence s's document: a model trained with document context (`data.context`) sees
    the neighbouring sentences of the same document, in the order given. None: every sentence stands alone.

    The loss is taken only for a model whose labels are IOB2 (gold tags name its labels directly).
    """
    scores = model.word_scores(words, batch_size, progress, documents)
    return tag_scores(model, scores, batch_size, gold)


def tag_scores(
    model: TaggingModel,
    scores: WordScores,
    batch_size: int = 64,
    gold: Sequence[Sequence[str]] | None = None,
) -> TaggedWords:
    """`tag_words` on the scores `model.word_scores` gave."""
    result = decode_words(scores, batch_size)
    label_set = LabelSet(model.labels.tags)
    loss = None
    if gold is not None and model.labels.scheme is Scheme.IOB2:
        ids = label_set.label2id
        loss = word_loss(scores, [[ids.get(tag, IGNORE) for tag in row] for row in gold])
    labels = label_set.labels
    tags = [[labels[i] for i in row] for row in result.label_ids]
    if model.labels.scheme is not Scheme.IOB2:
        tags = [to_iob2(row, model.labels.scheme) for row in tags]
    entities = [chunks(row) for row in tags]
    probabilities = score_entities(scores, entities, labels, model.calibration, batch_size)
    return TaggedWords(
        tuple(tuple(row) for row in tags),
        tuple(tuple(row) for row in entities),
        tuple(tuple(row) for row in probabilities),
        loss,
    )
