"""Shared fixtures: a tiny random-initialised BERT written to disk, the tiny hand-written dataset, and a tiny
model trained through the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bertner.cli import main
from bertner.model.store import load_model, save_model
from tiny_models import PAPER_CONFIG, TINY_DATA, write_tiny_bert


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> None:
    # The tiny model's ops take microseconds; with two threads on a busy 2-core machine each waited ~10 ms for a
    # core. Set again for every module, as a test may have changed it (`--threads`).
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_data() -> Path:
    return TINY_DATA


@pytest.fixture(scope="module")
def trained_run(tiny_bert: Path, tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny model trained through the CLI, shared by the tests below (they only read it)."""
    run_dir = tmp_path_factory.mktemp("cli-run") / "run"
    argv = ["-q", "train", "--data", str(tiny_data), "--output", str(run_dir)]
    assert main([*argv, "--encoder", str(tiny_bert), "--epochs", "1", "--lr", "1e-3", "--batch-size", "4"]) == 0
    return run_dir


@pytest.fixture(scope="module")
def plain_run(tiny_bert: Path, tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model trained through the CLI with the paper's setting: the plain linear head that HF loads."""
    run_dir = tmp_path_factory.mktemp("cli-plain-run") / "run"
    argv = ["-q", "train", "--data", str(tiny_data), "--output", str(run_dir), "--config", str(PAPER_CONFIG)]
    assert main([*argv, "--encoder", str(tiny_bert), "--epochs", "1", "--lr", "1e-3", "--batch-size", "4"]) == 0
    return run_dir


@pytest.fixture(scope="module")
def all_per_run(trained_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trained run with its head set to say B-PER for every word, so predictions are known in advance."""
    model = load_model(trained_run)
    with torch.no_grad():
        model.tagger.classifier.weight.zero_()
        model.tagger.classifier.bias.zero_()
        model.tagger.classifier.bias[model.label_set.label2id["B-PER"]] = 20.0
    run_dir = tmp_path_factory.mktemp("cli-all-per")
    save_model(model, run_dir)
    return run_dir
