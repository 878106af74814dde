"""What a pretraining run is asked to do (PretrainSettings), and the records it writes.

- `checkpoints/settings.json`, written when a run starts: the settings with the inputs' sha256 and the precision
  decided for this machine. `--resume` compares itself against it and refuses to continue other settings (a
  resumed run must be the run it continues, or the record would describe neither).
- `pretrain.json` beside the encoder, written with it: the source encoder, the input files with their sha256,
  windows, masking, steps, seed, the MLM loss at every logging step and at the end, time and machine.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import transformers

from bertner.errors import UserError
from bertner.files import read_json, write_text_atomic
from bertner.precision import NATIVE_BF16_FLAGS, cpu_flags
from bertner.pretraining.examples import MASKINGS
from bertner.pretraining.texts import FORMATS, InputFile

PRETRAIN_RECORD = "pretrain.json"
SETTINGS_FILE = "settings.json"
"""Inside the checkpoints folder: what the checkpoints were trained with."""
_REPORTED_CPU_FLAGS = ("avx2", "avx512f", *NATIVE_BF16_FLAGS)


@dataclass(frozen=True)
class PretrainSettings:
    """Continued masked-LM pretraining. The defaults follow Gururangan et al. (2020): lr 1e-4 (their TAPT and
    DAPT), 6% linear warmup, weight decay 0.01; the masking is BERT's (15%)."""

    encoder: str = "minilm-l6"
    """A named encoder (minilm-l6, mpnet-base), a hub id or a local folder."""
    format: str = "auto"
    """How the text files are read (pretraining/texts.py): auto, lines, blocks, jsonl or conll."""
    masking: str = "token"
    """token: sub-tokens are masked independently; word: whole words (pretraining/examples.py)."""
    mlm_probability: float = 0.15
    max_length: int = 128
    """Sub-tokens per window, special tokens included; longer texts are cut into consecutive windows."""
    lr: float = 1e-4
    batch_size: int = 32
    epochs: float = 1.0
    max_steps: int | None = None
    """When set, training stops after this many steps, whatever `epochs` says (the HF Trainer's rule)."""
    warmup_ratio: float = 0.06
    weight_decay: float = 0.01
    seed: int = 42
    bf16: bool | str = "auto"
    """bfloat16 autocast: True, False or "auto" (where native, precision.py); recorded as decided."""
    logging_steps: int = 50
    save_steps: int = 500

    def __post_init__(self) -> None:
        checks = (
            (self.format in FORMATS, f"the text format must be one of {', '.join(FORMATS)}, not {self.format!r}"),
            (self.masking in MASKINGS, f"masking must be one of {', '.join(MASKINGS)}, not {self.masking!r}"),
            (0 < self.mlm_probability < 1, "the masking probability must be in (0, 1)"),
            (self.max_length >= 8, "the window length must be at least 8 sub-tokens"),
            (self.lr > 0 and self.batch_size >= 1 and self.epochs > 0, "lr, batch size and epochs must be > 0"),
            (self.max_steps is None or self.max_steps >= 1, "max_steps must be at least 1"),
            (0 <= self.warmup_ratio < 1, "warmup_ratio must be in [0, 1)"),
            (self.logging_steps >= 1 and self.save_steps >= 1, "logging and save steps must be at least 1"),
        )
        for ok, message in checks:
            if not ok:
                raise UserError(message)


def run_plan(settings: PretrainSettings, encoder_path: str, inputs: list[InputFile]) -> dict[str, Any]:
    """What a run's checkpoints are trained on and with: the settings (precision decided) and the inputs."""
    return {
        "settings": dataclasses.asdict(settings),
        "encoder_path": encoder_path,
        "inputs": [dataclasses.asdict(item) for item in inputs],
    }


def write_plan(checkpoints: Path, plan: dict[str, Any]) -> None:
    write_text_atomic(checkpoints / SETTINGS_FILE, json.dumps(plan, indent=2) + "\n")


def check_resumable(checkpoints: Path, plan: dict[str, Any]) -> None:
    """Raise unless the checkpoints in `checkpoints` were trained with `plan`, naming the first difference."""
    path = checkpoints / SETTINGS_FILE
    if not path.is_file():
        raise UserError(f"{path}: not found; --resume continues a pretraining started into this folder")
    saved = read_json(path, "the settings of the pretraining to resume")
    for part in ("settings", "inputs", "encoder_path"):
        if saved.get(part) != plan[part]:
            raise UserError(f"{path}: {_difference(part, saved.get(part), plan[part])}; start anew without --resume")


def _difference(part: str, saved: Any, now: Any) -> str:
    if part == "settings" and isinstance(saved, dict):
        for key, value in now.items():
            if saved.get(key) != value:
                return f"the checkpoints were trained with {key} = {saved.get(key)!r}, this run asks for {value!r}"
    if part == "inputs":
        return "the checkpoints were trained on other text files (paths or sha256 differ)"
    return f"the checkpoints were trained with {part} {saved!r}, this run has {now!r}"


def machine() -> dict[str, Any]:
    """The machine a record was made on."""
    return {
        "host": socket.gethostname(),
        "cpu": _cpu_model() or platform.machine(),
        "cpu_flags": sorted(set(cpu_flags()) & set(_REPORTED_CPU_FLAGS)),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }


def _cpu_model() -> str:
    """The CPU's model name as Linux reports it in /proc/cpuinfo; empty elsewhere."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name":
            return value.strip()
    return ""


def loss_curve(log_history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The training loss of each logging step in a Trainer's log history: step, epoch, loss, learning rate."""
    return [
        {"step": entry["step"], "epoch": entry.get("epoch"), "loss": entry["loss"], "lr": entry.get("learning_rate")}
        for entry in log_history
        if "loss" in entry
    ]
