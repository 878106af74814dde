"""Words -> IOB2 tags with any backend: windows, batching and decoding shared (model/decode.py).

Raw-text prediction and evaluation both come through here; nothing in this module imports the training
or report stack.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bertner.data.alignment import IGNORE
from bertner.data.encoding import EncodingPlan, encode
from bertner.inference.loading import InferenceModel
from bertner.labels import Scheme, to_iob2
from bertner.model.decode import predict_words


@dataclass(frozen=True)
class TaggedWords:
    """Per sentence, per word: the IOB2 tag and its probability; the loss on gold labels where given."""

    tags: tuple[tuple[str, ...], ...]
    confidences: tuple[tuple[float, ...], ...]
    loss: float | None = None


def tag_words(
    model: InferenceModel,
    words: Sequence[Sequence[str]],
    batch_size: int = 64,
    progress: bool = False,
    gold: Sequence[Sequence[str]] | None = None,
    documents: Sequence[int] | None = None,
) -> TaggedWords:
    """IOB2 tags and their probabilities for each word of each sentence, and the loss on `gold` if given.

    `documents[s]` is sentence s's document: a model trained with document context (`data.context`) sees
    the neighbouring sentences of the same document, in the order given. None: every sentence stands alone.

    The loss is taken only for a model whose labels are IOB2 (gold tags name its labels directly).
    """
    label_set = model.label_set
    plan = EncodingPlan.for_config(model.config.data, model.tokenizer, label_set)
    windows = encode(plan, words, documents=documents)
    ids = label_set.label2id
    gold_ids = None
    if gold is not None and model.labels.scheme is Scheme.IOB2:
        gold_ids = [[ids.get(tag, IGNORE) for tag in row] for row in gold]
    result = predict_words(
        model.scorer,
        windows,
        [len(w) for w in words],
        model.tokenizer.pad_token_id,
        batch_size,
        progress,
        gold_ids,
    )
    labels = label_set.labels
    tags = [[labels[i] for i in row] for row in result.label_ids]
    if model.labels.scheme is not Scheme.IOB2:
        tags = [to_iob2(row, model.labels.scheme) for row in tags]
    return TaggedWords(tuple(tuple(row) for row in tags), result.confidences, result.loss)
