"""`bertner calibrate`, the temperature `bertner train` fits, the report's calibration section and
`predict --min-score` (issue 23)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from bertner.cli import main
from bertner.decoding.temperature import read_calibration
from bertner.inference.ensemble.folder import load_tagging_model
from bertner.labels import LabelSet
from bertner.layout import CALIBRATION_FILE
from bertner.model.store import load_model, save_model
from tiny_models import write_random_run

LABELS = LabelSet.from_types(["LOC", "MISC", "ORG", "PER"])
TEXTS = ["Maria Okafor flew to Lisbon on Monday .", "Quill Systems hired Anika Rao in Lisbon .", "Rain fell ."]


@pytest.fixture(scope="module")
def run(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CRF run whose random head predicts a mix of entities, some right by chance, with spread-out scores."""
    return write_random_run(tiny_bert, tmp_path_factory.mktemp("calibrate") / "run", LABELS, crf=True, head_std=0.8)


def _predicted(capsys: pytest.CaptureFixture[str]) -> list[list[dict]]:
    return [json.loads(line)["entities"] for line in capsys.readouterr().out.splitlines()]


def test_calibrate_writes_the_temperature_that_every_loader_then_uses(
    run: Path, tiny_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-q", "calibrate", str(run), "--data", str(tiny_data), "--per-type", "no"]) == 0
    out = capsys.readouterr().out
    calibration = read_calibration(run / CALIBRATION_FILE)
    assert calibration is not None and calibration.per_type is None
    assert calibration.fitted_on == str(tiny_data / "dev.conll") and calibration.n > 0
    assert calibration.temperature != 1.0
    assert f"wrote {run / CALIBRATION_FILE}" in out and f"T = {calibration.temperature:.3g}" in out
    assert load_tagging_model(run).calibration == calibration

    # The report: the ECE at T = 1 and calibrated, over the same predicted entities.
    output = run.parent / "report"
    assert main(["-q", "evaluate", "--model", str(run), "--data", str(tiny_data), "--output", str(output)]) == 0
    section = json.loads((output / "metrics.json").read_text(encoding="utf-8"))["calibration"]
    assert section["bins"] == 15 and section["entities"] > 0
    assert 0 <= section["before"]["ece"] <= 1 and 0 <= section["after"]["ece"] <= 1
    assert section["before"]["ece"] != section["after"]["ece"]
    assert section["calibration"].startswith(f"T = {calibration.temperature:.3g}, fitted on ")
    assert "in-sample" not in section["calibration"]  # fitted on dev, measured on test
    report = (output / "report.md").read_text(encoding="utf-8")
    assert "## Entity calibration" in report and "| T = 1 | " in report and "| calibrated | " in report
    assert "reliability.png" in report and (output / "reliability.png").stat().st_size > 1000


def test_calibrate_isotonic_saves_a_score_map_that_loaders_use(
    run: Path, tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = Path(shutil.copytree(run, tmp_path / "run"))
    assert main(["-q", "calibrate", str(copy), "--data", str(tiny_data), "--per-type", "no", "--isotonic"]) == 0
    calibration = read_calibration(copy / CALIBRATION_FILE)
    assert calibration is not None and calibration.score_map is not None
    out = capsys.readouterr().out
    assert "isotonic map" in out
    assert load_tagging_model(str(copy)).calibration == calibration
    # the ECE it records is held out (tests/decoding/test_temperature_fit.py checks the value), and the log says so
    assert calibration.ece_after is not None
    assert (
        f"{calibration.ece_after:.4f} calibrated (the map held out: fitted on half the documents, measured on the other"
        in out
    )
    # a report on the very sentences the map was fitted on says that its ECE there is in-sample
    output = tmp_path / "report"
    argv = ["-q", "evaluate", "--model", str(copy), "--data", str(tiny_data), "--split", "valid", "--output"]
    assert main([*argv, str(output)]) == 0
    section = json.loads((output / "metrics.json").read_text(encoding="utf-8"))["calibration"]
    assert section["calibration"].endswith("fitted on (in-sample, which a score map fits to about 0)")


def test_predict_min_score_drops_exactly_the_entities_below_it(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    assert main(["-q", "predict", "--model", str(run), "--input", str(texts)]) == 0
    every = _predicted(capsys)
    scores = sorted(entity["score"] for row in every for entity in row)
    assert len(set(scores)) > 2, "the oracle needs entities of several scores"
    threshold = scores[len(scores) // 2]
    assert main(["-q", "predict", "--model", str(run), "--input", str(texts), "--min-score", str(threshold)]) == 0
    assert _predicted(capsys) == [[e for e in row if e["score"] >= threshold] for row in every]
    with pytest.raises(SystemExit) as exited:  # argparse: one line naming the option, exit 2
        main(["-q", "predict", "--model", str(run), "--text", "Lisbon", "--min-score", "1.5"])
    assert exited.value.code == 2 and "--min-score: expected a number in [0, 1]" in capsys.readouterr().err


def test_calibrate_refuses_what_it_cannot_calibrate_and_writes_nothing(
    tiny_bert: Path, tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-q", "calibrate", str(tmp_path / "nothing"), "--data", str(tiny_data)]) == 2
    # A model that says O for every word predicts no entity: there is nothing to fit a temperature on.
    model = load_model(write_random_run(tiny_bert, tmp_path / "o", LABELS))
    with torch.no_grad():
        model.tagger.classifier.weight.zero_()
        model.tagger.classifier.bias.zero_()
        model.tagger.classifier.bias[LABELS.label2id["O"]] = 20.0
    save_model(model, tmp_path / "o")
    capsys.readouterr()
    assert main(["-q", "calibrate", str(tmp_path / "o"), "--data", str(tiny_data)]) == 2
    assert "predicts no entity there, so there is nothing to calibrate on" in capsys.readouterr().err
    assert not (tmp_path / "o" / CALIBRATION_FILE).exists()


def test_train_fits_the_temperature_on_valid(trained_run: Path) -> None:
    calibration = read_calibration(trained_run / CALIBRATION_FILE)
    report = json.loads((trained_run / "eval" / "valid" / "metrics.json").read_text(encoding="utf-8"))
    if calibration is None:  # the tiny model predicted no entity in valid: nothing to fit on, and the log says so
        assert report["overall"]["predicted"] == 0
        return
    assert calibration.fitted_on is not None and calibration.fitted_on.startswith("valid split (")
    assert report["calibration"]["after"]["ece"] == pytest.approx(calibration.ece_after)
    assert report["calibration"]["calibration"].endswith("measured here on the sentences it was fitted on (in-sample)")
