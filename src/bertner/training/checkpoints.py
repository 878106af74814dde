"""The Trainer's checkpoints in a run folder: which one `--resume` continues from, and which were cut short."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from bertner.model.store import safetensors_shapes

logger = logging.getLogger(__name__)

# What the Trainer writes into a checkpoint folder; trainer_state.json comes last (Trainer._save_checkpoint).
_CHECKPOINT_FILES = ("model.safetensors", "optimizer.pt", "scheduler.pt", "trainer_state.json")
# One process writes rng_state.pth; under DDP each rank writes its own rng_state_{rank}.pth, and a rank whose
# file is missing resumes with fresh RNG (the Trainer warns), so one RNG file of either kind is enough.
_RNG_FILES = ("rng_state.pth", "rng_state_*.pth")


def _checkpoint_step(path: Path) -> int:
    step = path.name.rpartition("-")[2]
    return int(step) if step.isdigit() else -1


def _is_whole(checkpoint: Path) -> bool:
    """Whether every file the Trainer writes into a checkpoint is there, and its state and weights are readable."""
    if not all((checkpoint / name).is_file() for name in _CHECKPOINT_FILES):
        return False
    if not any(path.is_file() for pattern in _RNG_FILES for path in checkpoint.glob(pattern)):
        return False
    try:
        json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
        safetensors_shapes(checkpoint / "model.safetensors")
    except (OSError, ValueError):
        return False
    return True


def last_whole_checkpoint(checkpoints: Path) -> Path | None:
    """The newest checkpoint written whole; newer ones cut short by a kill are deleted, with a warning."""
    for checkpoint in sorted(checkpoints.glob("checkpoint-*"), key=_checkpoint_step, reverse=True):
        if _is_whole(checkpoint):
            return checkpoint
        logger.warning("--resume: %s was not written whole (killed while saving it?); deleting it", checkpoint)
        shutil.rmtree(checkpoint)
    return None
