"""How far entity scores are from probabilities: expected calibration error and reliability diagrams.

A predicted entity is *correct* when its (start, end, type) is among the gold entities of its sentence (the
exact match conlleval counts). Scores are put in `bins` equal-width bins of [0, 1]: bin b holds the scores in
[b / bins, (b + 1) / bins), the last bin also 1.0 itself. For each bin: how many entities fall in it, their
mean score and the share that is correct. The expected calibration error (Guo et al. 2017, "On Calibration of
Modern Neural Networks") is the count-weighted mean gap between the two:

    ECE = sum_b (count_b / N) * |accuracy_b - mean score_b|

15 bins, as issue 23 asks. A reliability diagram draws the accuracy of each bin against its mean score: a
calibrated model's bars reach the diagonal. Pure Python and numpy; the plot needs matplotlib (the `plots`
extra), loaded only when drawn.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bertner.evaluation.spans import Entity

__all__ = ["ReliabilityBin", "Reliability", "entity_outcomes", "reliability", "reliability_png"]

BINS = 15


@dataclass(frozen=True)
class ReliabilityBin:
    """One bin of scores: [lower, upper), the last bin closed."""

    lower: float
    upper: float
    count: int
    mean_score: float | None
    """None for an empty bin."""
    accuracy: float | None
    """The share of its entities that are correct; None for an empty bin."""


@dataclass(frozen=True)
class Reliability:
    """The reliability diagram's data and the expected calibration error of a set of scores."""

    bins: tuple[ReliabilityBin, ...]
    ece: float
    """The expected calibration error (see the module); 0.0 when there is no score."""
    count: int
    """How many scores there are."""
    accuracy: float | None
    """The share of all entities that are correct; None when there is none."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "ece": self.ece,
            "count": self.count,
            "accuracy": self.accuracy,
            "bins": [dataclasses.asdict(b) for b in self.bins],
        }


def entity_outcomes(gold: Sequence[Sequence[Entity]], predicted: Sequence[Sequence[Entity]]) -> list[list[bool]]:
    """For each predicted entity of each sentence, whether it is among that sentence's gold entities."""
    if len(gold) != len(predicted):
        raise ValueError(f"gold has {len(gold)} sentences, the predictions {len(predicted)}")
    return [[entity in truth for entity in found] for truth, found in zip(map(set, gold), predicted, strict=True)]


def reliability(
    scores: Sequence[float] | np.ndarray, correct: Sequence[bool] | np.ndarray, bins: int = BINS
) -> Reliability:
    """Bin the scores and compare each bin's mean score with its accuracy (see the module).

    Args:
        scores: one score in [0, 1] per entity.
        correct: whether each entity is right.
        bins: the number of equal-width bins.

    Raises:
        ValueError: for lists of different lengths, fewer than 1 bin, or a score outside [0, 1] (naming it).
    """
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    if len(scores) != len(correct):
        raise ValueError(f"{len(scores)} scores but {len(correct)} outcomes")
    values = np.asarray(scores, dtype=np.float64).reshape(-1)
    right = np.asarray(correct, dtype=bool).reshape(-1)
    outside = np.flatnonzero(~((values >= 0.0) & (values <= 1.0)))
    if len(outside):
        raise ValueError(f"score {outside[0]} is {values[outside[0]]}, not a probability in [0, 1]")
    # (scores,): the bin of each score; 1.0 goes to the last bin
    index = np.minimum((values * bins).astype(np.int64), bins - 1)
    counts = np.bincount(index, minlength=bins)
    score_sums = np.bincount(index, weights=values, minlength=bins)
    right_sums = np.bincount(index, weights=right.astype(np.float64), minlength=bins)
    out, gap = [], 0.0
    for b in range(bins):
        count = int(counts[b])
        mean_score = float(score_sums[b] / count) if count else None
        accuracy = float(right_sums[b] / count) if count else None
        if mean_score is not None and accuracy is not None:
            gap += count * abs(accuracy - mean_score)
        out.append(ReliabilityBin(b / bins, (b + 1) / bins, count, mean_score, accuracy))
    total = len(values)
    return Reliability(
        bins=tuple(out),
        ece=gap / total if total else 0.0,
        count=total,
        accuracy=float(right.mean()) if total else None,
    )


def reliability_png(panels: Sequence[tuple[str, Reliability]], title: str = "Entity reliability") -> bytes:
    """Reliability diagrams side by side, e.g. `[("before", r1), ("after calibration", r2)]`: in each, the
    accuracy of every bin (bars) against the diagonal of perfect calibration, each bar's entity count above
    it, and the ECE in the panel's title."""
    from bertner.evaluation.plots import figure_png, new_figure

    if not panels:
        raise ValueError("reliability_png needs at least one panel")
    figure = new_figure(4.2 * len(panels), 4.2)
    axes_list = figure.subplots(1, len(panels), squeeze=False)[0]
    for axes, (name, data) in zip(axes_list, panels, strict=True):
        width = data.bins[0].upper - data.bins[0].lower if data.bins else 1.0
        filled = [b for b in data.bins if b.count]
        axes.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="calibrated")
        axes.bar(
            [b.lower for b in filled],
            [b.accuracy for b in filled],
            width=width,
            align="edge",
            color="tab:blue",
            edgecolor="white",
            label="accuracy",
        )
        axes.scatter(
            [b.mean_score for b in filled],
            [b.accuracy for b in filled],
            color="tab:red",
            s=12,
            zorder=3,
            label="mean score",
        )
        for b in filled:
            axes.text(b.lower + width / 2, min((b.accuracy or 0.0) + 0.02, 1.02), str(b.count), ha="center", fontsize=6)
        axes.set_xlim(0, 1)
        axes.set_ylim(0, 1.08)
        axes.set_xlabel("entity score")
        axes.set_ylabel("share correct")
        axes.set_title(f"{name}: ECE {data.ece:.3f} ({data.count} entities)", fontsize=9)
        axes.legend(loc="upper left", fontsize=7)
    figure.suptitle(title)
    return figure_png(figure)
