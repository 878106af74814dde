"""`bertner audit` end to end on the tiny model: its files, out-of-fold training (and its reuse), bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bertner.audit.folds import assign_folds, estimate_cost, fold_config
from bertner.cli import main
from bertner.config_files import read_saved_config
from bertner.data.conll import read_conll


def test_audit_writes_the_ranking_suggestions_and_page(trained_run: Path, tiny_data: Path, tmp_path: Path) -> None:
    data = tiny_data / "train.conll"
    out = tmp_path / "audit"
    assert main(["-q", "audit", "--model", str(trained_run), "--data", str(data), "--output", str(out)]) == 0
    sentences = read_conll(data)
    records = [json.loads(line) for line in (out / "audit.jsonl").read_text(encoding="utf-8").splitlines()]
    assert sorted(r["sentence"] for r in records) == list(range(len(sentences)))
    assert [r["rank"] for r in records] == list(range(1, len(records) + 1))
    assert [r["score"] for r in records] == sorted(r["score"] for r in records)
    for record in records:
        sentence = sentences[record["sentence"]]
        assert record["words"] == list(sentence.words) and record["given"] == list(sentence.tags)
        assert record["where"] == f"{data}:{sentence.line}" and len(record["suggested"]) == len(sentence.words)
    # the file's own lines, each word line with one more column: the suggestion
    original = data.read_text(encoding="utf-8").splitlines()
    written = (out / "suggestions.conll").read_text(encoding="utf-8").splitlines()
    assert len(written) == len(original)
    suggested = {r["sentence"]: r["suggested"] for r in records}
    for index, sentence in enumerate(sentences):
        for position, word in enumerate(sentence.words):
            fields = written[sentence.line + position - 1].split()
            assert fields[:-1] == original[sentence.line + position - 1].split() and fields[0] == word
            assert fields[-1] == suggested[index][position]
    assert read_conll(out / "suggestions.conll")  # still a CoNLL file, its last column a legal tag sequence
    page = (out / "audit.html").read_text(encoding="utf-8")
    assert "Annotation audit" in page and "given:" in page and "suggested:" in page


def test_folds_train_k_models_once_and_reuse_them(
    trained_run: Path, tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "folds-audit"
    argv = ["-q", "audit", "--model", str(trained_run), "--data", str(tiny_data / "train.conll"), "--output", str(out)]
    argv += ["--folds", "2", "--train-data", str(tiny_data), "--epochs", "1"]
    assert main([*argv, "--dry-run"]) == 0
    assert "2 trainings of" in capsys.readouterr().out and not out.exists()
    assert main(argv) == 0
    models = sorted((out / "folds").glob("fold-*/labels.json"))
    assert len(models) == 2
    stamps = [path.stat().st_mtime_ns for path in models]
    records = [json.loads(line) for line in (out / "audit.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(records) == len(read_conll(tiny_data / "train.conll"))
    assert main(argv) == 0  # the same request: the fold models are reused, not trained again
    assert [path.stat().st_mtime_ns for path in models] == stamps


def test_fold_assignment_and_cost_by_hand(trained_run: Path, tiny_data: Path) -> None:
    sentences = read_conll(tiny_data / "train.conll")
    plan = assign_folds(sentences, 3, seed=1)
    held = [index for fold in plan.held_out for index in fold]
    assert sorted(held) == list(range(len(sentences)))  # every sentence held out exactly once
    config = fold_config(read_saved_config(trained_run), epochs=2, seed=None)
    cost = estimate_cost(plan, len(sentences), config, None)
    batch = config.train.batch_size
    assert cost.steps == sum(-(-(len(sentences) - len(fold)) // batch) * 2 for fold in plan.held_out)
    assert cost.seconds_per_step is None and "3 trainings" in cost.describe()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--folds", "2"], "--folds needs --train-data"),
        (["--train-data", "x"], "go with --folds"),
    ],
)
def test_bad_options_exit_2(
    trained_run: Path,
    tiny_data: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    argv = ["audit", "--model", str(trained_run), "--data", str(tiny_data / "dev.conll"), "--output", str(tmp_path)]
    assert main([*argv, *extra]) == 2
    assert message in capsys.readouterr().err


def test_a_bad_file_is_located_and_nothing_is_written(
    trained_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.conll"
    bad.write_text("Anna B-PER\nBerg I-PER\n\nOslo I-LOC X\n", encoding="utf-8")
    out = tmp_path / "out"
    assert main(["audit", "--model", str(trained_run), "--data", str(bad), "--output", str(out)]) == 2
    assert f"{bad}:4:" in capsys.readouterr().err
    assert not out.exists()
    unknown = tmp_path / "unknown.conll"
    unknown.write_text("Acme B-WIDGET\nrose O\n", encoding="utf-8")
    assert main(["audit", "--model", str(trained_run), "--data", str(unknown), "--output", str(out)]) == 2
    assert f"{unknown}:1: tag 'B-WIDGET'" in capsys.readouterr().err
    assert not out.exists()
