"""Score a trained model on labelled sentences, and write the predictions and the error-analysis report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bertner.data.conll import Sentence, format_predictions
from bertner.evaluation.metrics import Scores, score
from bertner.evaluation.predictions import PredictionSet
from bertner.evaluation.report.write import BootstrapSettings, ReportFiles, write_report
from bertner.inference.model import InferenceModel
from bertner.inference.tagging import TaggingModel, tag_words

if TYPE_CHECKING:
    # model/build.py imports torch and transformers' model classes; an export is evaluated without them.
    from bertner.model.build import LoadedModel

PREDICTIONS_FILE = "predictions.conll"


@dataclass(frozen=True)
class Evaluation:
    sentences: Sequence[Sentence]
    predicted: tuple[tuple[str, ...], ...]
    scores: Scores
    model_types: tuple[str, ...]
    loss: float | None = None


def evaluate_sentences(
    model: TaggingModel | LoadedModel, sentences: Sequence[Sentence], batch_size: int = 64, progress: bool = False
) -> Evaluation:
    """Predict and score. Gold types the model cannot predict are not an error here: the report lists them."""
    if hasattr(model, "tagger"):  # a LoadedModel: a run in memory, scored with PyTorch
        model = InferenceModel.from_loaded(model)  # type: ignore[arg-type]
    gold = [s.tags for s in sentences]
    tagged = tag_words(model, [s.words for s in sentences], batch_size, progress, gold, [s.document for s in sentences])
    return Evaluation(sentences, tagged.tags, score(gold, tagged.tags), model.types, tagged.loss)


def write_evaluation(
    evaluation: Evaluation,
    output: Path,
    run_dir: Path | None = None,
    examples: int = 20,
    bootstrap: BootstrapSettings | None = None,
    extra_files: dict[str, bytes] | None = None,
) -> ReportFiles:
    """`predictions.conll` and the full report (metrics.json, confusions, errors, plots, report.md/.html), and
    `extra_files` (name: content) with them.

    All are staged and renamed into place together, metrics.json last (evaluation/report/write.py), so a crash
    never leaves a metrics.json beside the predictions of another evaluation.
    """
    predictions = format_predictions(evaluation.sentences, evaluation.predicted)
    return write_report(
        PredictionSet(tuple(evaluation.sentences), evaluation.predicted),
        output,
        run_dir=run_dir,
        examples=examples,
        bootstrap=bootstrap,
        model_types=evaluation.model_types,
        loss=evaluation.loss,
        extra_files={PREDICTIONS_FILE: predictions.encode("utf-8"), **(extra_files or {})},
    )
