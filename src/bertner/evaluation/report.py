"""The error-analysis report of one prediction set: metrics, confusions, error taxonomy, examples, plots.

:func:`write_report` puts these files in the output folder:

- ``metrics.json``: micro and macro P/R/F1, per-type scores, token accuracy, entity counts per type,
  a bootstrap confidence interval for F1, and which types only one side has;
- ``errors.json``: the error taxonomy (counts overall and per type, confusion pairs) and examples;
- ``token_confusion.csv``, ``token_confusion_normalised.csv``, ``entity_confusion.csv``;
- ``token_confusion.png``, ``entity_confusion.png``, ``per_type.png``, and ``training.png`` when the
  run directory has a ``metrics.jsonl``;
- ``report.md`` (images linked) and ``report.html`` (images embedded, no external resources).

Everything is computed in memory first and written into a staging folder beside the output, and the
files are then renamed into place one by one; a failure leaves no partial file and no staging folder.
``metrics.json`` marks a whole report (issue 12): an old one is deleted before the first rename and the new
one is renamed in last, so a folder with a ``metrics.json`` never mixes files of two reports, whenever a
crash comes. Without matplotlib the report is written without its images, and says so.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bertner.evaluation.compare import read_epoch_metrics
from bertner.evaluation.confusion import ConfusionMatrix, entity_confusion, token_confusion
from bertner.evaluation.errors import ERROR_CATEGORIES, ErrorAnalysis, ErrorExample, analyse_errors, error_examples
from bertner.evaluation.metrics import Scores, score
from bertner.evaluation.predictions import PredictionSet, entity_types, type_coverage
from bertner.evaluation.significance import ConfidenceInterval, bootstrap_f1, sentence_counts
from bertner.layout import EPOCH_METRICS_FILE, SPLIT_METRICS

__all__ = ["BootstrapSettings", "ReportFiles", "write_report"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BootstrapSettings:
    """How the confidence interval for F1 is computed (see :func:`~.significance.bootstrap_f1`)."""

    samples: int = 1000
    seed: int = 0
    confidence: float = 0.95


@dataclass(frozen=True)
class ReportFiles:
    """The paths :func:`write_report` wrote, all inside ``directory``."""

    directory: Path
    metrics: Path
    errors: Path
    csvs: tuple[Path, ...]
    plots: tuple[Path, ...]
    markdown: Path
    html: Path

    @property
    def all(self) -> tuple[Path, ...]:
        """Every file written."""
        return (self.metrics, self.errors, *self.csvs, *self.plots, self.markdown, self.html)


# --- A tiny document model, rendered both as Markdown and as HTML so the two never drift apart. ---


@dataclass(frozen=True)
class _Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class _Paragraph:
    text: str


@dataclass(frozen=True)
class _Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class _Image:
    file: str
    alt: str


@dataclass(frozen=True)
class _Preformatted:
    text: str


_Block = _Heading | _Paragraph | _Table | _Image | _Preformatted

_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;color:#222}"
    "table{border-collapse:collapse;margin:0.5rem 0 1rem}th,td{border:1px solid #bbb;padding:0.2rem 0.5rem}"
    "td{text-align:right}td:first-child{text-align:left}th{background:#eee}"
    "pre{background:#f6f6f6;padding:0.5rem;overflow-x:auto;white-space:pre-wrap}img{max-width:100%}"
)


def _markdown_cell(text: str) -> str:
    return text.replace("|", "\\|")


def _render_markdown(blocks: Sequence[_Block]) -> str:
    out: list[str] = []
    for block in blocks:
        if isinstance(block, _Heading):
            out.append(f"{'#' * block.level} {block.text}")
        elif isinstance(block, _Paragraph):
            out.append(block.text)
        elif isinstance(block, _Table):
            out.append("| " + " | ".join(map(_markdown_cell, block.header)) + " |")
            out.append("|" + "---|" * len(block.header))
            out += ["| " + " | ".join(map(_markdown_cell, row)) + " |" for row in block.rows]
        elif isinstance(block, _Image):
            out.append(f"![{block.alt}]({block.file})")
        else:
            out.append(f"```\n{block.text}\n```")
        out.append("")
    return "\n".join(out)


def _render_html(blocks: Sequence[_Block], images: Mapping[str, bytes], title: str) -> str:
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
    ]
    for block in blocks:
        if isinstance(block, _Heading):
            out.append(f"<h{block.level}>{html.escape(block.text)}</h{block.level}>")
        elif isinstance(block, _Paragraph):
            out.append(f"<p>{html.escape(block.text)}</p>")
        elif isinstance(block, _Table):
            head = "".join(f"<th>{html.escape(cell)}</th>" for cell in block.header)
            body = "".join(
                "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in block.rows
            )
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif isinstance(block, _Image):
            data = base64.b64encode(images[block.file]).decode("ascii")
            out.append(f'<p><img alt="{html.escape(block.alt)}" src="data:image/png;base64,{data}"></p>')
        else:
            out.append(f"<pre>{html.escape(block.text)}</pre>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


# --- Content ---


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


def _summary_blocks(metrics: Mapping[str, Any], interval: ConfidenceInterval) -> list[_Block]:
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
    blocks: list[_Block] = [_Heading("Summary"), _Table(("metric", "value"), tuple(rows))]
    types = metrics.get("types", {})
    can = "cannot predict" if types.get("model_types_from") == "label set" else "never predicted"
    if types.get("gold_only"):
        blocks.append(_Paragraph(f"Gold types the model {can} (all missed): {', '.join(types['gold_only'])}."))
    if types.get("model_only"):
        blocks.append(
            _Paragraph(f"Predicted types the gold data lacks (all spurious): {', '.join(types['model_only'])}.")
        )
    return blocks


def _per_type_blocks(scores: Scores) -> list[_Block]:
    rows = tuple(
        (name, _pct(s.precision), _pct(s.recall), _pct(s.f1), str(s.gold), str(s.predicted), str(s.correct))
        for name, s in scores.per_type.items()
    )
    header = ("type", "precision (%)", "recall (%)", "F1 (%)", "gold", "predicted", "correct")
    return [_Heading("Per entity type"), _Table(header, rows), _Image("per_type.png", "per-type P/R/F1")]


def _error_blocks(analysis: ErrorAnalysis, top: int = 10) -> list[_Block]:
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
        _Heading("Error taxonomy"),
        _Paragraph(
            "Gold and predicted entities are paired one to one (exact matches first, then by most shared words); "
            "see docs/scoring.md. Missed + wrong_* = gold entities not found exactly (false negatives); "
            "spurious + wrong_* = predictions not exactly right (false positives). "
            "Errors are counted under the gold type, spurious ones under the predicted type."
        ),
        _Table(header, rows),
        _Heading("Most frequent confusions (gold type → predicted type, O = nothing)", 3),
        _Table(("gold", "predicted", "count"), tuple((g, p, str(n)) for (g, p), n in confusions)),
    ]


def _matrix_blocks(matrix: ConfusionMatrix) -> list[_Block]:
    rows = tuple((label, *map(str, row)) for label, row in zip(matrix.rows, matrix.counts, strict=True))
    return [
        _Heading("Entity confusion"),
        _Paragraph(
            "Rows are gold types, columns predicted types; the diagonal holds correct and wrong-boundary pairs."
        ),
        _Table(("gold \\ predicted", *matrix.columns), rows),
        _Image("entity_confusion.png", "entity confusion matrix"),
        _Heading("Token confusion"),
        _Paragraph("Word-level gold tag against predicted tag; raw and row-normalised counts are in the CSV files."),
        _Image("token_confusion.png", "token confusion matrix"),
    ]


def _example_text(example: ErrorExample) -> str:
    gold, predicted = example.confusion
    entities = " vs ".join(marked for marked in (example.gold, example.predicted) if marked)
    lines = [f"{gold} → {predicted}: {entities}   ({example.where}, document {example.document})"]
    lines += [f"  before:    {text}" for text in example.before]
    lines += [f"  gold:      {example.gold_text}", f"  predicted: {example.predicted_text}"]
    lines += [f"  after:     {text}" for text in example.after]
    return "\n".join(lines)


def _example_blocks(examples: Mapping[str, Sequence[ErrorExample]]) -> list[_Block]:
    blocks: list[_Block] = [
        _Heading("Example errors"),
        _Paragraph("Per category, the most frequent confusion first (round robin over confusions, in file order)."),
    ]
    for category, chosen in examples.items():
        blocks.append(_Heading(f"{category} ({len(chosen)} shown)", 3))
        if chosen:
            blocks.append(_Preformatted("\n\n".join(_example_text(example) for example in chosen)))
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


def _contents(
    pred: PredictionSet,
    run_dir: Path | None,
    examples: int,
    bootstrap: BootstrapSettings,
    model_types: Collection[str] | None,
    loss: float | None,
) -> dict[str, bytes]:
    """Every file of the report, by name."""
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
    blocks: list[_Block] = [_Heading("Evaluation report", 1), _Paragraph(f"Predictions: {sentences[0].source or '—'}")]
    blocks += _summary_blocks(metrics, interval) + _per_type_blocks(scores)
    blocks += _error_blocks(analysis) + _matrix_blocks(entities)
    training = _training_plot(run_dir) if plots else None
    if training is not None:
        images["training.png"] = training
        blocks += [_Heading("Training"), _Image("training.png", "train loss and validation scores per epoch")]
    blocks += _example_blocks(chosen)
    if not plots:
        blocks = [block for block in blocks if not isinstance(block, _Image)]
        blocks.insert(1, _Paragraph("No plots: matplotlib is not installed (pip install 'bertner[plots]')."))
    texts = {
        "metrics.json": json.dumps(metrics, indent=2, ensure_ascii=False) + "\n",
        "errors.json": json.dumps(_errors_json(analysis, chosen), indent=2, ensure_ascii=False) + "\n",
        "token_confusion.csv": tokens.to_csv(),
        "token_confusion_normalised.csv": tokens.to_csv(normalised=True),
        "entity_confusion.csv": entities.to_csv(),
        "report.md": _render_markdown(blocks),
        "report.html": _render_html(blocks, images, "bertner evaluation report"),
    }
    return {**{name: text.encode("utf-8") for name, text in texts.items()}, **images}


def _write_all(output_dir: Path, files: Mapping[str, bytes]) -> None:
    """Write into a staging folder beside ``output_dir``, then rename each file into place, ``metrics.json`` last
    (after deleting the old one first), so that a crash between two renames leaves no ``metrics.json``."""
    output_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.staging-", dir=output_dir.parent))
    try:
        for name, data in files.items():
            (staging / name).write_bytes(data)
        (output_dir / SPLIT_METRICS).unlink(missing_ok=True)
        for name in sorted(files, key=lambda name: name == SPLIT_METRICS):
            os.replace(staging / name, output_dir / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_report(
    pred: PredictionSet,
    output_dir: Path | str,
    run_dir: Path | str | None = None,
    examples: int = 20,
    bootstrap: BootstrapSettings | None = None,
    model_types: Collection[str] | None = None,
    loss: float | None = None,
    extra_files: Mapping[str, bytes] | None = None,
) -> ReportFiles:
    """Write the full error-analysis report of ``pred`` into ``output_dir`` (created if needed).

    Args:
        pred: gold sentences and predicted tags, e.g. from :func:`~.predictions.read_predictions`.
        output_dir: the report folder; existing files of the same names are replaced.
        run_dir: the model's run directory; its ``metrics.jsonl``, if any, adds training curves.
        examples: the most example errors per category.
        bootstrap: settings of the F1 confidence interval (default: 1,000 samples, seed 0, 95%).
        model_types: the entity types the model can predict (from its label set), to report gold types
            it cannot predict; by default, the types it did predict.
        loss: the model's loss on this data, recorded in metrics.json when given.
        extra_files: more files (name -> content) staged and renamed with the report, before metrics.json.

    Raises:
        ValueError: for an empty prediction set or a malformed tag.
    """
    if not pred.sentences:
        raise ValueError("cannot report on an empty prediction set")
    output = Path(output_dir)
    files = _contents(
        pred, Path(run_dir) if run_dir else None, examples, bootstrap or BootstrapSettings(), model_types, loss
    )
    _write_all(output, {**(extra_files or {}), **files})
    logger.info("wrote the report (%d files) to %s", len(files), output)
    csvs = ("token_confusion.csv", "token_confusion_normalised.csv", "entity_confusion.csv")
    return ReportFiles(
        directory=output,
        metrics=output / "metrics.json",
        errors=output / "errors.json",
        csvs=tuple(output / name for name in csvs),
        plots=tuple(output / name for name in files if name.endswith(".png")),
        markdown=output / "report.md",
        html=output / "report.html",
    )
