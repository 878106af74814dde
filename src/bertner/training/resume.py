"""What `train --resume` may continue: a run is resumed only with the settings and labels its folder records.

A run folder's `bertner.toml` says how its weights were trained. Resuming with another learning rate (say) would
train the rest of the run differently from its start while the record said one setting, so such a resume is
refused before anything is loaded or written, naming every changed setting (config.RESUME_MAY_CHANGE lists the
few that may change), and a resume that goes on leaves the record as it is.
"""

from __future__ import annotations

from pathlib import Path

from bertner.config import RESUME_MAY_CHANGE, Config, SettingChange, config_changes
from bertner.config_files import read_saved_config
from bertner.errors import UserError
from bertner.files import read_json
from bertner.labels import LabelSet
from bertner.layout import CONFIG_FILENAME, LABELS_FILENAME
from bertner.precision import with_bf16_decided
from bertner.training.augmentation import with_augment_seed


class ResumeChangedError(UserError):
    """`--resume` asked for settings or labels other than those the run folder records."""


def as_recorded(config: Config) -> Config:
    """`config` as a run records it: bf16 decided for this machine, the augmentation seed filled in."""
    return with_augment_seed(with_bf16_decided(config))


def changes_from_record(run_dir: Path, config: Config) -> list[SettingChange]:
    """The settings in which `config` (as a run would record it) differs from `run_dir`'s bertner.toml, apart from
    those a resumed run may change (config.RESUME_MAY_CHANGE). The folder must hold a record."""
    recorded = read_saved_config(run_dir)
    return [c for c in config_changes(recorded, as_recorded(config)) if c.key not in RESUME_MAY_CHANGE]


def check_resume(run_dir: Path, config: Config, label_set: LabelSet) -> bool:
    """Refuse to resume `run_dir` with `config` (compared as the run would record it: as_recorded) or with
    training data of other labels than its record's; return whether the folder has a record.
    A folder without one has nothing to compare with: it was never started, and training starts from the beginning.

    Raises:
        ResumeChangedError: naming each changed setting with its recorded and requested value.
    """
    if not (run_dir / CONFIG_FILENAME).is_file():
        return False
    changes = changes_from_record(run_dir, config)
    if changes:
        raise ResumeChangedError(
            f"{run_dir}: --resume with settings other than those it was trained with ("
            + "; ".join(str(change) for change in changes)
            + f"): give the run's own settings (--config {run_dir / CONFIG_FILENAME} gives them all), "
            "or train a new run into another --output"
        )
    labels_path = run_dir / LABELS_FILENAME
    if labels_path.is_file():
        recorded = read_json(labels_path, "the run's labels")
        if recorded != list(label_set.labels):
            raise ResumeChangedError(
                f"{run_dir}: --resume with training data of other labels ({', '.join(label_set.labels)}) than the "
                f"run's {LABELS_FILENAME} ({', '.join(recorded)}); give the data it was trained on"
            )
    return True
