"""train_model's `on_epoch` hook: called once per epoch with that epoch's valid F1, and an exception it raises
stops training with the run folder unlocked and marked incomplete."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bertner.config import Config
from bertner.config_files import load_config
from bertner.data.corpus import load_corpus
from bertner.layout import INCOMPLETE_MARKER, LOCK_FILENAME
from bertner.model.store import IncompleteModelError, load_model
from bertner.training.trainer import train_model


class StopHere(Exception):
    """What a caller's hook raises to stop training."""


def _config(encoder: Path, epochs: int) -> Config:
    return load_config(
        None, {"model": {"encoder": str(encoder)}, "train": {"epochs": epochs, "lr": 1e-3, "batch_size": 4}}
    )


def _valid_f1_per_epoch(run_dir: Path) -> list[tuple[int, float]]:
    lines = (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [(round(record["epoch"]), record["valid"]["f1"]) for record in map(json.loads, lines)]


def test_the_hook_gets_each_epochs_valid_f1_as_metrics_jsonl_records_it(
    tiny_bert: Path, tiny_data: Path, tmp_path: Path
) -> None:
    config = _config(tiny_bert, epochs=2)
    calls: list[tuple[int, float]] = []
    train_model(
        config,
        load_corpus(str(tiny_data), config.data),
        tmp_path / "run",
        progress=False,
        on_epoch=lambda epoch, f1: calls.append((epoch, f1)),
    )
    assert calls == _valid_f1_per_epoch(tmp_path / "run")
    assert [epoch for epoch, _ in calls] == [1, 2]


def test_an_exception_from_the_hook_stops_training_unlocked_and_incomplete(
    tiny_bert: Path, tiny_data: Path, tmp_path: Path
) -> None:
    config = _config(tiny_bert, epochs=3)
    run_dir = tmp_path / "run"

    def stop(epoch: int, f1: float) -> None:
        raise StopHere(f"epoch {epoch}")

    with pytest.raises(StopHere, match="epoch 1"):
        train_model(config, load_corpus(str(tiny_data), config.data), run_dir, progress=False, on_epoch=stop)
    assert [epoch for epoch, _ in _valid_f1_per_epoch(run_dir)] == [1]  # no second epoch was trained
    assert not (run_dir / LOCK_FILENAME).exists()
    assert (run_dir / INCOMPLETE_MARKER).is_file()
    with pytest.raises(IncompleteModelError):
        load_model(run_dir)
