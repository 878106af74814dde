"""Trainer callbacks: one line of metrics per epoch in `metrics.jsonl`, and a caller's hook after each epoch."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from bertner.errors import UserError
from bertner.files import write_text_atomic

logger = logging.getLogger(__name__)


def read_metric_lines(path: Path) -> list[str]:
    """The lines of a metrics.jsonl, each a JSON object with a `step`.

    A last line that is not valid JSON is what a kill while appending leaves (files written before bertner
    wrote this one whole): it is dropped with a warning. A bad line anywhere else is an error naming it.
    """
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    kept = []
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
            step = record["step"] if isinstance(record, dict) else None
        except json.JSONDecodeError as error:
            if number == len(lines):
                logger.warning("%s: dropping a cut-off last line (%s): %.60s", path, error.msg, line)
                break
            raise UserError(f"{path}:{number}: not valid JSON ({error.msg}); fix or delete the line") from error
        if not isinstance(step, int):
            raise UserError(f"{path}:{number}: expected a JSON object with an integer 'step'")
        kept.append(line)
    return kept


class EpochMetricsWriter(TrainerCallback):
    """Appends `{epoch, step, train_loss, valid: {...}, elapsed_s}` to metrics.jsonl after each evaluation.

    On resume, lines from steps after the restored checkpoint are dropped, since those epochs run again.
    The file is rewritten whole at each epoch (a temporary file renamed over it), so a kill never cuts a line.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.train_loss: float | None = None
        self.started = time.monotonic()

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        self.started = time.monotonic()
        if not self.path.exists():
            return
        kept = [line for line in read_metric_lines(self.path) if json.loads(line)["step"] <= state.global_step]
        write_text_atomic(self.path, "".join(line + "\n" for line in kept))

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, float] | None = None,
        **kwargs: Any,
    ) -> None:
        if logs and "loss" in logs:
            self.train_loss = float(logs["loss"])

    def on_evaluate(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        metrics: dict[str, float] | None = None,
        **kwargs: Any,
    ) -> None:
        metrics = metrics or {}
        valid = {k.removeprefix("eval_"): v for k, v in metrics.items() if k.startswith("eval_")}
        record = {
            "epoch": round(state.epoch or 0.0, 4),
            "step": state.global_step,
            "train_loss": self.train_loss,
            "valid": valid,
            "elapsed_s": round(time.monotonic() - self.started, 1),
        }
        kept = read_metric_lines(self.path) if self.path.exists() else []
        write_text_atomic(self.path, "".join(line + "\n" for line in [*kept, json.dumps(record)]))


EpochHook = Callable[[int, float], None]
"""Called as `hook(epoch, valid_f1)` after each epoch's evaluation; epochs count from 1, F1 is in [0, 1]."""


class EpochHookCallback(TrainerCallback):
    """Calls an :data:`EpochHook` after each evaluation, after metrics.jsonl has the epoch's line.

    An exception the hook raises (a search's pruner stopping a trial) propagates out of `trainer.train()` and
    out of `train_model`: training stops there, the run folder's lock is released and the folder stays
    marked incomplete, as after any failure.
    """

    def __init__(self, hook: EpochHook) -> None:
        self.hook = hook

    def on_evaluate(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        metrics: dict[str, float] | None = None,
        **kwargs: Any,
    ) -> None:
        f1 = (metrics or {}).get("eval_f1")
        if f1 is not None:
            self.hook(round(state.epoch or 0.0), float(f1))
