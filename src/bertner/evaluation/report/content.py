"""What a report says: metrics, per-type scores, the error taxonomy, confusions, examples and plots, by file name."""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bertner.evaluation.confusion import ConfusionMatrix, entity_confusion, token_confusion
from bertner.evaluation.errors import ERROR_CATEGORIES, ErrorAnalysis, ErrorExample, analyse_errors, error_examples
from bertner.evaluation.metrics import Scores, score
from bertner.evaluation.predictions import PredictionSet, entity_types, type_coverage
from bertner.evaluation.report.calibration import EntityScores, calibration_section
from bertner.evaluation.report.document import (
    Block,
    Heading,
    Image,
    Paragraph,
    Preformatted,
    Table,
    render_html,
    render_markdown,
)
from bertner.evaluation.significance import ConfidenceInterval, bootstrap_f1, sentence_counts
from bertner.layout import EPOCH_METRICS_FILE
from bertner.runs import read_epoch_metrics

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BootstrapSettings:
    """How the confidence interval for F1 is computed (see :func:`~.significance.bootstrap_f1`)."""

    samples: int = 1000
    seed: int = 0
    confidence: float = 0.95


def _pct(value: float) -> str:
    return f"{value * 100:.2f}"


def _metrics(pred: PredictionSet, scores: Scores, interval: ConfidenceInterval, **extra: Any) -> dict[str, Any]:
    per_type = scores.per_type.values()
    macro = {
        "precision": sum(s.precision for s in per_type) / len(per_type) if per_type else 0.0,
        "recall": sum(s.recall for s in per_type) / len(per_type) if per_type else 0.0,
        "f1": scores.macro_f1,
    }
    entities = {
        "gold": {name: s.gold for name, s in scores.per_type.items()},
        "predicted": {name: s.predicted for name, s in scores.per_type.items()},
    }
    return {
        **scores.to_dict(),
        "macro": macro,
        "entities": entities,
        "sentences": len(pred.sentences),
        "bootstrap_f1": interval.to_dict(),
        **{key: value for key, value in extra.items() if value is not None},
    }


def _summary_blocks(metrics: Mapping[str, Any], interval: ConfidenceInterval) -> list[Block]:
    overall, macro = metrics["overall"], metrics["macro"]
    rows = [
        ("micro precision / recall / F1 (%)", " / ".join(_pct(overall[k]) for k in ("precision", "recall", "f1"))),
        (
            f"F1 {interval.confidence:.0%} bootstrap interval (%)",
            f"{_pct(interval.low)} – {_pct(interval.high)} ({interval.samples} samples, seed {interval.seed})",
        ),
        ("macro precision / recall / F1 (%)", " / ".join(_pct(macro[k]) for k in ("precision", "recall", "f1"))),
        ("token accuracy over words (%)", _pct(overall["accuracy"])),
        ("gold / predicted / correct entities", f"{overall['gold']} / {overall['predicted']} / {overall['correct']}"),
        ("sentences / words", f"{metrics['sentences']} / {overall['words']}"),
    ]
    if "loss" in metrics:
        rows.append(("loss", f"{metrics['loss']:.4f}"))
    blocks: list[Block] = [Heading("Summary"), Table(("metric", "value"), tuple(rows))]
    types = metrics.get("types", {})
    can = "cannot predict" if types.get("model_types_from") == "label set" else "never predicted"
    if types.get("gold_only"):
        blocks.append(Paragraph(f"Gold types the model {can} (all missed): {', '.join(types['gold_only'])}."))
    if types.get("model_only"):
        blocks.append(
            Paragraph(f"Predicted types the gold data lacks (all spurious): {', '.join(types['model_only'])}.")
        )
    return blocks


