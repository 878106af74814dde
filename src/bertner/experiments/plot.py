"""One PNG for an experiment: F1 per variant with error bars, and the valid F1 per epoch of every run overlaid.

matplotlib is an optional extra (`pip install 'bertner[plots]'`), imported only here, and drawn on an Agg
canvas without pyplot, so that plotting changes no global state.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from bertner.evaluation.plots import figure_png, new_figure

if TYPE_CHECKING:
    from bertner.experiments.results import ExperimentResults


def _points(axes: Any, results: ExperimentResults) -> None:
    """Valid and test F1 (in %) per variant: the mean as a point, the std over seeds as an error bar.

    Points rather than bars: F1s of variants differ by tenths of a point, which bars from 0 would hide.
    """
    names = [variant.name for variant in results.variants]
    for offset, (split, label) in enumerate((("valid_f1", "valid"), ("test_f1", "test"))):
        summaries = [getattr(variant, split) for variant in results.variants]
        shown = [(index, s) for index, s in enumerate(summaries) if s is not None]
        if not shown:
            continue
        positions = [index + (offset - 0.5) * 0.2 for index, _ in shown]
        means = [s.mean * 100 for _, s in shown]
        axes.errorbar(
            positions, means, yerr=[s.std * 100 for _, s in shown], fmt="o", capsize=4, label=f"{label} (mean ± std)"
        )
        for x, mean in zip(positions, means, strict=True):
            axes.annotate(f"{mean:.2f}", (x, mean), textcoords="offset points", xytext=(6, 0), fontsize=7, va="center")
    axes.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
    axes.set_xlim(-0.6, len(names) - 0.4)
    axes.set_ylabel("entity F1 (%) over seeds")
    axes.set_title("F1 per variant")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)


def _curves(axes: Any, results: ExperimentResults) -> None:
    """Valid F1 (in %) per epoch: one line per run, one colour per variant."""
    colours = [f"C{index % 10}" for index in range(len(results.variants))]
    styles = ["-", "--", ":", "-."]
    for variant, colour in zip(results.variants, colours, strict=True):
        for number, run in enumerate(variant.runs):
            if not run.valid_curve:
                continue
            epochs, values = zip(*run.valid_curve, strict=True)
            label = f"{variant.name} (seed {run.seed})"
            axes.plot(epochs, [v * 100 for v in values], styles[number % 4], color=colour, marker="o", label=label)
    epochs_seen = [epoch for variant in results.variants for run in variant.runs for epoch, _ in run.valid_curve]
    if epochs_seen:
        # One tick per epoch, also for a one-epoch budget (matplotlib's own ticks would be 0.96, 0.98, ...).
        last = math.ceil(max(epochs_seen))
        axes.set_xticks(range(1, last + 1))
        axes.set_xlim(0.5, last + 0.5)
    axes.set_xlabel("epoch")
    axes.set_ylabel("valid F1 (%)")
    axes.set_title("Validation F1 per epoch, every run")
    axes.grid(alpha=0.3)
    if any(run.valid_curve for variant in results.variants for run in variant.runs):
        axes.legend(fontsize=7)


def experiment_png(results: ExperimentResults) -> bytes:
    """The two panels side by side, as PNG bytes."""
    figure = new_figure(max(11.0, 0.9 * len(results.variants) + 7.0), 4.6)
    points, curves = figure.subplots(1, 2)
    _points(points, results)
    _curves(curves, results)
    return figure_png(figure)
