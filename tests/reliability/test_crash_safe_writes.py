"""Files readers rely on are never half-written or mixed: metrics.jsonl on resume, the evaluation folder,
the report without matplotlib, and the assembled mpnet-base checked against its whole sha256."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import shutil
import sys
import zipfile
from pathlib import Path

import pytest
from crashes import CrashingReplace
from transformers import TrainerState

from bertner.data.conll import read_conll
from bertner.evaluation.metrics import score
from bertner.evaluation.report.write import BootstrapSettings
from bertner.inference.evaluate import Evaluation, write_evaluation
from bertner.model import encoders
from bertner.training.callbacks import EpochMetricsWriter

# --- metrics.jsonl ---


def _record(epoch: int, step: int) -> str:
    return json.dumps({"epoch": float(epoch), "step": step, "train_loss": 0.5, "valid": {"f1": 0.1 * epoch}})


def test_resume_drops_a_cut_off_last_line_of_metrics_jsonl_and_appends_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    complete = [_record(1, 2), _record(2, 4)]
    path.write_text("\n".join(complete) + "\n" + _record(3, 6)[:25], encoding="utf-8")  # killed mid-write
    writer = EpochMetricsWriter(path)
    writer.on_train_begin(None, TrainerState(global_step=4), None)  # type: ignore[arg-type]
    assert path.read_text(encoding="utf-8").splitlines() == complete
    writer.on_evaluate(None, TrainerState(global_step=6, epoch=3.0), None, {"eval_f1": 0.5})  # type: ignore[arg-type]
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [(r["epoch"], r["step"]) for r in records] == [(1.0, 2), (2.0, 4), (3.0, 6)]
    assert records[2]["valid"] == {"f1": 0.5}
    assert not [p for p in tmp_path.iterdir() if p.name != "metrics.jsonl"]  # no temporary file left


def test_a_damaged_line_before_the_last_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text("\n".join([_record(1, 2), "{oops", _record(3, 6)]) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"metrics\.jsonl:2: not valid JSON"):
        EpochMetricsWriter(path).on_train_begin(None, TrainerState(global_step=6), None)  # type: ignore[arg-type]


# --- the evaluation folder ---


def _without_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in sys.modules if name == "matplotlib" or name.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` raises ImportError


def _evaluation(tiny_data: Path, flip: bool) -> Evaluation:
    sentences = read_conll(tiny_data / "dev.conll")
    predicted = tuple(tuple("O" if flip else tag for tag in s.tags) for s in sentences)
    return Evaluation(
        sentences, predicted, score([s.tags for s in sentences], predicted), ("LOC", "MISC", "ORG", "PER")
    )


def test_a_crash_while_writing_an_evaluation_never_leaves_metrics_beside_other_files(
    tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over an older evaluation, crash after each number of renames: whenever metrics.json is there, every file
    in the folder is the new evaluation's (old code wrote predictions.conll after the report's metrics.json)."""
    old, new = _evaluation(tiny_data, flip=True), _evaluation(tiny_data, flip=False)
    reference, before = tmp_path / "reference", tmp_path / "before"
    write_evaluation(new, reference, examples=2, bootstrap=BootstrapSettings(samples=10))
    write_evaluation(old, before, examples=2, bootstrap=BootstrapSettings(samples=10))
    expected = {p.name: p.read_bytes() for p in reference.iterdir()}
    assert len(expected) >= 11 and expected.keys() == {p.name for p in before.iterdir()}
    real_replace = os.replace
    for crash_after in range(len(expected) + 1):
        output = Path(shutil.copytree(before, tmp_path / f"crash-{crash_after}"))
        crashing = CrashingReplace(real_replace, crash_after)
        monkeypatch.setattr(os, "replace", crashing)
        try:
            write_evaluation(new, output, examples=2, bootstrap=BootstrapSettings(samples=10))
            finished = True
        except OSError:
            finished = False
        finally:
            monkeypatch.setattr(os, "replace", real_replace)
        if (output / "metrics.json").exists():
            found = {p.name: p.read_bytes() for p in output.iterdir()}
            assert found == expected, f"crash after {crash_after} renames left a mixed folder"
        assert finished == (crash_after == len(expected))
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no staging folder left


def test_without_matplotlib_the_evaluation_is_written_without_plots(
    tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`bertner train` used to fail after training had finished, writing no metrics.json, without matplotlib."""
    _without_matplotlib(monkeypatch)
    evaluation = _evaluation(tiny_data, flip=False)
    files = write_evaluation(evaluation, tmp_path / "eval", examples=2)
    metrics = json.loads(files.metrics.read_text(encoding="utf-8"))
    assert metrics["overall"]["f1"] == 1.0
    assert (tmp_path / "eval" / "predictions.conll").is_file()
    assert files.plots == () and not list((tmp_path / "eval").glob("*.png"))
    html = files.html.read_text(encoding="utf-8")
    assert "<img" not in html and "matplotlib is not installed" in html


# --- mpnet-base's checksum ---


def test_a_model_that_differs_from_the_published_one_only_in_the_middle_is_refused(
    tiny_bert: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The old check compared the first 8 and last 6 hex digits of the sha256 only."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(tiny_bert.iterdir()):
            archive.write(path, f"all-mpnet-base-v2/{path.name}")
    pieces = []
    for index, start in enumerate(range(0, len(buffer.getvalue()), -(-len(buffer.getvalue()) // 5))):
        piece = tmp_path / f"piece-{index}"
        piece.write_bytes(buffer.getvalue()[start : start + -(-len(buffer.getvalue()) // 5)])
        pieces.append(piece)
    monkeypatch.setattr(encoders, "_find_piece", lambda encoder, index: pieces[index])
    digest = hashlib.sha256((tiny_bert / "model.safetensors").read_bytes()).hexdigest()
    middle = "0" if digest[30] != "0" else "1"
    mpnet = encoders.NAMED_ENCODERS["mpnet-base"]
    forged = dataclasses.replace(mpnet, sha256=digest[:30] + middle + digest[31:])
    with pytest.raises(ValueError, match=f"has sha256 {digest}, expected {forged.sha256}"):
        encoders.assemble(forged, tmp_path / "cache" / "mpnet-base")
    assert not (tmp_path / "cache" / "mpnet-base").exists()
    assert encoders.assemble(dataclasses.replace(mpnet, sha256=digest), tmp_path / "cache" / "mpnet-base").is_dir()
