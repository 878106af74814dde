"""compare_runs on fake run directories, seed groups, markdown, the overlay plot, and paired significance."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import pytest

from bertner.data.conll import Sentence
from bertner.evaluation.compare import compare_runs, paired_significance
from bertner.evaluation.predictions import PredictionSet
from bertner.runs import read_epoch_metrics


def _write_run(
    root: Path, name: str, lr: float, seed: int, valid: list[float], test_f1: float | None, elapsed: float
) -> Path:
    run = root / name
    (run / "eval" / "valid").mkdir(parents=True)
    config = f"[model]\nencoder = 'minilm-l6'\n\n[train]\nlr = {lr}\nseed = {seed}\nepochs = {len(valid)}\n"
    (run / "bertner.toml").write_text(config, encoding="utf-8")
    records: list[dict[str, Any]] = [
        {
            "epoch": float(epoch),
            "step": 10 * epoch,
            "train_loss": 1.0 / epoch,
            "valid": {"precision": f1, "recall": f1, "f1": f1, "accuracy": 0.9},
            "elapsed_s": 30.0 * epoch if epoch < len(valid) else elapsed,
        }
        for epoch, f1 in enumerate(valid, start=1)
    ]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    (run / "eval" / "valid" / "metrics.json").write_text(json.dumps({"overall": {"f1": valid[-1]}}), encoding="utf-8")
    if test_f1 is not None:
        (run / "eval" / "test").mkdir()
        (run / "eval" / "test" / "metrics.json").write_text(json.dumps({"overall": {"f1": test_f1}}), encoding="utf-8")
    return run


@pytest.fixture
def runs(tmp_path: Path) -> list[Path]:
    return [
        _write_run(tmp_path, "seed1", 1e-4, 1, [0.80, 0.90, 0.88], 0.86, 95.0),
        _write_run(tmp_path, "seed2", 1e-4, 2, [0.82, 0.91], 0.87, 70.0),
        _write_run(tmp_path, "low-lr", 3e-5, 1, [0.70, 0.85], None, 40.0),
    ]


def test_differences_scores_and_time(runs: list[Path]) -> None:
    comparison = compare_runs(runs)
    # encoder is the same everywhere; lr, seed and epochs differ.
    assert comparison.differences == ("train.epochs", "train.lr", "train.seed")
    first, second, third = comparison.runs
    assert first.name == "seed1"
    assert first.best_valid_f1 == 0.90 and first.valid_f1 == 0.88
    assert first.test_f1 == 0.86 and third.test_f1 is None
    assert first.train_seconds == 95.0 and second.train_seconds == 70.0
    assert second.valid_f1_curve() == ((1.0, 0.82), (2.0, 0.91))


def test_seed_groups_give_mean_and_std(tmp_path: Path) -> None:
    runs = [
        _write_run(tmp_path, "a", 1e-4, 1, [0.80, 0.90], 0.86, 60.0),
        _write_run(tmp_path, "b", 1e-4, 2, [0.82, 0.91], 0.87, 60.0),
        _write_run(tmp_path, "c", 1e-4, 3, [0.85, 0.89], 0.89, 60.0),
        _write_run(tmp_path, "other", 3e-5, 1, [0.7, 0.8], 0.8, 60.0),
    ]
    (group,) = compare_runs(runs).groups
    assert group.runs == ("a", "b", "c") and group.seeds == (1, 2, 3)
    assert group.test_f1 is not None and group.best_valid_f1 is not None
    assert group.test_f1.mean == pytest.approx(statistics.mean([0.86, 0.87, 0.89]))
    assert group.test_f1.std == pytest.approx(statistics.stdev([0.86, 0.87, 0.89]))
    assert group.best_valid_f1.mean == pytest.approx(0.90)


def test_runs_whose_augmentation_followed_their_seed_group_by_seed(tmp_path: Path) -> None:
    def augmented(name: str, seed: int, augment_seed: int) -> Path:
        run = _write_run(tmp_path, name, 1e-4, seed, [0.8], 0.8, 60.0)
        config = (run / "bertner.toml").read_text(encoding="utf-8")
        (run / "bertner.toml").write_text(f"{config}augment = ['mention']\naugment_seed = {augment_seed}\n")
        return run

    runs = [augmented("a", 1, 1), augmented("b", 2, 2), augmented("fixed", 3, 7), augmented("fixed2", 4, 7)]
    groups = compare_runs(runs).groups
    # a and b: each augmentation seed was the run's own; fixed and fixed2 share augment_seed 7 and differ in seed.
    assert [group.runs for group in groups] == [("a", "b"), ("fixed", "fixed2")]
    assert compare_runs([runs[0], runs[2]]).groups == ()


def test_a_run_saved_before_a_key_existed_groups_with_one_that_writes_it_out(tmp_path: Path) -> None:
    old = _write_run(tmp_path, "old", 1e-4, 1, [0.8], 0.8, 60.0)
    new = _write_run(tmp_path, "new", 1e-4, 2, [0.9], 0.9, 60.0)
    config = (new / "bertner.toml").read_text(encoding="utf-8")
    # What the old run did without these keys: no CRF and no document context (read_saved_config).
    config = config.replace("[train]", "crf = false\n\n[data]\ncontext = 0\n\n[train]")
    (new / "bertner.toml").write_text(config, encoding="utf-8")
    comparison = compare_runs([old, new])
    assert comparison.differences == ("train.seed",)
    assert comparison.groups[0].runs == ("old", "new")
    with_crf = _write_run(tmp_path, "crf", 1e-4, 3, [0.9], 0.9, 60.0)
    (with_crf / "bertner.toml").write_text(config.replace("crf = false", "crf = true"), encoding="utf-8")
    assert compare_runs([old, with_crf]).differences == ("model.crf", "train.seed")


def test_group_without_every_test_score_has_no_test_summary(runs: list[Path], tmp_path: Path) -> None:
    extra = _write_run(tmp_path, "seed3", 1e-4, 3, [0.8, 0.9, 0.9], None, 60.0)
    (group,) = compare_runs([*runs[:2], extra]).groups
    assert group.test_f1 is None and group.best_valid_f1 is not None


def test_markdown(runs: list[Path]) -> None:
    text = compare_runs(runs).to_markdown()
    lines = text.splitlines()
    assert (
        lines[0] == "| run | train.epochs | train.lr | train.seed | best valid F1 | valid F1 | test F1 | train time |"
    )
    assert lines[2] == "| seed1 | 3 | 0.0001 | 1 | 90.00 | 88.00 | 86.00 | 1.6 min |"
    assert lines[4] == "| low-lr | 2 | 3e-05 | 1 | 85.00 | 85.00 | — | 40 s |"
    assert "Runs that differ only in seed" not in text  # seed1 and seed2 also differ in epochs


def test_overlay_plot(runs: list[Path]) -> None:
    pytest.importorskip("matplotlib")
    assert compare_runs(runs).overlay_png().startswith(b"\x89PNG")


def test_same_names_are_shown_as_paths(tmp_path: Path) -> None:
    one = _write_run(tmp_path / "x", "run", 1e-4, 1, [0.8], 0.8, 1.0)
    two = _write_run(tmp_path / "y", "run", 1e-4, 2, [0.8], 0.8, 1.0)
    assert [run.name for run in compare_runs([one, two]).runs] == [str(one), str(two)]


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least one"):
        compare_runs([])
    with pytest.raises(ValueError, match="not a run directory"):
        compare_runs([tmp_path])
    bad = tmp_path / "metrics.jsonl"
    bad.write_text('{"epoch": 1, "step": 1}\nnot json\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"metrics.jsonl:2: not valid JSON"):
        read_epoch_metrics(bad)


def _pred(predicted: list[list[str]], words: str = "a b c") -> PredictionSet:
    gold = [("B-PER", "I-PER", "O")] * len(predicted)
    sentences = tuple(Sentence(tuple(words.split()), tags) for tags in gold)
    return PredictionSet(sentences, tuple(tuple(p) for p in predicted))


def test_paired_significance() -> None:
    right, wrong = ["B-PER", "I-PER", "O"], ["O", "O", "O"]
    good = _pred([right] * 95 + [wrong] * 5)
    bad = _pred([right] * 50 + [wrong] * 50)
    result = paired_significance(good, bad, samples=500, seed=1)
    assert result.f1_a > result.f1_b and result.p_value < 0.01
    assert paired_significance(good, good, samples=200).p_value == 1.0
    with pytest.raises(ValueError, match="sentence 0 differs"):
        paired_significance(good, _pred([right] * 100, words="a b d"))
