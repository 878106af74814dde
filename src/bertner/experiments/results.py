"""An experiment's results: per variant, F1 as mean ± std over seeds, per-type F1, time, size and memory.

Read from the run folders, never from memory, so that a resumed experiment reports every run it holds.
Each run folder gives `run.json` (training time, parameter counts, peak memory), `eval/{valid,test}/metrics.json`
(the saved model's scores, conlleval rules) and `metrics.jsonl` (valid F1 per epoch, for the curves).
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bertner.errors import UserError
from bertner.evaluation.significance import MeanStd, mean_std
from bertner.experiments.spec import Experiment, PlannedRun, describe
from bertner.layout import EVAL_DIR, RUN_RECORD, SPLIT_METRICS
from bertner.runs import read_run

logger = logging.getLogger(__name__)

RESULT_FILES = ("results.md", "results.csv", "results.json", "results.png")

MEMORY_NOTE = (
    "Peak RSS is the most resident (CPU) memory of the process that trained the run: getrusage ru_maxrss of the "
    "run's own child process, so it covers the interpreter, torch, the corpus, the model, optimizer state and "
    "activations. In-process runs read the kernel's VmHWM after resetting it at the run's start, which also counts "
    "memory the process already held. Peak GPU is torch.cuda.max_memory_allocated, when a GPU trained the run."
)


@dataclass(frozen=True)
class RunResult:
    """What one finished run folder holds; F1 values in [0, 1]."""

    variant: str
    seed: int
    run_dir: Path
    valid_f1: float | None
    test_f1: float | None
    per_type_test_f1: Mapping[str, float]
    epochs_run: float | None
    train_seconds: float | None
    trainable_parameters: int | None
    total_parameters: int | None
    peak_rss_mb: float | None
    peak_gpu_mb: float | None
    valid_curve: tuple[tuple[float, float], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "run_dir": str(self.run_dir),
            "valid_f1": self.valid_f1,
            "test_f1": self.test_f1,
            "per_type_test_f1": dict(self.per_type_test_f1),
            "epochs_run": self.epochs_run,
            "train_seconds": self.train_seconds,
            "trainable_parameters": self.trainable_parameters,
            "total_parameters": self.total_parameters,
            "peak_rss_mb": self.peak_rss_mb,
            "peak_gpu_mb": self.peak_gpu_mb,
            "valid_f1_per_epoch": [list(point) for point in self.valid_curve],
        }


def _summary(values: Sequence[float | None]) -> MeanStd | None:
    present = [value for value in values if value is not None]
    return mean_std(present) if present else None


def _largest(values: Sequence[float | int | None]) -> Any:
    present = [value for value in values if value is not None]
    return max(present) if present else None


@dataclass(frozen=True)
class VariantResult:
    """A variant's finished runs, summarised as mean ± sample std over seeds."""

    name: str
    overrides: Mapping[str, Any]
    runs: tuple[RunResult, ...]

    @property
    def valid_f1(self) -> MeanStd | None:
        return _summary([run.valid_f1 for run in self.runs])

    @property
    def test_f1(self) -> MeanStd | None:
        return _summary([run.test_f1 for run in self.runs])

    def per_type_test_f1(self) -> dict[str, MeanStd]:
        """Test F1 per entity type with gold entities in the test split (so present in every scored run)."""
        types = sorted({name for run in self.runs for name in run.per_type_test_f1})
        return {
            name: mean_std([run.per_type_test_f1[name] for run in self.runs if name in run.per_type_test_f1])
            for name in types
        }

    @property
    def train_seconds(self) -> MeanStd | None:
        return _summary([run.train_seconds for run in self.runs])

    @property
    def trainable_parameters(self) -> int | None:
        return _largest([run.trainable_parameters for run in self.runs])

    @property
    def total_parameters(self) -> int | None:
        return _largest([run.total_parameters for run in self.runs])

    @property
    def peak_rss_mb(self) -> float | None:
        """The largest over the variant's runs."""
        return _largest([run.peak_rss_mb for run in self.runs])

    @property
    def peak_gpu_mb(self) -> float | None:
        return _largest([run.peak_gpu_mb for run in self.runs])

    def to_dict(self) -> dict[str, Any]:
        def summary(value: MeanStd | None) -> dict[str, float | int] | None:
            return value.to_dict() if value is not None else None

        return {
            "name": self.name,
            "overrides": dict(self.overrides),
            "runs": len(self.runs),
            "valid_f1": summary(self.valid_f1),
            "test_f1": summary(self.test_f1),
            "per_type_test_f1": {name: value.to_dict() for name, value in self.per_type_test_f1().items()},
            "train_seconds": summary(self.train_seconds),
            "trainable_parameters": self.trainable_parameters,
            "total_parameters": self.total_parameters,
            "peak_rss_mb": self.peak_rss_mb,
            "peak_gpu_mb": self.peak_gpu_mb,
            "seeds": [run.to_dict() for run in self.runs],
        }


def _json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise UserError(f"{path}: not valid JSON: {error.msg}") from error
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"{path}: cannot read: {error}") from error
    if not isinstance(value, dict):
        raise UserError(f"{path}: expected a JSON object")
    return value


