"""Reading a run folder as `bertner train` writes it: `bertner.toml` (the resolved config), `metrics.jsonl`
(one JSON line per evaluation: `{"epoch", "step", "train_loss", "valid": {...}, "elapsed_s"}`) and
`eval/{valid,test}/metrics.json` (`{"overall": {"f1", ...}, ...}`). Only the config is required; a missing
metrics file leaves its figures None.

Compare, the report's training plot and the server's `/v1/model` read runs through here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bertner.config_files import read_saved_config
from bertner.errors import UserError
from bertner.layout import CONFIG_FILENAME, EPOCH_METRICS_FILE, EVAL_DIR, SPLIT_METRICS


@dataclass(frozen=True)
class EpochRecord:
    """One line of ``metrics.jsonl``: scores after an evaluation during training (valid scores in [0, 1])."""

    epoch: float
    step: int
    train_loss: float | None
    precision: float | None
    recall: float | None
    f1: float | None
    accuracy: float | None
    elapsed_s: float | None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def read_epoch_metrics(path: Path) -> tuple[EpochRecord, ...]:
    """The records of a ``metrics.jsonl`` file, in file order; blank lines are skipped.

    Raises:
        UserError: ``path:line: ...`` for a line that is not a JSON object with ``epoch`` and ``step``.
    """
    records = []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"{path}: cannot read the epoch metrics: {error}") from error
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as error:
            raise UserError(f"{path}:{number}: not valid JSON: {error.msg}") from error
        if not isinstance(raw, dict) or _number(raw.get("epoch")) is None or _number(raw.get("step")) is None:
            raise UserError(f"{path}:{number}: expected a JSON object with numeric 'epoch' and 'step'")
        valid = raw["valid"] if isinstance(raw.get("valid"), dict) else {}
        records.append(
            EpochRecord(
                epoch=float(raw["epoch"]),
                step=int(raw["step"]),
                train_loss=_number(raw.get("train_loss")),
                precision=_number(valid.get("precision")),
                recall=_number(valid.get("recall")),
                f1=_number(valid.get("f1")),
                accuracy=_number(valid.get("accuracy")),
                elapsed_s=_number(raw.get("elapsed_s")),
            )
        )
    return tuple(records)


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train": {"lr": 1e-4}}`` -> ``{"train.lr": 1e-4}``."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _overall_f1(path: Path) -> float | None:
    if not path.is_file():
        return None
    try:
        overall = json.loads(path.read_text(encoding="utf-8")).get("overall", {})
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError) as error:
        raise UserError(f"{path}: cannot read a JSON object with an 'overall' table: {error}") from error
    return _number(overall.get("f1")) if isinstance(overall, dict) else None


@dataclass(frozen=True)
class RunSummary:
    """What :func:`compare_runs` knows about one run directory.

    Attributes:
        name: how the run is shown (its folder name, or its path when names repeat).
        path: the run directory.
        config: the flattened config, ``{"train.lr": 0.0001, ...}``.
        epochs: the records of ``metrics.jsonl`` (empty without one).
        valid_f1: F1 of the saved model on the validation set (``eval/valid/metrics.json``), if any.
        test_f1: F1 on the test set (``eval/test/metrics.json``), if any.
    """

    name: str
    path: Path
    config: Mapping[str, Any]
    epochs: tuple[EpochRecord, ...]
    valid_f1: float | None
    test_f1: float | None

    @property
    def best_valid_f1(self) -> float | None:
        """The highest validation F1 over the epochs, else the saved model's validation F1."""
        scores = [record.f1 for record in self.epochs if record.f1 is not None]
        return max(scores) if scores else self.valid_f1

    @property
    def train_seconds(self) -> float | None:
        """``elapsed_s`` of the last ``metrics.jsonl`` record, if it has one."""
        return self.epochs[-1].elapsed_s if self.epochs else None

    def valid_f1_curve(self) -> tuple[tuple[float, float], ...]:
        """``(epoch, valid F1)`` for every record that has a validation F1."""
        return tuple((record.epoch, record.f1) for record in self.epochs if record.f1 is not None)


def read_run(run_dir: Path, name: str | None = None) -> RunSummary:
    """Read one run directory.

    Raises:
        UserError: if ``bertner.toml`` is missing or not a valid config, or a metrics file is malformed.
    """
    if not (run_dir / CONFIG_FILENAME).is_file():
        raise UserError(f"{run_dir}: not a run directory (no {CONFIG_FILENAME})")
    # The config as the run was trained: keys that a run saved by an older bertner lacks are filled in as they
    # were then, so that runs from before and after a new key still group by seed.
    config = read_saved_config(run_dir).to_dict()
    epochs_path = run_dir / EPOCH_METRICS_FILE
    return RunSummary(
        name=name or run_dir.name,
        path=run_dir,
        config=_flatten(config),
        epochs=read_epoch_metrics(epochs_path) if epochs_path.is_file() else (),
        valid_f1=_overall_f1(run_dir / EVAL_DIR / "valid" / SPLIT_METRICS),
        test_f1=_overall_f1(run_dir / EVAL_DIR / "test" / SPLIT_METRICS),
    )
