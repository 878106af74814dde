"""`train --resume` runs what the run folder records (issue 20, defect 1): a changed setting is refused with exit 2,
naming each key with its recorded and requested value, and the record (bertner.toml) is never rewritten."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest

from bertner.cli import main
from bertner.config import RESUME_MAY_CHANGE, Config, TrainConfig, config_changes
from bertner.layout import CONFIG_FILENAME
from bertner.precision import resolve_bf16

# What the `trained_run` fixture (tests/conftest.py) was trained with, besides --data and --output.
FIXTURE_FLAGS = ["--epochs", "1", "--lr", "1e-3", "--batch-size", "4"]


@pytest.fixture
def run_copy(trained_run: Path, tmp_path: Path) -> Path:
    """A copy of the tiny trained run (with its checkpoints), to resume; the fixture itself stays as it was."""
    copy = tmp_path / "run"
    shutil.copytree(trained_run, copy)
    return copy


def _resume(run_dir: Path, tiny_bert: Path, tiny_data: Path, *flags: str) -> int:
    argv = ["-q", "train", "--data", str(tiny_data), "--output", str(run_dir), "--encoder", str(tiny_bert)]
    return main([*argv, *flags, "--bootstrap-samples", "10", "--resume"])


def test_a_changed_setting_is_refused_naming_the_key_and_both_values(
    run_copy: Path, tiny_bert: Path, tiny_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record = (run_copy / CONFIG_FILENAME).read_bytes()
    flags = ["--epochs", "1", "--lr", "2e-3", "--batch-size", "4"]
    assert _resume(run_copy, tiny_bert, tiny_data, *flags) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"bertner train: error: {run_copy}: ")
    assert "train.lr: recorded 0.001, requested 0.002" in lines[0]
    assert (run_copy / CONFIG_FILENAME).read_bytes() == record


def test_every_changed_setting_is_named(
    run_copy: Path, tiny_bert: Path, tiny_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other_bf16 = "false" if resolve_bf16("auto") else "true"
    flags = ["--epochs", "2", "--lr", "1e-3", "--batch-size", "8", "--no-crf", "--bf16", other_bf16]
    assert _resume(run_copy, tiny_bert, tiny_data, *flags) == 2
    message = capsys.readouterr().err
    for change in (
        "train.epochs: recorded 1, requested 2",
        "train.batch_size: recorded 4, requested 8",
        "model.crf: recorded true, requested false",
        f"train.bf16: recorded {str(resolve_bf16('auto')).lower()}, requested {other_bf16}",
    ):
        assert change in message, message
    assert "train.lr" not in message


def test_the_same_settings_resume_and_the_record_is_kept(
    run_copy: Path, tiny_bert: Path, tiny_data: Path, tmp_path: Path
) -> None:
    """A resume that may go on keeps the record as it was, also where it was given another value of a setting that
    may change on resume (train.eval_batch_size): the record keeps the run's first value."""
    path = run_copy / CONFIG_FILENAME
    record = tomllib.loads(path.read_text(encoding="utf-8"))
    assert record["train"]["eval_batch_size"] == 64
    # The record as a config file (what the refusal suggests), with a smaller evaluation batch.
    config = tmp_path / "eval-batch.toml"
    config.write_text(
        path.read_text(encoding="utf-8").replace("eval_batch_size = 64", "eval_batch_size = 8"), encoding="utf-8"
    )
    assert _resume(run_copy, tiny_bert, tiny_data, "--config", str(config)) == 0
    assert tomllib.loads(path.read_text(encoding="utf-8")) == record


def test_config_changes_lists_each_differing_setting_in_field_order() -> None:
    recorded = Config()
    requested = Config(train=TrainConfig(lr=2e-4, crf_lr=None, eval_batch_size=8))
    changes = config_changes(recorded, requested)
    assert [(c.key, c.recorded, c.requested) for c in changes] == [
        ("train.lr", 1e-4, 2e-4),
        ("train.eval_batch_size", 64, 8),
        ("train.crf_lr", 1e-3, None),
    ]
    assert [c.key for c in changes if c.key not in RESUME_MAY_CHANGE] == ["train.lr", "train.crf_lr"]
    assert [str(c) for c in changes][2] == "train.crf_lr: recorded 0.001, requested none"
    assert config_changes(recorded, Config()) == ()