def _per_type_blocks(scores: Scores) -> list[Block]:
    rows = tuple(
        (name, _pct(s.precision), _pct(s.recall), _pct(s.f1), str(s.gold), str(s.predicted), str(s.correct))
        for name, s in scores.per_type.items()
    )
    header = ("type", "precision (%)", "recall (%)", "F1 (%)", "gold", "predicted", "correct")
    return [Heading("Per entity type"), Table(header, rows), Image("per_type.png", "per-type P/R/F1")]


def _error_blocks(analysis: ErrorAnalysis, top: int = 10) -> list[Block]:
    counts = analysis.counts()
    errors = sum(counts[c.value] for c in ERROR_CATEGORIES)
    per_type = analysis.per_type()
    header = ("category", "count", "share of errors (%)", *per_type)
    rows = tuple(
        (c.value, str(counts[c.value]), _pct(counts[c.value] / errors) if errors else "—")
        + tuple(str(per_type[t][c.value]) for t in per_type)
        for c in ERROR_CATEGORIES
    )
    confusions = analysis.confusions().most_common(top)
    return [
        Heading("Error taxonomy"),
        Paragraph(
            "Gold and predicted entities are paired one to one (exact matches first, then by most shared words); "
            "see docs/scoring.md. Missed + wrong_* = gold entities not found exactly (false negatives); "
            "spurious + wrong_* = predictions not exactly right (false positives). "
            "Errors are counted under the gold type, spurious ones under the predicted type."
        ),
        Table(header, rows),
        Heading("Most frequent confusions (gold type → predicted type, O = nothing)", 3),
        Table(("gold", "predicted", "count"), tuple((g, p, str(n)) for (g, p), n in confusions)),
    ]


def _matrix_blocks(matrix: ConfusionMatrix) -> list[Block]:
    rows = tuple((label, *map(str, row)) for label, row in zip(matrix.rows, matrix.counts, strict=True))
    return [
        Heading("Entity confusion"),
        Paragraph("Rows are gold types, columns predicted types; the diagonal holds correct and wrong-boundary pairs."),
        Table(("gold \\ predicted", *matrix.columns), rows),
        Image("entity_confusion.png", "entity confusion matrix"),
        Heading("Token confusion"),
        Paragraph("Word-level gold tag against predicted tag; raw and row-normalised counts are in the CSV files."),
        Image("token_confusion.png", "token confusion matrix"),
    ]


def _example_text(example: ErrorExample) -> str:
    gold, predicted = example.confusion
    entities = " vs ".join(marked for marked in (example.gold, example.predicted) if marked)
    lines = [f"{gold} → {predicted}: {entities}   ({example.where}, document {example.document})"]
    lines += [f"  before:    {text}" for text in example.before]
    lines += [f"  gold:      {example.gold_text}", f"  predicted: {example.predicted_text}"]
    lines += [f"  after:     {text}" for text in example.after]
    return "\n".join(lines)


def _example_blocks(examples: Mapping[str, Sequence[ErrorExample]]) -> list[Block]:
    blocks: list[Block] = [
        Heading("Example errors"),
        Paragraph("Per category, the most frequent confusion first (round robin over confusions, in file order)."),
    ]
    for category, chosen in examples.items():
        blocks.append(Heading(f"{category} ({len(chosen)} shown)", 3))
        if chosen:
            blocks.append(Preformatted("\n\n".join(_example_text(example) for example in chosen)))
    return blocks


def _training_plot(run_dir: Path | None) -> bytes | None:
    path = run_dir / EPOCH_METRICS_FILE if run_dir is not None else None
    if path is None or not path.is_file():
        return None
    from bertner.evaluation.plots import epoch_curves_png

    records = read_epoch_metrics(path)
    loss = [(r.epoch, r.train_loss) for r in records if r.train_loss is not None]
    valid = {
        name: [(r.epoch, value) for r in records if (value := getattr(r, name)) is not None]
        for name in ("precision", "recall", "f1")
    }
    return epoch_curves_png(loss, valid, title=run_dir.name if run_dir else "run")


