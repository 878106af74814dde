"""kill -9, then --resume: real `bertner train` processes killed at chosen points, resumed to a whole run.

Each killed process is a real subprocess that receives SIGKILL. To hit the same point every time, a small
driver patches one function of the process to send SIGKILL to itself when training reaches the point:
during an epoch (a training step), during evaluation, while the Trainer writes a checkpoint, and while
bertner saves the final model. After each kill the folder must be refused by `load_model` with what to do,
and after the last resume the run must be whole, its metrics.jsonl must hold each epoch once, and its
weights must equal those of a run that was never interrupted (same seed; resumed from a checkpoint).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import safetensors.torch

from bertner.model.store import IncompleteModelError, load_model

EPOCHS, BATCH_SIZE = 3, 4  # the tiny training split has 8 sentences: 2 steps per epoch

DRIVER = """
import os, signal, sys
from bertner.cli import main

point, step = sys.argv[1], int(sys.argv[2])

def die(self, *args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

if point == "training-step":
    from bertner.training.trainer import NerTrainer
    original_step = NerTrainer.training_step
    def training_step(self, *args, **kwargs):
        if self.state.global_step >= step:
            die(self)
        return original_step(self, *args, **kwargs)
    NerTrainer.training_step = training_step
elif point == "evaluation":
    from bertner.training.trainer import NerTrainer
    original_evaluate = NerTrainer.evaluate
    def evaluate(self, *args, **kwargs):
        if self.state.global_step >= step:
            die(self)
        return original_evaluate(self, *args, **kwargs)
    NerTrainer.evaluate = evaluate
elif point == "checkpoint":
    # The Trainer has written the checkpoint's weights, optimizer and scheduler, not yet its RNG or state.
    from transformers import Trainer
    original_rng = Trainer._save_rng_state
    def save_rng_state(self, *args, **kwargs):
        if self.state.global_step >= step:
            die(self)
        return original_rng(self, *args, **kwargs)
    Trainer._save_rng_state = save_rng_state
elif point == "final-save":
    # Half of the model's files have been renamed into the run folder.
    from bertner.model import store as build
    def move_half(staging, run_dir):
        files = sorted(p for p in staging.rglob("*") if p.is_file())
        for path in files[: len(files) // 2]:
            (run_dir / path.relative_to(staging)).parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, run_dir / path.relative_to(staging))
        die(None)
    build._move_into_place = move_half
sys.exit(main(sys.argv[3:]))
"""


def _train(run_dir: Path, tiny_bert: Path, tiny_data: Path, point: str = "none", step: int = 0, resume: bool = False):
    argv = ["-q", "train", "--data", str(tiny_data), "--output", str(run_dir), "--encoder", str(tiny_bert)]
    argv += ["--epochs", str(EPOCHS), "--lr", "1e-3", "--batch-size", str(BATCH_SIZE), "--no-test"]
    argv += ["--bootstrap-samples", "10", "--resume"] if resume else ["--bootstrap-samples", "10"]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run(
        [sys.executable, "-c", DRIVER, point, str(step), *argv],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
    )


def _killed(process: subprocess.CompletedProcess[str]) -> None:
    assert process.returncode == -signal.SIGKILL, process.stderr[-3000:]


def _refused(run_dir: Path) -> str:
    with pytest.raises(IncompleteModelError) as refused:
        load_model(run_dir)
    message = str(refused.value)
    assert f"--resume --output {run_dir}" in message or "train again" in message
    return message


def _epochs(run_dir: Path) -> list[float]:
    lines = (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["epoch"] for line in lines]


def _weights(run_dir: Path) -> dict[str, object]:
    """Every saved tensor of the model, by file and name (the default model's layout: encoder/ and tagger files)."""
    files = [*run_dir.glob("*.safetensors"), *run_dir.glob("encoder/*.safetensors")]
    assert files, f"no weights in {run_dir}"
    return {
        f"{path.relative_to(run_dir)}:{name}": tensor
        for path in files
        for name, tensor in safetensors.torch.load_file(str(path)).items()
    }


@pytest.fixture(scope="module")
def uninterrupted(tiny_bert: Path, tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("uninterrupted") / "run"
    finished = _train(run_dir, tiny_bert, tiny_data)
    assert finished.returncode == 0, finished.stderr[-3000:]
    return run_dir


def test_killed_four_times_then_resumed_equals_the_uninterrupted_run(
    uninterrupted: Path, tiny_bert: Path, tiny_data: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"

    # 1. Killed in the middle of epoch 2 (its second step): epoch 1's checkpoint is all there is.
    _killed(_train(run_dir, tiny_bert, tiny_data, "training-step", 3))
    message = _refused(run_dir)
    assert "checkpoint-2" in message
    assert (run_dir / "bertner.lock").is_file()  # left behind by the killed process: a stale lock
    assert _epochs(run_dir) == [1.0]

    # 2. Resumed (taking over the stale lock, with a warning), then killed while evaluating epoch 2.
    resumed = _train(run_dir, tiny_bert, tiny_data, "evaluation", 4, resume=True)
    _killed(resumed)
    assert "taking over a stale lock" in resumed.stderr
    _refused(run_dir)
    assert _epochs(run_dir) == [1.0]

    # 3. Resumed, then killed while the Trainer writes epoch 2's checkpoint: metrics.jsonl already has epoch 2,
    # and checkpoint-4 holds weights but no trainer_state.json.
    _killed(_train(run_dir, tiny_bert, tiny_data, "checkpoint", 4, resume=True))
    _refused(run_dir)
    assert (run_dir / "checkpoints" / "checkpoint-4" / "model.safetensors").is_file()
    assert not (run_dir / "checkpoints" / "checkpoint-4" / "trainer_state.json").exists()
    assert _epochs(run_dir) == [1.0, 2.0]

    # 4. Resumed from checkpoint-2 again (checkpoint-4 is not whole), trained to the end, then killed halfway
    # through renaming the final model's files into place: a folder that looks like a model, and is refused.
    _killed(_train(run_dir, tiny_bert, tiny_data, "final-save", 0, resume=True))
    assert (run_dir / "labels.json").is_file()
    _refused(run_dir)

    # 5. Resumed: nothing left to train; the best epoch is loaded and saved, valid is scored.
    finished = _train(run_dir, tiny_bert, tiny_data, resume=True)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert not (run_dir / "incomplete.json").exists() and not (run_dir / "bertner.lock").exists()
    assert not list(run_dir.glob(".model-staging-*"))
    assert _epochs(run_dir) == _epochs(uninterrupted) == [1.0, 2.0, 3.0]
    resumed, reference = _weights(run_dir), _weights(uninterrupted)
    assert resumed.keys() == reference.keys()
    for name, tensor in reference.items():
        assert resumed[name].equal(tensor), name
    assert (run_dir / "eval" / "valid" / "metrics.json").read_text(encoding="utf-8") == (
        uninterrupted / "eval" / "valid" / "metrics.json"
    ).read_text(encoding="utf-8")
    assert load_model(run_dir).label_set == load_model(uninterrupted).label_set
