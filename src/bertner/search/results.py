"""A search's results, read from its study (so trials of every process sharing it are included): a table of the
trials (markdown and CSV), a plot, and the best trial's config as a TOML file `bertner train --config` takes.

The valid F1 per epoch of a trial is what it reported to the pruner; its value is its best epoch's valid F1,
the epoch whose model the trial's folder keeps. F1 in the CSV is in [0, 1], in the markdown in %.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from bertner.search.study import NOTE_ATTR

logger = logging.getLogger(__name__)

__all__ = ["BEST_CONFIG", "RESULT_FILES", "SearchSummary", "TrialRow", "summarize"]

RESULT_FILES = ("trials.md", "trials.csv", "trials.png")
BEST_CONFIG = "best.toml"
_STATES = {
    TrialState.COMPLETE: "complete",
    TrialState.PRUNED: "pruned",
    TrialState.FAIL: "failed",
    TrialState.RUNNING: "running",
    TrialState.WAITING: "waiting",
}
# Set by Optuna's RetryHeartbeatStaleTrialCallback on the trial it queues in place of a lost one.
_RETRY_OF = "failed_trial"


@dataclass(frozen=True)
class TrialRow:
    """One trial as the study holds it. `valid_f1`: per epoch, from epoch 1; `value`: the best of them."""

    number: int
    state: str
    params: Mapping[str, Any]
    valid_f1: tuple[float, ...]
    value: float | None
    seconds: float | None
    host: str
    note: str


def _note(trial: FrozenTrial, retried_as: Mapping[int, int]) -> str:
    parts = []
    if trial.system_attrs.get(_RETRY_OF) is not None:
        parts.append(f"retry of trial {trial.system_attrs[_RETRY_OF]}")
    if trial.state == TrialState.PRUNED and trial.intermediate_values:
        parts.append(f"pruned after epoch {max(trial.intermediate_values)}")
    if trial.state == TrialState.FAIL:
        if trial.user_attrs.get(NOTE_ATTR) == "surplus":
            parts.append("surplus: another process had filled the budget")
        elif trial.number in retried_as:
            parts.append(f"lost (its process died); retried as trial {retried_as[trial.number]}")
        else:
            parts.append("failed (see the log of its process)")
    return "; ".join(parts)


def _row(trial: FrozenTrial, retried_as: Mapping[int, int]) -> TrialRow:
    seconds = None
    if trial.datetime_start is not None and trial.datetime_complete is not None:
        seconds = (trial.datetime_complete - trial.datetime_start).total_seconds()
    return TrialRow(
        number=trial.number,
        state=_STATES.get(trial.state, trial.state.name.lower()),
        params=dict(trial.params),
        valid_f1=tuple(trial.intermediate_values[step] for step in sorted(trial.intermediate_values)),
        value=trial.value if trial.state == TrialState.COMPLETE else None,
        seconds=seconds,
        host=str(trial.user_attrs.get("host", "")),
        note=_note(trial, retried_as),
    )


@dataclass(frozen=True)
class SearchSummary:
    study_name: str
    names: tuple[str, ...]
    """The searched settings, in the space file's order."""
    rows: tuple[TrialRow, ...]

    @property
    def best(self) -> TrialRow | None:
        """The complete trial with the highest value (the first of equals, as Optuna's best_trial)."""
        complete = [row for row in self.rows if row.value is not None]
        return max(complete, key=lambda row: (row.value, -row.number)) if complete else None

    def count(self, state: str) -> int:
        return sum(row.state == state for row in self.rows)

    def to_csv(self) -> str:
        epochs = max((len(row.valid_f1) for row in self.rows), default=0)
        header = ["number", "state", *self.names, *(f"valid_f1_epoch_{e}" for e in range(1, epochs + 1))]
        header += ["valid_f1", "seconds", "host", "note"]
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        for row in self.rows:
            cells: list[Any] = [row.number, row.state, *(row.params.get(name, "") for name in self.names)]
            cells += [*row.valid_f1, *[""] * (epochs - len(row.valid_f1))]
            cells += [_blank(row.value), _blank(None if row.seconds is None else round(row.seconds, 1))]
            writer.writerow([*cells, row.host, row.note])
        return buffer.getvalue()

    def to_markdown(self, plot: str | None = RESULT_FILES[2]) -> str:
        best = self.best
        counts = ", ".join(f"{self.count(state)} {state}" for state in _STATES.values() if self.count(state))
        lines = [f"# Search: study `{self.study_name}`", "", f"Trials: {counts or 'none'}. F1 in %, on valid."]
        if best is not None:
            lines[-1] += f" Best: trial {best.number}, valid F1 {percent(best.value)} (its config: {BEST_CONFIG})."
        short = _short_names(self.names)
        header = ["trial", "state", *short, "valid F1 per epoch", "valid F1", "time", "note"]
        lines += ["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for row in self.rows:
            number = f"**{row.number}**" if best is not None and row.number == best.number else str(row.number)
            cells = [number, row.state, *(format_value(row.params[n]) if n in row.params else "—" for n in self.names)]
            cells += [" / ".join(percent(f1) for f1 in row.valid_f1) or "—", percent(row.value)]
            cells += [_seconds(row.seconds), row.note]
            lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
        if plot:
            lines += ["", f"![valid F1 per trial and the best so far]({plot})"]
        return "\n".join(lines) + "\n"


def _blank(value: Any) -> Any:
    return "" if value is None else value


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.2f}"


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value / 60:.1f} min" if value >= 60 else f"{value:.1f} s"


def format_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def _short_names(names: Sequence[str]) -> list[str]:
    """`train.lr` -> `lr`, unless two settings share the part after the dot."""
    short = [name.partition(".")[2] for name in names]
    return short if len(set(short)) == len(short) else list(names)


def summarize(study: optuna.Study, names: Sequence[str]) -> SearchSummary:
    """Every trial of the study, by number."""
    trials = study.get_trials(deepcopy=False)
    retried_as = {
        int(trial.system_attrs[_RETRY_OF]): trial.number
        for trial in trials
        if trial.system_attrs.get(_RETRY_OF) is not None
    }
    return SearchSummary(study.study_name, tuple(names), tuple(_row(trial, retried_as) for trial in trials))
