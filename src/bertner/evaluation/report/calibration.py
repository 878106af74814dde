"""The report's entity calibration section: how far the predicted entities' scores are from probabilities.

Each predicted entity has a score, its probability (decoding/entities.py) at T = 1 and, where the model was
calibrated, with its temperature. Against whether each entity is right (exact span and type, as conlleval
counts), the section gives the expected calibration error over 15 bins (evaluation/calibration.py) before and
after the temperature, how many entities are scored >= 0.9 and the precision among them, and a reliability
diagram of both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bertner.evaluation.calibration import BINS, Reliability, entity_outcomes, reliability
from bertner.evaluation.report.document import Block, Heading, Image, Paragraph, Table
from bertner.evaluation.spans import chunks

CONFIDENT = 0.9
"""The score above which the report counts entities and their precision (issue 23's target: >= 0.97)."""
RELIABILITY_PNG = "reliability.png"


@dataclass(frozen=True)
class EntityScores:
    """The probability of each predicted entity of each sentence (the entities of the predicted tags, in order)."""

    raw: tuple[tuple[float, ...], ...]
    """At T = 1: the model's scores as they are."""
    calibrated: tuple[tuple[float, ...], ...] | None = None
    """With the model's calibration; None when it has none."""
    calibration: str | None = None
    """What the calibration is, e.g. `T = 1.31, fitted on valid.txt (5,942 entities)`."""


@dataclass(frozen=True)
class ScoreSummary:
    """One set of scores against the entities' outcomes."""

    reliability: Reliability
    confident: int
    """How many entities are scored >= CONFIDENT."""
    confident_precision: float | None
    """The share of those that are right; None when there is none."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "ece": self.reliability.ece,
            f"scored_ge_{CONFIDENT}": self.confident,
            f"precision_scored_ge_{CONFIDENT}": self.confident_precision,
        }


def summarise(scores: Sequence[float], correct: Sequence[bool]) -> ScoreSummary:
    """ECE over BINS bins, and the count and precision of the entities scored >= CONFIDENT."""
    confident = np.asarray(scores, dtype=np.float64) >= CONFIDENT
    right = np.asarray(correct, dtype=bool)
    return ScoreSummary(
        reliability=reliability(scores, correct, BINS),
        confident=int(confident.sum()),
        confident_precision=float(right[confident].mean()) if confident.any() else None,
    )


def _flat(rows: Sequence[Sequence[float]]) -> list[float]:
    return [value for row in rows for value in row]


def calibration_section(
    gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]], scores: EntityScores, plots: bool
) -> tuple[dict[str, Any], list[Block], dict[str, bytes]]:
    """metrics.json's `calibration`, the report's blocks and its reliability diagram (when `plots`)."""
    found = [chunks(row) for row in predicted]
    counts = [len(row) for row in scores.raw]
    if counts != [len(row) for row in found]:
        raise ValueError(f"entity scores for {sum(counts)} entities, but the predictions have {sum(map(len, found))}")
    correct = [c for row in entity_outcomes([chunks(row) for row in gold], found) for c in row]
    panels = [("T = 1", summarise(_flat(scores.raw), correct))]
    if scores.calibrated is not None:
        panels.append(("calibrated", summarise(_flat(scores.calibrated), correct)))
    metrics: dict[str, Any] = {"bins": BINS, "entities": len(correct), "calibration": scores.calibration}
    metrics["before"] = panels[0][1].to_dict()
    if len(panels) > 1:
        metrics["after"] = panels[1][1].to_dict()
    rows = tuple(
        (
            name,
            f"{summary.reliability.ece:.4f}",
            str(summary.confident),
            "—" if summary.confident_precision is None else f"{summary.confident_precision * 100:.2f}",
        )
        for name, summary in panels
    )
    how = (
        f"Calibrated with {scores.calibration}."
        if scores.calibrated is not None
        else "The model has no calibration (bertner calibrate fits one): its scores are at T = 1."
    )
    blocks: list[Block] = [
        Heading("Entity calibration"),
        Paragraph(
            "An entity's score is the model's probability that exactly this span, with this type, is an entity "
            f"(README: entity scores). {how} Expected calibration error over {BINS} equal-width bins, against "
            f"whether each predicted entity is exactly right ({len(correct)} entities)."
        ),
        Table(
            ("scores", f"ECE ({BINS} bins)", f"entities scored ≥ {CONFIDENT}", "precision among them (%)"),
            rows,
        ),
    ]
    images: dict[str, bytes] = {}
    if plots and correct:
        from bertner.evaluation.calibration import reliability_png

        images[RELIABILITY_PNG] = reliability_png(
            [(name, summary.reliability) for name, summary in panels], "Entity reliability"
        )
        blocks.append(Image(RELIABILITY_PNG, "entity reliability diagram: share correct against score"))
    return metrics, blocks, images
