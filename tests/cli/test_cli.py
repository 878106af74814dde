"""The `bertner` command, run in-process: train, evaluate and predict on the tiny data, and its errors."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bertner.cli import main
from bertner.data.conll import DOCSTART

OVERALL_KEYS = {"precision", "recall", "f1", "accuracy"}


def _source_lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_train_scores_valid_and_test(trained_run: Path) -> None:
    for split in ("valid", "test"):
        metrics = json.loads((trained_run / "eval" / split / "metrics.json").read_text(encoding="utf-8"))
        assert set(metrics["overall"]) >= OVERALL_KEYS
        assert all(0.0 <= metrics["overall"][key] <= 1.0 for key in OVERALL_KEYS)
        assert isinstance(metrics["per_type"], dict)
        assert (trained_run / "eval" / split / "predictions.conll").is_file()
    assert (trained_run / "labels.json").is_file()
    assert (trained_run / "bertner.toml").is_file()


def test_evaluate_writes_metrics_and_predictions(trained_run: Path, tiny_data: Path, tmp_path: Path) -> None:
    output = tmp_path / "out"
    argv = ["-q", "evaluate", "--model", str(trained_run), "--data", str(tiny_data), "--split", "test"]
    assert main([*argv, "--output", str(output)]) == 0

    metrics = json.loads((output / "metrics.json").read_text(encoding="utf-8"))
    assert set(metrics["overall"]) >= OVERALL_KEYS
    # The same model on the same sentences: the numbers `train` wrote for test.
    assert metrics == json.loads((trained_run / "eval" / "test" / "metrics.json").read_text(encoding="utf-8"))

    source = _source_lines(tiny_data / "test.conll")
    docstarts = sum(line.startswith(DOCSTART) for line in source)
    words = len(source) - docstarts
    blocks = [b for b in (tiny_data / "test.conll").read_text(encoding="utf-8").split("\n\n") if b.strip()]
    sentences = len(blocks) - docstarts
    predicted = (output / "predictions.conll").read_text(encoding="utf-8").splitlines()
    # One line per word, a blank line after each sentence, and each -DOCSTART- line followed by a blank line.
    assert len(predicted) == words + sentences + 2 * docstarts
    assert metrics["overall"]["words"] == words
    rows = [line.split(" ") for line in predicted if line]
    assert all(len(row) == 3 for row in rows)
    # Word and gold columns are the source file's word and tag columns, -DOCSTART- kept in place.
    assert [(row[0], row[1]) for row in rows] == [
        (fields[0], "O" if fields[0] == DOCSTART else fields[-1]) for fields in (line.split() for line in source)
    ]


def test_predict_text_prints_one_json_line(all_per_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = "Maria Okafor flew to Lisbon ."
    capsys.readouterr()
    assert main(["-q", "predict", "--model", str(all_per_run), "--text", text]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["text"] == text
    assert [e["text"] for e in record["entities"]] == text.split()
    for entity in record["entities"]:
        assert text[entity["start"] : entity["end"]] == entity["text"]
        assert entity["type"] == "PER"
        assert 0.0 <= entity["score"] <= 1.0


def test_predict_reads_stdin_one_line_per_text(
    all_per_run: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    texts = ["Tomas Berg left Aarhus .", "", "Quill hired Anika"]
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(("\n".join(texts) + "\n").encode("utf-8"))))
    capsys.readouterr()
    assert main(["-q", "predict", "--model", str(all_per_run)]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["text"] for r in records] == texts
    assert [[e["text"] for e in r["entities"]] for r in records] == [t.split() for t in texts]


def test_predict_reads_an_input_file(all_per_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "texts.txt").write_text("New Haven\nLisbon .\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["-q", "predict", "--model", str(all_per_run), "--input", str(tmp_path / "texts.txt")]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["text"] for r in records] == ["New Haven", "Lisbon ."]


def test_evaluate_on_a_bad_tag_names_the_line_and_writes_nothing(
    trained_run: Path, tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = (tiny_data / "test.conll").read_text(encoding="utf-8").splitlines()
    bad_line = next(i for i, line in enumerate(lines) if line.endswith("B-LOC"))
    lines[bad_line] = lines[bad_line].removesuffix("B-LOC") + "X-LOC"
    bad_file = tmp_path / "bad.conll"
    bad_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    output = tmp_path / "out"

    code = main(["-q", "evaluate", "--model", str(trained_run), "--data", str(bad_file), "--output", str(output)])

    assert code != 0
    assert f"{bad_file}:{bad_line + 1}:" in capsys.readouterr().err
    assert not (output / "metrics.json").exists()
    assert not (output / "predictions.conll").exists()


def test_evaluate_on_a_type_the_model_cannot_predict_reports_it(
    trained_run: Path, tiny_data: Path, tmp_path: Path
) -> None:
    """Cross-dataset evaluation (issue 4): an unknown gold type is reported as such, not a crash."""
    lines = (tiny_data / "test.conll").read_text(encoding="utf-8").splitlines()
    bad_line = next(i for i, line in enumerate(lines) if line.startswith("Lisbon "))  # a one-word entity
    lines[bad_line] = lines[bad_line].removesuffix("B-LOC") + "B-EVENT"
    other = tmp_path / "unseen.conll"
    other.write_text("\n".join(lines) + "\n", encoding="utf-8")
    output = tmp_path / "out"

    code = main(["-q", "evaluate", "--model", str(trained_run), "--data", str(other), "--output", str(output)])

    assert code == 0
    metrics = json.loads((output / "metrics.json").read_text(encoding="utf-8"))
    assert "EVENT" in metrics["types"]["gold_only"]
    assert metrics["per_type"]["EVENT"]["gold"] == 1
    assert metrics["per_type"]["EVENT"]["correct"] == 0


def test_evaluate_with_a_type_map_renames_gold_types(trained_run: Path, tiny_data: Path, tmp_path: Path) -> None:
    text = (tiny_data / "test.conll").read_text(encoding="utf-8").replace("-PER", "-PERSON")
    other = tmp_path / "person.conll"
    other.write_text(text, encoding="utf-8")
    baseline, mapped = tmp_path / "baseline", tmp_path / "mapped"
    args = ["-q", "evaluate", "--model", str(trained_run), "--bootstrap-samples", "10"]

    assert main([*args, "--data", str(tiny_data), "--split", "test", "--output", str(baseline)]) == 0
    assert main([*args, "--data", str(other), "--output", str(mapped), "--map", "PERSON=PER"]) == 0

    want = json.loads((baseline / "metrics.json").read_text(encoding="utf-8"))
    got = json.loads((mapped / "metrics.json").read_text(encoding="utf-8"))
    assert got["overall"] == want["overall"]
    assert got["types"]["gold_only"] == []


def test_train_on_a_folder_without_a_test_split_says_so(
    tiny_bert: Path, tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(tiny_data / "train.conll", data)
    shutil.copy(tiny_data / "dev.conll", data)
    output = tmp_path / "run"

    code = main(["-q", "train", "--data", str(data), "--output", str(output), "--encoder", str(tiny_bert)])

    assert code != 0
    error = capsys.readouterr().err
    assert "no test split" in error
    assert "test.conll" in error
    assert not output.exists()


def test_train_with_an_encoder_that_does_not_exist_fails_clearly(
    tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    encoder = tmp_path / "no-such-encoder"
    code = main(["-q", "train", "--data", str(tiny_data), "--output", str(tmp_path / "run"), "--encoder", str(encoder)])
    assert code != 0
    assert str(encoder) in capsys.readouterr().err


def test_predict_with_a_folder_that_is_not_a_model_fails_clearly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-q", "predict", "--model", str(tmp_path), "--text", "Lisbon"]) != 0
    assert "not a bertner run folder" in capsys.readouterr().err


@pytest.mark.parametrize("command", [[], ["train"], ["evaluate"], ["predict"]])
def test_help_exits_zero(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: bertner" in capsys.readouterr().out


def test_compare_prints_a_table_and_a_paired_test(
    trained_run: Path, all_per_run: Path, tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The all-B-PER run needs test predictions of its own to be compared with.
    test_dir = all_per_run / "eval" / "test"
    argv = ["-q", "evaluate", "--model", str(all_per_run), "--data", str(tiny_data), "--output", str(test_dir)]
    assert main([*argv, "--bootstrap-samples", "10"]) == 0
    capsys.readouterr()
    plot = tmp_path / "curves.png"

    code = main(
        ["compare", str(trained_run), str(all_per_run), "--significance", "--samples", "50", "--plot", str(plot)]
    )

    out = capsys.readouterr().out
    assert code == 0
    assert trained_run.name in out and all_per_run.name in out
    assert "paired bootstrap on test (50 samples)" in out
    assert plot.read_bytes().startswith(b"\x89PNG")
    a = json.loads((trained_run / "eval" / "test" / "metrics.json").read_text(encoding="utf-8"))["overall"]["f1"]
    assert f"F1 {a * 100:.2f} vs" in out


def test_compare_significance_needs_two_runs(trained_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", str(trained_run), "--significance"]) == 2
    assert "exactly two runs" in capsys.readouterr().err


def test_train_flags_for_the_paper_options_reach_the_saved_config(
    tiny_bert: Path, tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import tomllib

    run_dir = tmp_path / "run"
    argv = ["-q", "train", "--data", str(tiny_data), "--output", str(run_dir), "--encoder", str(tiny_bert)]
    options = ["--head", "mlp", "--head-activation", "relu", "--crf", "--crf-lr", "0.01", "--freeze-layers", "1"]
    options += ["--loss-normalization", "batch", "--no-packing", "--group-by-length"]
    assert main([*argv, *options, "--epochs", "1", "--no-test", "--bootstrap-samples", "10"]) == 0

    saved = tomllib.loads((run_dir / "bertner.toml").read_text(encoding="utf-8"))
    assert saved["model"]["head"] == "mlp"
    assert saved["model"]["head_activation"] == "relu"
    assert saved["model"]["crf"] is True
    assert saved["model"]["freeze_layers"] == 1
    assert saved["train"]["crf_lr"] == 0.01
    assert saved["train"]["loss_normalization"] == "batch"
    assert saved["train"]["packing"] is False and saved["train"]["group_by_length"] is True
    out = capsys.readouterr().out
    trained, total = (int(n.replace(",", "")) for n in out.split("; ")[2].split(" parameters")[0].split(" of "))
    assert 0 < trained < total


def test_python_dash_m_bertner_is_the_bertner_command() -> None:
    result = subprocess.run([sys.executable, "-m", "bertner", "predict", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    assert "--backend" in result.stdout and "usage: bertner predict" in result.stdout
