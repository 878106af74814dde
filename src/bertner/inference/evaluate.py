"""Score a trained model on labelled sentences, and write the predictions and the error-analysis report.

The predicted entities' probabilities go with the evaluation, at T = 1 and with the model's calibration, so that
the report shows how well they are calibrated (evaluation/report/calibration.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bertner.data.conll import Sentence, format_predictions
from bertner.decoding.entities import score_entities
from bertner.decoding.words import WordScores
from bertner.evaluation.metrics import Scores, score
from bertner.evaluation.predictions import PredictionSet
from bertner.evaluation.report.calibration import EntityScores
from bertner.evaluation.report.write import BootstrapSettings, ReportFiles, write_report
from bertner.inference.model import InferenceModel
from bertner.inference.tagging import TaggingModel, tag_scores

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
    entity_scores: EntityScores | None = None
    """The predicted entities' probabilities, for the report's calibration section."""


def evaluate_sentences(
    model: TaggingModel | LoadedModel,
    sentences: Sequence[Sentence],
    batch_size: int = 64,
    progress: bool = False,
    word_scores: WordScores | None = None,
) -> Evaluation:
    """Predict and score. Gold types the model cannot predict are not an error here: the report lists them.
    `word_scores`: the model's scores of these sentences when they are at hand (not scored again)."""
    if hasattr(model, "tagger"):  # a LoadedModel: a run in memory, scored with PyTorch
        model = InferenceModel.from_loaded(model)  # type: ignore[arg-type]
    gold = [s.tags for s in sentences]
    if word_scores is None:
        word_scores = model.word_scores(
            [s.words for s in sentences], batch_size, progress, [s.document for s in sentences]
        )
    tagged = tag_scores(model, word_scores, batch_size, gold)
    calibration = model.calibration
    if calibration is None or calibration.is_identity:
        scores = EntityScores(raw=tagged.scores)
    else:
        raw = score_entities(word_scores, tagged.entities, model.labels.tags, None, batch_size)
        how = calibration.describe() + (f", fitted on {calibration.fitted_on}" if calibration.fitted_on else "")
        source = sentences[0].source if sentences else ""
        if source and calibration.fitted_on and source in calibration.fitted_on:
            flatters = ", which a score map fits to about 0" if calibration.score_map is not None else ""
            how += f"; measured here on the sentences it was fitted on (in-sample{flatters})"
        scores = EntityScores(raw=tuple(map(tuple, raw)), calibrated=tagged.scores, calibration=how)
    return Evaluation(sentences, tagged.tags, score(gold, tagged.tags), model.types, tagged.loss, scores)


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
        entity_scores=evaluation.entity_scores,
        extra_files={PREDICTIONS_FILE: predictions.encode("utf-8"), **(extra_files or {})},
    )