def read_run_result(run: PlannedRun) -> RunResult:
    """The results of one trained run folder (it must hold run.json)."""
    record = _json(run.run_dir / RUN_RECORD)
    summary = read_run(run.run_dir)
    test_metrics = run.run_dir / EVAL_DIR / "test" / SPLIT_METRICS
    per_type = _json(test_metrics).get("per_type", {}) if test_metrics.is_file() else {}
    return RunResult(
        variant=run.variant,
        seed=run.seed,
        run_dir=run.run_dir,
        valid_f1=summary.valid_f1,
        test_f1=summary.test_f1,
        # A type with no gold entity in test has no recall to measure; the scorer lists it only when predicted.
        per_type_test_f1={name: float(scores["f1"]) for name, scores in per_type.items() if scores.get("gold")},
        epochs_run=record.get("epochs_run"),
        train_seconds=record.get("train_seconds"),
        trainable_parameters=record.get("trainable_parameters"),
        total_parameters=record.get("total_parameters"),
        peak_rss_mb=record.get("peak_rss_mb"),
        peak_gpu_mb=record.get("peak_gpu_mb"),
        valid_curve=summary.valid_f1_curve(),
    )


@dataclass(frozen=True)
class ExperimentResults:
    experiment: Experiment
    variants: tuple[VariantResult, ...]

    @property
    def entity_types(self) -> list[str]:
        return sorted({name for variant in self.variants for name in variant.per_type_test_f1()})

    def to_dict(self) -> dict[str, Any]:
        return {
            "data": self.experiment.data,
            "output": str(self.experiment.output),
            "seeds": list(self.experiment.seeds),
            "variant_seeds": {v.name: list(v.seeds) for v in self.experiment.variants if v.seeds is not None},
            "evaluate_test": self.experiment.evaluate_test,
            "f1": "in [0, 1]; mean and sample std (n - 1) over the seeds of a variant",
            "memory": MEMORY_NOTE,
            "variants": [variant.to_dict() for variant in self.variants],
        }

    def to_csv(self) -> str:
        """One row per variant; F1 in [0, 1], time in seconds, memory in MB."""
        types = self.entity_types
        header = ["variant", "settings", "runs", "valid_f1_mean", "valid_f1_std", "test_f1_mean", "test_f1_std"]
        header += [f"test_f1_{name}_mean" for name in types]
        header += ["train_seconds_mean", "trainable_parameters", "total_parameters", "peak_rss_mb", "peak_gpu_mb"]
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        for variant in self.variants:
            valid, test, per_type, seconds = (
                variant.valid_f1,
                variant.test_f1,
                variant.per_type_test_f1(),
                variant.train_seconds,
            )
            row: list[Any] = [variant.name, describe(variant.overrides), len(variant.runs)]
            row += [valid.mean if valid else "", valid.std if valid else "", test.mean if test else ""]
            row += [test.std if test else ""]
            row += [per_type[name].mean if name in per_type else "" for name in types]
            row += [seconds.mean if seconds else "", variant.trainable_parameters, variant.total_parameters]
            row += [variant.peak_rss_mb, variant.peak_gpu_mb]
            writer.writerow(["" if cell is None else cell for cell in row])
        return buffer.getvalue()

    def to_markdown(self, plot: str | None = "results.png") -> str:
        types = self.entity_types
        seeds = ", ".join(map(str, self.experiment.seeds))
        own = [v for v in self.experiment.variants if v.seeds is not None]
        if own:
            listed = (f"{v.name}: {', '.join(map(str, self.experiment.seeds_of(v)))}" for v in own)
            seeds += " (" + "; ".join(listed) + ")"
        lines = [
            "# Experiment results",
            "",
            f"Data `{self.experiment.data}`; seeds {seeds}; each run in `<variant>/seed-<n>/`. "
            "F1 in %, mean ± sample std over seeds (n runs); per-type columns are test F1 means.",
            "",
        ]
        header = ["variant", "settings", "valid F1", "test F1", *types, "train time", "trainable", "total", "peak RSS"]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for variant in self.variants:
            per_type = variant.per_type_test_f1()
            cells = [variant.name, describe(variant.overrides).replace("|", "\\|"), _f1(variant.valid_f1)]
            cells += [_f1(variant.test_f1), *(_percent(per_type[t].mean) if t in per_type else "—" for t in types)]
            cells += [_seconds(variant.train_seconds), _count(variant.trainable_parameters)]
            cells += [_count(variant.total_parameters), _megabytes(variant.peak_rss_mb)]
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", "## Runs", "", "| variant | seed | valid F1 | test F1 | epochs | train time | peak RSS |"]
        lines.append("|---|---|---|---|---|---|---|")
        for variant in self.variants:
            for run in variant.runs:
                cells = [variant.name, str(run.seed), _percent(run.valid_f1), _percent(run.test_f1)]
                cells += [_number(run.epochs_run), _seconds(run.train_seconds), _megabytes(run.peak_rss_mb)]
                lines.append("| " + " | ".join(cells) + " |")
        lines += ["", MEMORY_NOTE]
        if plot:
            lines += ["", f"![F1 per variant, and valid F1 per epoch of every run]({plot})"]
        return "\n".join(lines) + "\n"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.2f}"


def _f1(value: MeanStd | None) -> str:
    return "—" if value is None else value.format()


def _seconds(value: MeanStd | float | None) -> str:
    seconds = value.mean if isinstance(value, MeanStd) else value
    if seconds is None:
        return "—"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.1f} s"


def _count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _megabytes(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f} MB"


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:g}"


def collect_results(experiment: Experiment) -> ExperimentResults:
    """The finished runs of every variant, read from their folders (unfinished runs are left out)."""
    variants = []
    for variant in experiment.variants:
        runs = [run for run in experiment.runs() if run.variant == variant.name]
        finished = tuple(read_run_result(run) for run in runs if (run.run_dir / RUN_RECORD).is_file())
        variants.append(VariantResult(variant.name, variant.overrides, finished))
    return ExperimentResults(experiment, tuple(variants))