def _type_coverage(
    gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]], model_types: Collection[str] | None
) -> dict[str, Any]:
    """Which types only one side has; without the model's label set, the types it did predict stand in."""
    known = entity_types(predicted) if model_types is None else model_types
    coverage = type_coverage(entity_types(gold), known)
    return {**coverage.to_dict(), "model_types_from": "predictions" if model_types is None else "label set"}


def _errors_json(analysis: ErrorAnalysis, chosen: Mapping[str, Sequence[ErrorExample]]) -> dict[str, Any]:
    return {
        "counts": analysis.counts(),
        "per_type": analysis.per_type(),
        "confusions": [{"gold": g, "predicted": p, "count": n} for (g, p), n in analysis.confusions().most_common()],
        "examples": {category: [example.to_dict() for example in examples] for category, examples in chosen.items()},
    }


def _plots_available() -> bool:
    """Whether matplotlib (the ``bertner[plots]`` extra) can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        logger.warning("matplotlib is not installed (pip install 'bertner[plots]'): the report has no plots")
        return False
    return True


def report_contents(
    pred: PredictionSet,
    run_dir: Path | None,
    examples: int,
    bootstrap: BootstrapSettings,
    model_types: Collection[str] | None,
    loss: float | None,
    entity_scores: EntityScores | None = None,
) -> dict[str, bytes]:
    """Every file of the report, by name; a calibration section where `entity_scores` are given."""
    plots = _plots_available()

    gold, predicted, sentences = pred.gold, pred.predicted, pred.sentences
    scores = score(gold, predicted)
    interval = bootstrap_f1(sentence_counts(gold, predicted), bootstrap.samples, bootstrap.seed, bootstrap.confidence)
    metrics = _metrics(pred, scores, interval, types=_type_coverage(gold, predicted, model_types), loss=loss)
    analysis = analyse_errors(gold, predicted)
    words, documents, where = (
        [s.words for s in sentences],
        [s.document for s in sentences],
        [s.where() for s in sentences],
    )
    chosen = error_examples(analysis, words, documents, examples, where=where)
    tokens, entities = token_confusion(gold, predicted), entity_confusion(analysis)
    images: dict[str, bytes] = {}
    if plots:
        from bertner.evaluation.plots import confusion_png, per_type_png

        images = {
            "token_confusion.png": confusion_png(tokens),
            "entity_confusion.png": confusion_png(entities, "Entity confusion (gold rows, predicted columns)"),
            "per_type.png": per_type_png(scores.per_type),
        }
    blocks: list[Block] = [Heading("Evaluation report", 1), Paragraph(f"Predictions: {sentences[0].source or '—'}")]
    blocks += _summary_blocks(metrics, interval) + _per_type_blocks(scores)
    if entity_scores is not None:
        metrics["calibration"], section, pictures = calibration_section(gold, predicted, entity_scores, plots)
        blocks += section
        images.update(pictures)
    blocks += _error_blocks(analysis) + _matrix_blocks(entities)
    training = _training_plot(run_dir) if plots else None
    if training is not None:
        images["training.png"] = training
        blocks += [Heading("Training"), Image("training.png", "train loss and validation scores per epoch")]
    blocks += _example_blocks(chosen)
    if not plots:
        blocks = [block for block in blocks if not isinstance(block, Image)]
        blocks.insert(1, Paragraph("No plots: matplotlib is not installed (pip install 'bertner[plots]')."))
    texts = {
        "metrics.json": json.dumps(metrics, indent=2, ensure_ascii=False) + "\n",
        "errors.json": json.dumps(_errors_json(analysis, chosen), indent=2, ensure_ascii=False) + "\n",
        "token_confusion.csv": tokens.to_csv(),
        "token_confusion_normalised.csv": tokens.to_csv(normalised=True),
        "entity_confusion.csv": entities.to_csv(),
        "report.md": render_markdown(blocks),
        "report.html": render_html(blocks, images, "bertner evaluation report"),
    }
    return {**{name: text.encode("utf-8") for name, text in texts.items()}, **images}
