"""Score a trained model on labelled sentences, and write the predictions and the error-analysis report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bertner.data.alignment import IGNORE
from bertner.data.conll import Sentence, format_predictions
from bertner.data.encoding import EncodingPlan, encode
from bertner.data.files import write_text_atomic
from bertner.evaluation.metrics import Scores, score
from bertner.evaluation.predictions import PredictionSet
from bertner.evaluation.report import BootstrapSettings, ReportFiles, write_report
from bertner.model.build import LoadedModel
from bertner.model.decode import predict_words

PREDICTIONS_FILE = "predictions.conll"


@dataclass(frozen=True)
class Evaluation:
    sentences: Sequence[Sentence]
    predicted: tuple[tuple[str, ...], ...]
    scores: Scores
    model_types: tuple[str, ...]
    loss: float | None = None


def predict_tags(
    model: LoadedModel,
    words: Sequence[Sequence[str]],
    batch_size: int = 64,
    progress: bool = False,
    gold: Sequence[Sequence[str]] | None = None,
) -> tuple[tuple[tuple[str, ...], ...], tuple[tuple[float, ...], ...], float | None]:
    """IOB2 tags and their probabilities for each word of each sentence, and the loss on `gold` if given."""
    ids = model.label_set.label2id
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
        None if gold is None else [[ids.get(tag, IGNORE) for tag in row] for row in gold],
    )
    labels = model.label_set.labels
    return tuple(tuple(labels[i] for i in row) for row in result.label_ids), result.confidences, result.loss


def evaluate_sentences(
    model: LoadedModel, sentences: Sequence[Sentence], batch_size: int = 64, progress: bool = False
) -> Evaluation:
    """Predict and score. Gold types the model cannot predict are not an error here: the report lists them."""
    gold = [s.tags for s in sentences]
    predicted, _, loss = predict_tags(model, [s.words for s in sentences], batch_size, progress, gold)
    return Evaluation(sentences, predicted, score(gold, predicted), model.label_set.types, loss)


def write_evaluation(
    evaluation: Evaluation,
    output: Path,
    run_dir: Path | None = None,
    examples: int = 20,
    bootstrap: BootstrapSettings | None = None,
) -> ReportFiles:
    """`predictions.conll` and the full report (metrics.json, confusions, errors, plots, report.md/.html)."""
    files = write_report(
        PredictionSet(tuple(evaluation.sentences), evaluation.predicted),
        output,
        run_dir=run_dir,
        examples=examples,
        bootstrap=bootstrap,
        model_types=evaluation.model_types,
        loss=evaluation.loss,
    )
    write_text_atomic(output / PREDICTIONS_FILE, format_predictions(evaluation.sentences, evaluation.predicted))
    return files
