"""train_model on the tiny data: what a run folder holds, that the best epoch is kept, resume, and long sentences."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest
import safetensors.torch
import torch

from bertner.config import Config
from bertner.config_files import load_config
from bertner.data.conll import read_conll
from bertner.data.corpus import Corpus, load_corpus
from bertner.data.features import PAD_SHAPE, word_shape
from bertner.inference.evaluate import evaluate_sentences
from bertner.layout import CHECKPOINTS_DIR
from bertner.model.store import load_model
from bertner.training import trainer as trainer_module
from bertner.training.resume import ResumeChangedError
from bertner.training.trainer import TrainResult, train_model
from tiny_models import write_tiny_bert

BATCH_SIZE = 4


def _config(encoder: Path, epochs: int, **data: Any) -> Config:
    return load_config(
        None,
        {
            "model": {"encoder": str(encoder), "crf": False, "case_features": False},  # weights in model.safetensors
            "train": {"epochs": epochs, "lr": 1e-3, "batch_size": BATCH_SIZE},
            "data": data,
        },
    )


def _metrics(run_dir: Path) -> list[dict[str, Any]]:
    lines = (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def _checkpoints(run_dir: Path) -> list[Path]:
    return sorted((run_dir / CHECKPOINTS_DIR).glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))


def _count_training_steps(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Patch the trainer to count optimisation steps; returns the (growing) list of counted steps."""
    counted: list[int] = []
    original = trainer_module.NerTrainer.training_step

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        counted.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(trainer_module.NerTrainer, "training_step", counting)
    return counted


@pytest.fixture(scope="module")
def tiny_run(
    tiny_bert: Path, tiny_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[TrainResult, Corpus, Path]:
    config = _config(tiny_bert, epochs=2)
    corpus = load_corpus(str(tiny_data), config.data)
    run_dir = tmp_path_factory.mktemp("tiny-run")
    return train_model(config, corpus, run_dir, progress=False), corpus, run_dir


def test_a_run_folder_holds_config_labels_metrics_and_tensorboard(
    tiny_run: tuple[TrainResult, Corpus, Path],
) -> None:
    result, corpus, run_dir = tiny_run
    assert result.run_dir == run_dir
    assert result.epochs_run == 2.0
    assert load_config(run_dir / "bertner.toml").train.epochs == 2
    assert json.loads((run_dir / "labels.json").read_text(encoding="utf-8")) == list(corpus.label_set.labels)
    records = _metrics(run_dir)
    steps_per_epoch = math.ceil(len(corpus.train) / BATCH_SIZE)
    assert [r["epoch"] for r in records] == [1.0, 2.0]
    assert [r["step"] for r in records] == [steps_per_epoch, 2 * steps_per_epoch]
    for record in records:
        assert isinstance(record["train_loss"], float) and record["train_loss"] > 0
        assert 0.0 <= record["valid"]["f1"] <= 1.0
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))


def test_the_best_epoch_is_the_one_kept(tiny_run: tuple[TrainResult, Corpus, Path]) -> None:
    result, corpus, run_dir = tiny_run
    f1s = [r["valid"]["f1"] for r in _metrics(run_dir)]
    assert result.best_valid_f1 == max(f1s)
    state = json.loads((_checkpoints(run_dir)[-1] / "trainer_state.json").read_text(encoding="utf-8"))
    best_checkpoint = Path(state["best_model_checkpoint"])
    best_step = int(best_checkpoint.name.split("-")[1])
    # Ties go to the earliest epoch, as the Trainer only replaces the best on a strict improvement.
    assert best_step == next(r["step"] for r in _metrics(run_dir) if r["valid"]["f1"] == max(f1s))
    saved = load_model(run_dir)
    best_weights = safetensors.torch.load_file(str(best_checkpoint / "model.safetensors"))
    for name, tensor in saved.tagger.state_dict().items():
        assert torch.equal(tensor, best_weights[name]), name
    rescored = evaluate_sentences(saved, corpus.valid)
    assert rescored.scores.overall.f1 == result.best_valid_f1


def test_resume_with_more_epochs_is_refused(tiny_bert: Path, tiny_data: Path, tmp_path: Path) -> None:
    """Its learning-rate schedule spans the epochs it started with, so more epochs would train a run unlike its
    record (issue 20); the record and the weights stay as they were."""
    corpus = load_corpus(str(tiny_data), _config(tiny_bert, 1).data)
    train_model(_config(tiny_bert, epochs=1), corpus, tmp_path, progress=False)
    before = {name: (tmp_path / name).read_bytes() for name in ("bertner.toml", "model.safetensors", "metrics.jsonl")}

    with pytest.raises(ResumeChangedError, match="train.epochs: recorded 1, requested 2"):
        train_model(_config(tiny_bert, epochs=2), corpus, tmp_path, resume=True, progress=False)

    assert {name: (tmp_path / name).read_bytes() for name in before} == before


