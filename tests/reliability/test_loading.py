"""Validated loading: a damaged or inconsistent model folder is refused, naming the file and what is wrong.

Each test damages a copy of a saved model the way a user, a disk or a kill would, and checks both the
library's error and what `bertner predict` shows: exit code 2 and one line on stderr naming the file.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from crashes import CrashingReplace

from bertner.cli import main
from bertner.model import store as build
from bertner.model.build import LoadedModel
from bertner.model.store import IncompleteModelError, ModelFolderError, load_model, save_model


def _copy(saved_models: dict[str, Path], layout: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(saved_models[layout], tmp_path / layout))


def _predict_error(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """`bertner predict` on the folder: it must fail with exit code 2 and exactly one line on stderr."""
    capsys.readouterr()
    assert main(["-q", "predict", "--model", str(run_dir), "--text", "Maria flew to Lisbon ."]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bertner predict: error: "), captured.err
    return lines[0]


@pytest.mark.parametrize("layout", ["plain", "custom"])
def test_labels_json_that_does_not_match_the_model_is_refused(
    layout: str, saved_models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 12's first finding: two labels added to labels.json used to load with a new random head."""
    run_dir = _copy(saved_models, layout, tmp_path)
    labels = json.loads((run_dir / "labels.json").read_text(encoding="utf-8"))
    (run_dir / "labels.json").write_text(json.dumps([*labels, "B-EXTRA", "I-EXTRA"]), encoding="utf-8")
    with pytest.raises(ModelFolderError, match=r"labels\.json lists 11 labels .* saved with 9"):
        load_model(run_dir)
    assert "labels.json lists 11 labels" in _predict_error(run_dir, capsys)


def test_renamed_labels_of_the_same_count_are_refused(saved_models: dict[str, Path], tmp_path: Path) -> None:
    run_dir = _copy(saved_models, "plain", tmp_path)
    labels = json.loads((run_dir / "labels.json").read_text(encoding="utf-8"))
    swapped = [
        labels[0],
        *[label.replace("LOC", "TMP").replace("PER", "LOC").replace("TMP", "PER") for label in labels[1:]],
    ]
    (run_dir / "labels.json").write_text(json.dumps(swapped), encoding="utf-8")
    with pytest.raises(ModelFolderError, match="the head would not match its labels"):
        load_model(run_dir)


@pytest.mark.parametrize(
    ("layout", "weights", "keep"),
    [("plain", "model.safetensors", 0.5), ("custom", "tagger.safetensors", 0.5), ("plain", "model.safetensors", 0.0)],
)
def test_truncated_weights_are_refused_naming_the_file(
    layout: str,
    weights: str,
    keep: float,
    saved_models: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run_dir = _copy(saved_models, layout, tmp_path)
    data = (run_dir / weights).read_bytes()
    (run_dir / weights).write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ModelFolderError, match=f"{weights}: not a valid safetensors file"):
        load_model(run_dir)
    assert f"{run_dir / weights}: not a valid safetensors file" in _predict_error(run_dir, capsys)


