"""A plain run folder stripped of bertner's files is just an HF token-classification model: same scores."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bertner.cli import main
from bertner.layout import CONFIG_FILENAME, LABELS_FILENAME


def test_evaluate_scores_an_hf_model_folder_like_the_run_it_came_from(
    plain_run: Path, tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hf_folder = tmp_path / "hf"
    shutil.copytree(plain_run, hf_folder, ignore=shutil.ignore_patterns("checkpoints", "eval", "tensorboard"))
    (hf_folder / LABELS_FILENAME).unlink()
    (hf_folder / CONFIG_FILENAME).unlink()
    scores = {}
    for name, model in (("run", plain_run), ("hf", hf_folder)):
        output = tmp_path / f"eval-{name}"
        argv = ["evaluate", "--model", str(model), "--data", str(tiny_data), "--output", str(output)]
        assert main(["-q", *argv, "--bootstrap-samples", "10"]) == 0
        scores[name] = json.loads((output / "metrics.json").read_text(encoding="utf-8"))["overall"]
    assert scores["hf"] == scores["run"]
    hf_predictions = (tmp_path / "eval-hf" / "predictions.conll").read_text(encoding="utf-8")
    assert hf_predictions == (tmp_path / "eval-run" / "predictions.conll").read_text(encoding="utf-8")
