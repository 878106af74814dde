"""Compare training runs: their config differences, scores, training time and validation curves.

A run directory, as ``bertner train`` writes it, holds ``bertner.toml`` (the resolved config),
``metrics.jsonl`` (one JSON line per evaluation: ``{"epoch", "step", "train_loss", "valid": {...},
"elapsed_s"}``) and ``eval/{valid,test}/metrics.json`` (``{"overall": {"f1", ...}, ...}``). Only the
config is required; a missing metrics file leaves the matching column empty.

Runs whose configs differ only in ``train.seed`` are grouped, and their scores summarised as
mean ± sample std, since a single seed's F1 on CoNLL-2003 varies by several tenths of a point. A
``train.augment_seed`` equal to the run's seed followed it (a run records the seed its augmentation used),
so it groups too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bertner.errors import UserError
from bertner.evaluation.predictions import PredictionSet
from bertner.evaluation.significance import MeanStd, PairedTest, mean_std, paired_bootstrap, sentence_counts
from bertner.runs import RunSummary, read_run

__all__ = [
    "Comparison",
    "SeedGroup",
    "compare_runs",
    "paired_significance",
]

SEED_KEY = "train.seed"
AUGMENT_SEED_KEY = "train.augment_seed"


@dataclass(frozen=True)
class SeedGroup:
    """Runs whose configs are equal except for ``train.seed``, with their scores as mean ± std."""

    runs: tuple[str, ...]
    seeds: tuple[Any, ...]
    best_valid_f1: MeanStd | None
    test_f1: MeanStd | None


def _summary(values: Sequence[float | None]) -> MeanStd | None:
    """Mean ± std when every run has the value, else None (a partial mean would mislead)."""
    present = [value for value in values if value is not None]
    return mean_std(present) if present and len(present) == len(values) else None


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.2f}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def _cell(value: Any) -> str:
    return "—" if value is None else str(value).replace("|", "\\|")


@dataclass(frozen=True)
class Comparison:
    """The result of :func:`compare_runs`.

    Attributes:
        runs: one summary per run, in the order given.
        differences: the flattened config keys whose values are not the same in every run, sorted.
        groups: the groups of two or more runs that differ only in ``train.seed``.
    """

    runs: tuple[RunSummary, ...]
    differences: tuple[str, ...]
    groups: tuple[SeedGroup, ...]

    def to_markdown(self) -> str:
        """A table of runs (config differences, F1 in %, train time), then a table of seed groups."""
        header = ["run", *self.differences, "best valid F1", "valid F1", "test F1", "train time"]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for run in self.runs:
            cells = [_cell(run.name), *(_cell(run.config.get(key)) for key in self.differences)]
            cells += [_percent(run.best_valid_f1), _percent(run.valid_f1), _percent(run.test_f1)]
            cells.append(_duration(run.train_seconds))
            lines.append("| " + " | ".join(cells) + " |")
        if self.groups:
            lines += ["", "Runs that differ only in seed (mean ± sample std, in %):", ""]
            lines += ["| runs | seeds | best valid F1 | test F1 |", "|---|---|---|---|"]
            for group in self.groups:
                valid = group.best_valid_f1.format() if group.best_valid_f1 else "—"
                test = group.test_f1.format() if group.test_f1 else "—"
                seeds = ", ".join(map(str, group.seeds))
                lines.append(f"| {', '.join(group.runs)} | {seeds} | {valid} | {test} |")
        return "\n".join(lines) + "\n"

    def overlay_png(self) -> bytes:
        """Validation F1 per epoch of every run in one plot (needs the ``bertner[plots]`` extra)."""
        from bertner.evaluation.plots import f1_overlay_png

        return f1_overlay_png({run.name: run.valid_f1_curve() for run in self.runs})


def _without_seed(config: Mapping[str, Any]) -> dict[str, Any]:
    """`config` less its seed, and less the augmentation seed where that followed the seed (a run records it)."""
    rest = dict(config)
    seed = rest.pop(SEED_KEY, None)
    if rest.get(AUGMENT_SEED_KEY) == seed:
        rest.pop(AUGMENT_SEED_KEY, None)
    return rest


def _seed_groups(runs: Sequence[RunSummary]) -> tuple[SeedGroup, ...]:
    by_config: dict[str, list[RunSummary]] = {}
    for run in runs:
        rest = _without_seed(run.config)
        by_config.setdefault(json.dumps(rest, sort_keys=True, default=str), []).append(run)
    return tuple(
        SeedGroup(
            runs=tuple(run.name for run in members),
            seeds=tuple(run.config.get(SEED_KEY) for run in members),
            best_valid_f1=_summary([run.best_valid_f1 for run in members]),
            test_f1=_summary([run.test_f1 for run in members]),
        )
        for members in by_config.values()
        if len(members) > 1
    )


def compare_runs(run_dirs: Sequence[Path | str]) -> Comparison:
    """Read run directories and line them up (see the module docstring for what each holds).

    Raises:
        UserError: for no run directories, or one that cannot be read (see :func:`read_run`).
    """
    if not run_dirs:
        raise UserError("compare needs at least one run directory")
    paths = [Path(run_dir) for run_dir in run_dirs]
    names = [path.name for path in paths]
    unique = len(set(names)) == len(names)
    runs = tuple(read_run(path, path.name if unique else str(path)) for path in paths)
    keys = sorted({key for run in runs for key in run.config})
    missing = object()
    differences = tuple(key for key in keys if len({repr(run.config.get(key, missing)) for run in runs}) > 1)
    return Comparison(runs, differences, _seed_groups(runs))


def paired_significance(pred_a: PredictionSet, pred_b: PredictionSet, samples: int = 1000, seed: int = 0) -> PairedTest:
    """Paired bootstrap test of two systems' F1 on the same file (see :func:`~.significance.paired_bootstrap`).

    Raises:
        UserError: naming the first sentence whose words or gold tags differ between the two sets.
    """
    if len(pred_a.sentences) != len(pred_b.sentences):
        raise UserError(f"the prediction sets have {len(pred_a.sentences)} and {len(pred_b.sentences)} sentences")
    for index, (a, b) in enumerate(zip(pred_a.sentences, pred_b.sentences, strict=True)):
        if a.words != b.words or a.tags != b.tags:
            raise UserError(f"sentence {index} differs between {a.where()} and {b.where()}: not the same gold data")
    counts_a = sentence_counts(pred_a.gold, pred_a.predicted)
    counts_b = sentence_counts(pred_b.gold, pred_b.predicted)
    return paired_bootstrap(counts_a, counts_b, samples, seed)
