"""PNG plots for reports: a confusion heatmap, per-type score bars, training curves, and run overlays.

matplotlib is an optional extra (``pip install 'bertner[plots]'``), imported only when a plot is drawn.
Figures are drawn on matplotlib's Agg canvas through :class:`matplotlib.figure.Figure` rather than
pyplot, so plotting neither changes the caller's backend nor keeps figures alive in global state.
Every function returns the PNG's bytes, to be written to a file or embedded in HTML.

Curves are given as points ``(epoch, value)``; reading them from a run's ``metrics.jsonl`` is
:mod:`bertner.evaluation.compare`'s job.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from bertner.errors import MissingExtraError

if TYPE_CHECKING:
    from bertner.evaluation.confusion import ConfusionMatrix
    from bertner.evaluation.metrics import TypeScores

__all__ = ["confusion_png", "epoch_curves_png", "f1_overlay_png", "figure_png", "new_figure", "per_type_png"]

Points = Sequence[tuple[float, float]]

_DPI = 110


def new_figure(width: float, height: float) -> Any:
    """A new Agg-backed figure of the given size in inches."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise MissingExtraError("plots need matplotlib: pip install 'bertner[plots]'") from error
    figure = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def figure_png(figure: Any) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    # Fixed metadata keeps the bytes of a plot the same from run to run.
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def confusion_png(matrix: ConfusionMatrix, title: str = "Token confusion (gold rows, predicted columns)") -> bytes:
    """A heatmap coloured by each row's share (row-normalised) and labelled with the raw counts.

    Empty cells are left blank so that the few confusions stand out among the zeros.
    """
    rows, columns = len(matrix.rows), len(matrix.columns)
    figure = new_figure(max(4.5, 0.75 * columns + 2.0), max(3.5, 0.55 * rows + 1.8))
    axes = figure.add_subplot()
    shares = matrix.normalised()
    image = axes.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto")
    figure.colorbar(image, ax=axes, label="share of the gold row", shrink=0.8)
    axes.set_xticks(range(columns), matrix.columns, rotation=45, ha="right")
    axes.set_yticks(range(rows), matrix.rows)
    axes.set_xlabel("predicted")
    axes.set_ylabel("gold")
    axes.set_title(title)
    font = 8 if max(rows, columns) <= 12 else 6
    for i, row in enumerate(matrix.counts):
        for j, count in enumerate(row):
            if count:
                colour = "white" if shares[i][j] > 0.6 else "black"
                axes.text(j, i, str(count), ha="center", va="center", fontsize=font, color=colour)
    return figure_png(figure)


def per_type_png(per_type: Mapping[str, TypeScores], title: str = "Entity scores per type") -> bytes:
    """Grouped bars of precision, recall and F1 (in %) for each entity type."""
    names = list(per_type)
    figure = new_figure(max(5.0, 1.1 * len(names) + 2.0), 3.6)
    axes = figure.add_subplot()
    width = 0.27
    for offset, metric in enumerate(("precision", "recall", "f1")):
        values = [getattr(per_type[name], metric) * 100 for name in names]
        positions = [index + (offset - 1) * width for index in range(len(names))]
        bars = axes.bar(positions, values, width, label=metric)
        axes.bar_label(bars, fmt="%.1f", fontsize=7, padding=1)
    axes.set_xticks(range(len(names)), names)
    axes.set_ylim(0, 119)
    axes.set_ylabel("%")
    axes.set_title(title)
    axes.legend(loc="upper center", ncols=3, fontsize=8)
    return figure_png(figure)


def epoch_curves_png(train_loss: Points, valid: Mapping[str, Points], title: str = "Training") -> bytes:
    """Two panels: train loss per epoch, and validation scores (e.g. precision, recall, F1) per epoch in %."""
    figure = new_figure(9.0, 3.6)
    loss_axes, valid_axes = figure.subplots(1, 2)
    if train_loss:
        loss_axes.plot(*zip(*train_loss, strict=True), marker="o", color="tab:red")
    loss_axes.set_xlabel("epoch")
    loss_axes.set_ylabel("train loss")
    loss_axes.set_title(f"{title}: train loss")
    for name, points in valid.items():
        if points:
            epochs, values = zip(*points, strict=True)
            valid_axes.plot(epochs, [value * 100 for value in values], marker="o", label=name)
    valid_axes.set_xlabel("epoch")
    valid_axes.set_ylabel("%")
    valid_axes.set_title(f"{title}: validation")
    if any(valid.values()):
        valid_axes.legend(fontsize=8)
    for axes in (loss_axes, valid_axes):
        axes.grid(alpha=0.3)
    return figure_png(figure)


def f1_overlay_png(runs: Mapping[str, Points], title: str = "Validation F1 per epoch") -> bytes:
    """One line of validation F1 (in %) per epoch for each run, overlaid."""
    figure = new_figure(7.0, 4.2)
    axes = figure.add_subplot()
    for name, points in runs.items():
        if points:
            epochs, values = zip(*points, strict=True)
            axes.plot(epochs, [value * 100 for value in values], marker="o", label=name)
    axes.set_xlabel("epoch")
    axes.set_ylabel("valid F1 (%)")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    if any(runs.values()):
        axes.legend(fontsize=8)
    return figure_png(figure)
