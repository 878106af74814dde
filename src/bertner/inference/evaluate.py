"""Score a trained model on labelled sentences, and write `metrics.json` and `predictions.conll`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bertner.data.conll import Sentence, check_known_tags, format_predictions
from bertner.data.encoding import EncodingPlan, encode
from bertner.data.files import write_text_atomic
from bertner.evaluation.metrics import Scores, score
from bertner.model.build import LoadedModel
from bertner.model.decode import predict_words

METRICS_FILE = "metrics.json"
PREDICTIONS_FILE = "predictions.conll"


@dataclass(frozen=True)
class Evaluation:
    sentences: Sequence[Sentence]
    predicted: tuple[tuple[str, ...], ...]
    scores: Scores


def predict_tags(
    model: LoadedModel, words: Sequence[Sequence[str]], batch_size: int = 64, progress: bool = False
) -> tuple[tuple[tuple[str, ...], ...], tuple[tuple[float, ...], ...]]:
    """IOB2 tags and their probabilities for each word of each sentence."""
    plan = EncodingPlan.for_config(model.config.data, model.tokenizer, model.label_set)
    windows = encode(plan, words)
    result = predict_words(
        model.tagger,
        windows,
        [len(w) for w in words],
        model.tokenizer.pad_token_id,
        batch_size,
        model.config.train.bf16,
        progress,
    )
    labels = model.label_set.labels
    return tuple(tuple(labels[i] for i in row) for row in result.label_ids), result.confidences


def evaluate_sentences(
    model: LoadedModel, sentences: Sequence[Sentence], batch_size: int = 64, progress: bool = False
) -> Evaluation:
    check_known_tags(sentences, model.label_set.labels)
    predicted, _ = predict_tags(model, [s.words for s in sentences], batch_size, progress)
    return Evaluation(sentences, predicted, score([s.tags for s in sentences], predicted))


def write_evaluation(evaluation: Evaluation, output: Path) -> None:
    """Both files are written whole or not at all."""
    metrics = json.dumps(evaluation.scores.to_dict(), indent=2) + "\n"
    predictions = format_predictions(evaluation.sentences, evaluation.predicted)
    write_text_atomic(output / METRICS_FILE, metrics)
    write_text_atomic(output / PREDICTIONS_FILE, predictions)