def test_resume_after_an_interrupted_run_drops_the_lost_epoch(
    tiny_bert: Path, tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(tiny_bert, epochs=2)
    corpus = load_corpus(str(tiny_data), config.data)
    steps_per_epoch = math.ceil(len(corpus.train) / BATCH_SIZE)
    train_model(config, corpus, tmp_path, progress=False)
    # Simulate a run killed during epoch 2's save: its checkpoint and the final model never reached disk.
    checkpoints = _checkpoints(tmp_path)
    assert [c.name for c in checkpoints][-1] == f"checkpoint-{2 * steps_per_epoch}"
    shutil.rmtree(checkpoints[-1])
    (tmp_path / "model.safetensors").unlink()
    assert [c.name for c in _checkpoints(tmp_path)] == [f"checkpoint-{steps_per_epoch}"]

    steps = _count_training_steps(monkeypatch)
    train_model(config, corpus, tmp_path, resume=True, progress=False)

    assert len(steps) == steps_per_epoch
    records = _metrics(tmp_path)
    assert [r["epoch"] for r in records] == [1.0, 2.0]  # the lost epoch 2 line was replaced, not duplicated
    assert [r["step"] for r in records] == [steps_per_epoch, 2 * steps_per_epoch]
    assert load_model(tmp_path).label_set == corpus.label_set


def test_case_features_train_only_the_shapes_seen_in_training(tiny_bert: Path, tiny_data: Path, tmp_path: Path) -> None:
    config = load_config(
        None,
        {
            "model": {"encoder": str(tiny_bert), "case_features": True},
            "train": {"epochs": 1, "lr": 1e-2, "batch_size": 4},
        },
    )
    corpus = load_corpus(str(tiny_data), config.data)
    train_model(config, corpus, tmp_path, progress=False)

    model = load_model(tmp_path)
    assert model.tagger.shape_embedding is not None
    trained = {shape for shape, row in enumerate(model.tagger.shape_embedding.weight) if bool(row.any())}
    # Zero-initialised rows move only by gradient, so exactly the shapes of training words (never PAD) move.
    assert trained == {word_shape(word) for sentence in corpus.train for word in sentence.words}
    assert PAD_SHAPE not in trained


def _write_conll(path: Path, sentences: list[list[tuple[str, str]]]) -> None:
    blocks = ["\n".join(f"{word} {tag}" for word, tag in sentence) for sentence in sentences]
    path.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")


def _long_sentence(length: int) -> list[tuple[str, str]]:
    pattern = [("Maria", "B-PER"), ("Okafor", "I-PER"), ("flew", "O"), ("to", "O"), ("Lisbon", "B-LOC"), (".", "O")]
    return [pattern[i % len(pattern)] for i in range(length)]


def test_training_windows_long_sentences_and_scores_every_word(
    tiny_data: Path, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    encoder = write_tiny_bert(tmp_path_factory.mktemp("short-bert"), max_positions=24)
    data = tmp_path / "data"
    data.mkdir()
    short = [list(zip(s.words, s.tags, strict=True)) for s in read_conll(tiny_data / "train.conll")]
    _write_conll(data / "train.conll", [*short, _long_sentence(120)])
    _write_conll(data / "dev.conll", [short[0], _long_sentence(105)])
    _write_conll(data / "test.conll", [short[1]])
    config = _config(encoder, epochs=1, max_length=16, window_overlap=4)
    corpus = load_corpus(str(data), config.data)
    assert max(len(s.words) for s in corpus.train) == 120

    result = train_model(config, corpus, tmp_path / "run", progress=False)

    assert result.epochs_run == 1.0
    assert len(_metrics(tmp_path / "run")) == 1
    model = load_model(tmp_path / "run")
    evaluation = evaluate_sentences(model, corpus.valid)
    assert [len(tags) for tags in evaluation.predicted] == [len(s.words) for s in corpus.valid]
    assert evaluation.scores.words == sum(len(s.words) for s in corpus.valid)
    assert all(tag in corpus.label_set.labels for tags in evaluation.predicted for tag in tags)
