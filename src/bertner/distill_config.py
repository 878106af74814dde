"""The [distill] section of a config (config.py imports it; kept apart so that config.py stays one screen of keys).

`bertner distill` (bertner/distillation/) fills `teacher`, `teacher_fingerprint` and `unlabeled` in; a run's
bertner.toml then records what it was distilled from and how. A run trained by `bertner train` records
`teacher = ""`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

UNLABELED_FORMATS = ("auto", "lines", "blocks", "jsonl", "conll")
"""How `--unlabeled` files are read: as `bertner pretrain` reads its texts (pretraining/texts.py)."""


@dataclass(frozen=True)
class DistillConfig:
    """Knowledge distillation from a teacher's word-level distributions (bertner/distillation/)."""

    teacher: str = ""
    """The teacher a run was distilled from: a run, export or ensemble folder (absolute) or an HF model; empty: the
    run was not distilled (not None: config.NONE's spelling must never be a string key's value). Set by
    `bertner distill --teacher`."""
    teacher_fingerprint: str = ""
    """sha256 over the teacher's model files (distillation/fingerprint.py): which teacher, exactly."""
    temperature: float = 2.0
    """T: teacher and student distributions are both softened by dividing every score by T (a CRF's transitions
    too), and the soft loss is scaled by T^2 so that its gradients keep their size (Hinton et al. 2015)."""
    alpha: float = 0.5
    """The gold loss's weight; the soft loss (KL from the teacher's word distributions) weighs 1 - alpha."""
    unlabeled: tuple[str, ...] = ()
    """Files of unlabelled text that the teacher tags, trained on with soft targets only."""
    unlabeled_format: str = "auto"
    """How the unlabelled files are read: auto, lines, blocks, jsonl or conll (UNLABELED_FORMATS)."""
    transfer_copies: float = 1.0
    """Augmented copies of each training sentence (mention and token replacement) that the teacher tags, trained
    on with its targets only (distillation/transfer.py); 0: none, 1.5: every sentence once, half of them twice.
    1 by default: on CoNLL-2003 a student without them gained nothing from its teacher, with one copy each it
    gained on every seed (docs/results.md, "Distillation from mpnet-base"), for twice the training time."""
    transfer_seed: int = 0
    """Seed of the transfer set's copies: fixed apart from the student's seed, so that students share them."""


def distill_checks(distill: DistillConfig) -> list[tuple[bool, str]]:
    """(ok, message) pairs for config.validate: settings that cannot work, naming the key."""
    return [
        (
            math.isfinite(distill.temperature) and distill.temperature > 0,
            f"distill.temperature must be a positive number, not {distill.temperature}",
        ),
        (0 <= distill.alpha <= 1, f"distill.alpha must be in [0, 1], not {distill.alpha}"),
        (
            distill.unlabeled_format in UNLABELED_FORMATS,
            f"distill.unlabeled_format must be one of {', '.join(UNLABELED_FORMATS)}, not {distill.unlabeled_format!r}",
        ),
        (all(distill.unlabeled), "distill.unlabeled must not hold empty paths"),
        (
            math.isfinite(distill.transfer_copies) and distill.transfer_copies >= 0,
            f"distill.transfer_copies must be a number at least 0, not {distill.transfer_copies}",
        ),
        (distill.transfer_seed >= 0, f"distill.transfer_seed must be at least 0, not {distill.transfer_seed}"),
    ]
