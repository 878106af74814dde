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

import logging
import os
import shutil
import tempfile
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from bertner.evaluation.predictions import PredictionSet
from bertner.evaluation.report.calibration import EntityScores
from bertner.evaluation.report.content import BootstrapSettings, report_contents
from bertner.layout import SPLIT_METRICS

logger = logging.getLogger(__name__)


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
    entity_scores: EntityScores | None = None,
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
        entity_scores: the predicted entities' probabilities; with them the report has a calibration section.

    Raises:
        ValueError: for an empty prediction set or a malformed tag.
    """
    if not pred.sentences:
        raise ValueError("cannot report on an empty prediction set")
    output = Path(output_dir)
    files = report_contents(
        pred,
        Path(run_dir) if run_dir else None,
        examples,
        bootstrap or BootstrapSettings(),
        model_types,
        loss,
        entity_scores,
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
