"""One PNG for a search: each trial's valid F1 by trial number, and the best so far.

matplotlib is an optional extra (`pip install 'bertner[plots]'`), drawn on an Agg canvas without pyplot.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bertner.evaluation.plots import figure_png, new_figure

if TYPE_CHECKING:
    from bertner.search.results import SearchSummary


def search_png(summary: SearchSummary) -> bytes:
    """Complete trials at their value, pruned ones at their last epoch's F1, and a step line of the best so far."""
    figure = new_figure(max(6.0, 0.25 * len(summary.rows) + 4.0), 4.2)
    axes = figure.add_subplot()
    complete = [(row.number, row.value * 100) for row in summary.rows if row.value is not None]
    pruned = [(row.number, row.valid_f1[-1] * 100) for row in summary.rows if row.state == "pruned" and row.valid_f1]
    if complete:
        axes.plot(*zip(*complete, strict=True), "o", label="complete: best epoch's valid F1")
        best, so_far = float("-inf"), []
        for number, f1 in complete:
            best = max(best, f1)
            so_far.append((number, best))
        axes.step(*zip(*so_far, strict=True), where="post", color="C2", label="best so far")
    if pruned:
        axes.plot(*zip(*pruned, strict=True), "x", color="C3", label="pruned: valid F1 when stopped")
    # Trial numbers are integers: one tick each for a short search, else matplotlib's integer ticks.
    if summary.rows:
        first, last = summary.rows[0].number, summary.rows[-1].number
        axes.set_xlim(first - 0.5, last + 0.5)
        if last - first < 20:
            axes.set_xticks(range(first, last + 1))
        else:
            axes.xaxis.get_major_locator().set_params(integer=True)
    axes.set_xlabel("trial")
    axes.set_ylabel("valid F1 (%)")
    axes.set_title(f"Search {summary.study_name!r}: valid F1 per trial")
    axes.grid(alpha=0.3)
    if complete or pruned:
        axes.legend(fontsize=8)
    return figure_png(figure)