@pytest.mark.parametrize("content", ['["O", "B-LOC", ', "{}", '["O", "B-LOC", "X-LOC"]', "\xff"])
def test_a_damaged_labels_json_is_refused_naming_it(
    content: str, saved_models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = _copy(saved_models, "custom", tmp_path)
    (run_dir / "labels.json").write_bytes(content.encode("latin-1"))
    with pytest.raises(ModelFolderError, match=r"labels\.json: "):
        load_model(run_dir)
    assert f"{run_dir / 'labels.json'}: " in _predict_error(run_dir, capsys)


def test_a_config_naming_parts_the_plain_layout_lacks_is_refused(saved_models: dict[str, Path], tmp_path: Path) -> None:
    """bertner.toml edited to say crf = true would otherwise add an untrained CRF to a plain model."""
    run_dir = _copy(saved_models, "plain", tmp_path)
    toml = (run_dir / "bertner.toml").read_text(encoding="utf-8")
    (run_dir / "bertner.toml").write_text(toml.replace("crf = false", "crf = true"), encoding="utf-8")
    with pytest.raises(ModelFolderError, match=r"bertner\.toml names a model with extra parts"):
        load_model(run_dir)


def test_weights_are_read_from_safetensors_only(
    saved_models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pickled pytorch_model.bin can run code when unpickled; a folder with only that is refused unread."""
    run_dir = _copy(saved_models, "plain", tmp_path)
    model = load_model(run_dir)
    (run_dir / "model.safetensors").unlink()
    torch.save(model.tagger.state_dict(), run_dir / "pytorch_model.bin")

    def no_unpickling(*args: object, **kwargs: object) -> None:
        raise AssertionError("torch.load was called on a model folder")

    monkeypatch.setattr(torch, "load", no_unpickling)
    with pytest.raises(ModelFolderError, match=r"missing: the weights \(model\.safetensors"):
        load_model(run_dir)


def test_a_save_cut_short_is_refused_with_what_is_missing_and_how_to_resume(
    tiny_models: Callable[[bool], LoadedModel], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash after each number of renames of a save over an older model: the old model whole, or a refusal."""
    old, new = tiny_models(False), tiny_models(False)
    with torch.no_grad():
        new.tagger.classifier.bias.fill_(3.0)
    real_replace = os.replace
    renames = 0
    for crash_after in range(30):
        run_dir = tmp_path / f"crash-{crash_after}"
        save_model(old, run_dir)
        crashing = CrashingReplace(real_replace, crash_after)
        monkeypatch.setattr(build.os, "replace", crashing)
        try:
            save_model(new, run_dir)
        except OSError:
            monkeypatch.setattr(build.os, "replace", real_replace)
            if crash_after == 0:  # the crash came before the marker: nothing of the old model was touched
                assert torch.equal(load_model(run_dir).tagger.classifier.bias, old.tagger.classifier.bias)
                continue
            with pytest.raises(IncompleteModelError, match="incomplete.json: saving .* did not finish") as refused:
                load_model(run_dir)
            assert "no checkpoint was saved yet" in str(refused.value)
            continue
        finally:
            monkeypatch.setattr(build.os, "replace", real_replace)
        renames = crashing.count
        break
    assert renames > 5  # every crash point of the save was tried, and the last save went through
    loaded = load_model(run_dir)
    assert torch.equal(loaded.tagger.classifier.bias, new.tagger.classifier.bias)


def test_a_run_stopped_before_its_first_save_says_how_to_resume(
    saved_models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints" / "checkpoint-12").mkdir(parents=True)
    shutil.copy(saved_models["plain"] / "bertner.toml", run_dir)
    with pytest.raises(IncompleteModelError, match="training stopped before the model was saved"):
        load_model(run_dir)
    line = _predict_error(run_dir, capsys)
    # inference/load.py sends a folder without labels.json to the HF loader; train_model writes labels.json
    # when it starts, so that a real run folder always reaches load_model's message.
    assert str(run_dir) in line


def test_a_run_that_fails_before_training_leaves_the_model_in_its_folder_untouched(
    saved_models: dict[str, Path], tiny_data: Path, tmp_path: Path
) -> None:
    """Marking the folder incomplete (and rewriting bertner.toml, as the old code did first) waits for training."""
    from bertner.config_files import load_config
    from bertner.data.corpus import load_corpus
    from bertner.training.trainer import train_model

    run_dir = _copy(saved_models, "plain", tmp_path)
    before = {path: path.read_bytes() for path in run_dir.rglob("*") if path.is_file()}
    config = load_config(None, {"model": {"encoder": str(tmp_path / "no-such-encoder")}, "train": {"epochs": 7}})
    with pytest.raises((OSError, ValueError)):
        train_model(config, load_corpus(str(tiny_data), config.data), run_dir, progress=False)
    after = {path: path.read_bytes() for path in run_dir.rglob("*") if path.is_file()}
    assert after == before
    assert load_model(run_dir).config.train.epochs == 3
