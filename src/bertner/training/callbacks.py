"""Trainer callbacks: one line of metrics per epoch in `metrics.jsonl`."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

METRICS_FILENAME = "metrics.jsonl"


class EpochMetricsWriter(TrainerCallback):
    """Appends `{epoch, step, train_loss, valid: {...}, elapsed_s}` to metrics.jsonl after each evaluation.

    On resume, lines from steps after the restored checkpoint are dropped, since those epochs run again.
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
        kept = [
            line
            for line in self.path.read_text(encoding="utf-8").splitlines()
            if line.strip() and json.loads(line)["step"] <= state.global_step
        ]
        self.path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")

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
        with self.path.open("a", encoding="utf-8") as stream:
            stream.write(json.dumps(record) + "\n")
