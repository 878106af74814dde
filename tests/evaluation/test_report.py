"""write_report: every file written, numbers that agree with the scorer, a self-contained HTML, no partial output."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from bertner.data.conll import Sentence
from bertner.evaluation.metrics import score
from bertner.evaluation.predictions import PredictionSet
from bertner.evaluation.report import content as report_module
from bertner.evaluation.report.write import BootstrapSettings, write_report

pytest.importorskip("matplotlib")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _prediction_set() -> PredictionSet:
    rows = [
        # (words, gold, predicted, document)
        (["EU", "rejects", "German", "call"], ["B-ORG", "O", "B-MISC", "O"], ["B-ORG", "O", "B-MISC", "O"], 0),
        (["Peter", "Blackburn"], ["B-PER", "I-PER"], ["B-PER", "O"], 0),
        (["BRUSSELS", "1996-08-22"], ["B-LOC", "O"], ["B-ORG", "O"], 0),
        (["Germany", "'s", "representative"], ["B-LOC", "O", "O"], ["B-LOC", "O", "B-PER"], 1),
        (["Nikos", "Kathimerini"], ["B-PER", "B-ORG"], ["O", "O"], 1),
    ]
    sentences = []
    for index, (words, gold, _, document) in enumerate(rows):
        starts = index == 0 or rows[index - 1][3] != document
        sentences.append(Sentence(tuple(words), tuple(gold), document, starts, "test.conll", 10 * index + 1))
    return PredictionSet(tuple(sentences), tuple(tuple(row[2]) for row in rows))


def _run_dir(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    lines = [
        {"epoch": 1.0, "step": 10, "train_loss": 0.9, "valid": {"precision": 0.5, "recall": 0.4, "f1": 0.44}},
        {"epoch": 2.0, "step": 20, "train_loss": 0.4, "valid": {"precision": 0.7, "recall": 0.6, "f1": 0.65}},
    ]
    (run / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return run


def test_writes_every_file(tmp_path: Path) -> None:
    output = tmp_path / "report"
    files = write_report(_prediction_set(), output, run_dir=_run_dir(tmp_path), bootstrap=BootstrapSettings(200))
    names = {path.name for path in files.all}
    assert names == {
        "metrics.json",
        "errors.json",
        "token_confusion.csv",
        "token_confusion_normalised.csv",
        "entity_confusion.csv",
        "token_confusion.png",
        "entity_confusion.png",
        "per_type.png",
        "training.png",
        "report.md",
        "report.html",
    }
    assert {path.name for path in output.iterdir()} == names
    for png in files.plots:
        assert png.read_bytes().startswith(PNG_MAGIC)
    # Nothing left beside the output: the staging folder is gone.
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".")] == []


def test_no_training_plot_without_run_metrics(tmp_path: Path) -> None:
    files = write_report(_prediction_set(), tmp_path / "report", run_dir=tmp_path, bootstrap=BootstrapSettings(50))
    assert "training.png" not in {path.name for path in files.plots}
    assert "Training" not in files.markdown.read_text(encoding="utf-8")


def test_metrics_agree_with_the_scorer(tmp_path: Path) -> None:
    pred = _prediction_set()
    files = write_report(pred, tmp_path / "r", bootstrap=BootstrapSettings(200, seed=3), model_types=["PER", "LOC"])
    metrics = json.loads(files.metrics.read_text(encoding="utf-8"))
    scores = score(pred.gold, pred.predicted)
    # JSON keeps floats exactly.
    assert metrics["overall"] == scores.to_dict()["overall"]
    assert metrics["per_type"] == scores.to_dict()["per_type"]
    assert metrics["macro"]["f1"] == pytest.approx(scores.macro_f1)
    assert metrics["macro"]["precision"] == pytest.approx(sum(s.precision for s in scores.per_type.values()) / 4)
    assert metrics["entities"]["gold"] == {"LOC": 2, "MISC": 1, "ORG": 2, "PER": 2}
    assert metrics["entities"]["predicted"] == {"LOC": 1, "MISC": 1, "ORG": 2, "PER": 2}
    interval = metrics["bootstrap_f1"]
    assert interval["f1"] == scores.overall.f1
    assert interval["low"] <= interval["f1"] <= interval["high"]
    assert (interval["samples"], interval["seed"]) == (200, 3)
    # The model was said to know only PER and LOC: ORG and MISC gold entities cannot be found.
    assert metrics["types"]["gold_only"] == ["MISC", "ORG"]
    assert "cannot predict" in files.markdown.read_text(encoding="utf-8")


def test_errors_json_counts_and_examples(tmp_path: Path) -> None:
    files = write_report(_prediction_set(), tmp_path / "r", examples=1, bootstrap=BootstrapSettings(50))
    errors = json.loads(files.errors.read_text(encoding="utf-8"))
    # PER(0,2)->PER(0,1) boundary; LOC->ORG type; spurious PER; missed PER and ORG in the last sentence.
    assert errors["counts"] == {
        "correct": 3,
        "missed": 2,
        "spurious": 1,
        "wrong_type": 1,
        "wrong_boundary": 1,
        "wrong_type_and_boundary": 0,
    }
    assert [len(chosen) for chosen in errors["examples"].values()] == [1, 1, 1, 1, 0]
    wrong_type = errors["examples"]["wrong_type"][0]
    assert (wrong_type["gold"], wrong_type["predicted"]) == ("[BRUSSELS]LOC", "[BRUSSELS]ORG")
    assert wrong_type["before"] == ["Peter Blackburn"] and wrong_type["after"] == []
    assert wrong_type["where"] == "test.conll:21"


def test_csv_totals(tmp_path: Path) -> None:
    files = write_report(_prediction_set(), tmp_path / "r", bootstrap=BootstrapSettings(50))
    token_csv = (files.directory / "token_confusion.csv").read_text(encoding="utf-8").splitlines()
    total = sum(int(value) for line in token_csv[1:] for value in line.split(",")[1:])
    assert total == _prediction_set().words


def test_html_is_self_contained(tmp_path: Path) -> None:
    files = write_report(_prediction_set(), tmp_path / "r", run_dir=_run_dir(tmp_path), bootstrap=BootstrapSettings(50))
    page = files.html.read_text(encoding="utf-8")
    assert "http://" not in page and "https://" not in page
    sources = re.findall(r'src="([^"]*)"', page)
    assert len(sources) == 4  # token and entity confusion, per type, training
    for source in sources:
        assert source.startswith("data:image/png;base64,")
        assert base64.b64decode(source.removeprefix("data:image/png;base64,")).startswith(PNG_MAGIC)
    assert "[BRUSSELS]LOC" in page and "wrong_type_and_boundary" in page
    markdown = files.markdown.read_text(encoding="utf-8")
    assert "![per-type P/R/F1](per_type.png)" in markdown


def test_failure_leaves_no_partial_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    output = tmp_path / "report"
    output.mkdir()
    (output / "predictions.conll").write_text("kept\n", encoding="utf-8")

    def broken(*args: object, **kwargs: object) -> str:
        raise OSError("disk full")

    monkeypatch.setattr(report_module, "render_html", broken)
    with pytest.raises(OSError, match="disk full"):
        write_report(_prediction_set(), output, bootstrap=BootstrapSettings(50))
    assert [path.name for path in output.iterdir()] == ["predictions.conll"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["report"]


def test_failure_while_writing_removes_the_staging_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    output = tmp_path / "report"
    original = Path.write_bytes
    written: list[str] = []

    def flaky(self: Path, data: bytes) -> int:
        if len(written) == 3:
            raise OSError("disk full")
        written.append(self.name)
        return original(self, data)

    monkeypatch.setattr(Path, "write_bytes", flaky)
    with pytest.raises(OSError, match="disk full"):
        write_report(_prediction_set(), output, bootstrap=BootstrapSettings(50))
    assert list(output.iterdir()) == []
    assert sorted(path.name for path in tmp_path.iterdir()) == ["report"]


def test_empty_prediction_set_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="empty"):
        write_report(PredictionSet((), ()), tmp_path / "r")
