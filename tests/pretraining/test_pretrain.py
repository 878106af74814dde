"""`bertner pretrain` on tiny encoders: the MLM loss falls on repeated text, the output is the trained encoder without
its head and `train --encoder` takes it, `--resume` ends where an uninterrupted run ends, and bad input is a located
error (exit 2) that writes nothing."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
from pathlib import Path
from typing import Any

import pytest
import safetensors.torch
import torch
from pretrain_helpers import random_words, write_tiny_mpnet
from transformers import AutoModel, TrainerCallback

from bertner.cli import main
from bertner.pretraining.model import load_masked_lm
from bertner.pretraining.record import PRETRAIN_RECORD, PretrainSettings
from bertner.pretraining.run import pretrain

SENTENCE = "maria okafor flew to lisbon on tuesday ."
STEPS = 40


@pytest.fixture(scope="module")
def repeated_text(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("text") / "repeated.txt"
    path.write_text(f"{SENTENCE}\n" * 32, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def pretrained(tiny_bert: Path, repeated_text: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("pretrain") / "encoder"
    argv = ["-q", "pretrain", "--text", str(repeated_text), "--encoder", str(tiny_bert), "--output", str(output)]
    options = ["--max-steps", str(STEPS), "--lr", "1e-2", "--batch-size", "8", "--logging-steps", "1"]
    assert main([*argv, *options, "--warmup-ratio", "0", "--bf16", "false", "--seed", "7"]) == 0
    return output


def _record(folder: Path) -> dict[str, Any]:
    return json.loads((folder / PRETRAIN_RECORD).read_text(encoding="utf-8"))


def test_the_mlm_loss_falls_on_repeated_text(pretrained: Path, tiny_bert: Path) -> None:
    curve = [entry["loss"] for entry in _record(pretrained)["loss"]["per_logging_step"]]
    assert len(curve) == STEPS
    # The first step's loss is the fresh head's, whose small random weights score the vocabulary about evenly.
    vocabulary = len((tiny_bert / "vocab.txt").read_text(encoding="utf-8").split())
    assert abs(curve[0] - math.log(vocabulary)) < 0.5
    assert sum(curve[-5:]) / 5 < 0.5 * sum(curve[:5]) / 5
    assert _record(pretrained)["loss"]["final"] == curve[-1]


def test_the_output_is_the_trained_encoder_without_its_head(pretrained: Path, repeated_text: Path) -> None:
    saved = safetensors.torch.load_file(pretrained / "model.safetensors")
    # The last checkpoint holds the whole MLM model as trained: its encoder is what was saved, and nothing else.
    (checkpoint,) = (pretrained / "checkpoints").glob("checkpoint-*")
    trained = safetensors.torch.load_file(checkpoint / "model.safetensors")
    encoder = {name.removeprefix("bert."): tensor for name, tensor in trained.items() if name.startswith("bert.")}
    assert saved.keys() == encoder.keys()
    assert all(torch.equal(saved[name], encoder[name]) for name in saved)
    assert not any(name.startswith("cls.") for name in saved)
    model, info = AutoModel.from_pretrained(pretrained, output_loading_info=True, add_pooling_layer=False)
    assert info["missing_keys"] == set() or not info["missing_keys"]
    record = _record(pretrained)
    assert record["steps"] == STEPS and record["settings"]["seed"] == 7 and record["settings"]["bf16"] is False
    assert record["inputs"] == [
        {
            "path": str(repeated_text),
            "format": "lines",
            "sha256": hashlib.sha256(repeated_text.read_bytes()).hexdigest(),
            "texts": 32,
        }
    ]
    assert record["masking"]["kind"] == "token" and record["masking"]["probability"] == 0.15
    assert record["source_encoder"]["mlm_head"]["fresh"] is True
    assert {"host", "cpu_flags", "torch", "transformers"} <= record["machine"].keys()


def test_train_takes_the_output_as_its_encoder(pretrained: Path, tiny_data: Path, tmp_path: Path) -> None:
    argv = ["-q", "train", "--data", str(tiny_data), "--encoder", str(pretrained), "--output", str(tmp_path / "run")]
    options = ["--epochs", "1", "--batch-size", "4", "--limit-train", "16", "--limit-eval", "8", "--no-test"]
    assert main([*argv, *options]) == 0
    assert (tmp_path / "run" / "eval" / "valid").is_dir()


def test_a_fresh_head_is_logged(tiny_bert: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="bertner"):
        masked_lm = load_masked_lm(str(tiny_bert))
    assert masked_lm.fresh_head and all(name.startswith("cls.predictions.") for name in masked_lm.fresh_head)
    assert "has no masked-LM head: a fresh one is made" in caplog.text


def test_an_mpnet_encoder_with_whole_word_masking(tmp_path: Path) -> None:
    encoder = write_tiny_mpnet(tmp_path / "mpnet")
    text = tmp_path / "text.txt"
    text.write_text("\n".join(" ".join(random_words(random.Random(n), 12)) for n in range(8)) + "\n", encoding="utf-8")
    output = tmp_path / "out"
    argv = ["-q", "pretrain", "--text", str(text), "--encoder", str(encoder), "--output", str(output)]
    assert main([*argv, "--max-steps", "3", "--batch-size", "4", "--masking", "word", "--bf16", "false"]) == 0
    record = _record(output)
    assert record["masking"] == {
        "kind": "word",
        "probability": 0.15,
        "mask_token": 1.0,
        "random_token": 0.0,
        "unchanged": 0.0,
    }
    assert all(name.startswith("lm_head.") for name in record["source_encoder"]["mlm_head"]["initialised"])
    model, info = AutoModel.from_pretrained(output, output_loading_info=True)
    assert type(model).__name__ == "MPNetModel"
    assert all(name.startswith("pooler.") for name in info["missing_keys"])  # an MLM model holds no pooler


class _Interrupt(Exception):
    pass


class _InterruptAfterSaving(TrainerCallback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step == self.step:
            raise _Interrupt


def test_resume_ends_where_an_uninterrupted_run_ends(tiny_bert: Path, tmp_path: Path) -> None:
    """12 texts in batches of 2 are 6 steps an epoch; the run is cut after saving step 8, inside the second epoch,
    and resumed. Dropout and masks make every step depend on the RNG states and the data order."""
    text = tmp_path / "text.txt"
    text.write_text("\n".join(f"{SENTENCE} {n}" for n in range(12)) + "\n", encoding="utf-8")
    settings = PretrainSettings(
        encoder=str(tiny_bert), lr=1e-3, batch_size=2, epochs=2, save_steps=4, logging_steps=1, bf16=False, seed=3
    )
    whole = pretrain(settings, [text], tmp_path / "whole", progress=False)
    cut = tmp_path / "cut"
    with pytest.raises(_Interrupt):
        pretrain(settings, [text], cut, progress=False, callbacks=[_InterruptAfterSaving(8)])
    assert [path.name for path in cut.iterdir()] == ["checkpoints"]  # no config.json: not an encoder folder
    resumed = pretrain(settings, [text], cut, resume=True, progress=False)
    assert whole.steps == resumed.steps == 12
    assert resumed.record["time"]["resumed_from_step"] == 8
    assert resumed.record["loss"]["per_logging_step"] == whole.record["loss"]["per_logging_step"]
    one = safetensors.torch.load_file(whole.output / "model.safetensors")
    two = safetensors.torch.load_file(resumed.output / "model.safetensors")
    assert one.keys() == two.keys() and all(torch.equal(one[name], two[name]) for name in one)

    other = ["--text", str(text), "--encoder", str(tiny_bert), "--output", str(cut), "--resume", "--lr", "2e-3"]
    assert main(["-q", "pretrain", *other, "--batch-size", "2", "--epochs", "2", "--seed", "3"]) == 2


def test_bad_input_is_a_located_error_that_writes_nothing(
    tiny_bert: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    no_text = tmp_path / "records.jsonl"
    no_text.write_text('{"text": "a b"}\n{"title": "c"}\n', encoding="utf-8")
    for path, message in ((empty, f"{empty}: no text found"), (no_text, f'{no_text}:2: the object has no "text"')):
        output = tmp_path / f"out-{path.stem}"
        assert main(["-q", "pretrain", "--text", str(path), "--encoder", str(tiny_bert), "--output", str(output)]) == 2
        assert message in capsys.readouterr().err
        assert not output.exists()


def test_a_folder_with_other_files_is_refused(tiny_bert: Path, repeated_text: Path, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine\n", encoding="utf-8")
    argv = ["-q", "pretrain", "--text", str(repeated_text), "--encoder", str(tiny_bert), "--output", str(tmp_path)]
    assert main(argv) == 2
    assert (tmp_path / "notes.txt").read_text(encoding="utf-8") == "mine\n"
