"""`bertner search` from the command line: the budget flags reach every trial but not best.toml, the table is
printed, and a bad space file is one line on stderr naming the file and the setting, exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from bertner.cli import main
from bertner.config_files import load_config, read_saved_config


def _space(tmp_path: Path, encoder: Path, search: str) -> Path:
    path = tmp_path / "space.toml"
    path.write_text(
        f'[model]\nencoder = "{encoder}"\n[train]\nepochs = 2\nbatch_size = 4\n[search]\n{search}\n', encoding="utf-8"
    )
    return path


def test_the_budget_flags_reach_the_trials_but_not_best_toml(
    tiny_bert: Path, tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    space = _space(tmp_path, tiny_bert, '"train.lr" = {low = 1e-3, high = 1e-2, log = true}')
    output = tmp_path / "out"
    argv = ["-q", "search", str(space), "--data", str(tiny_data), "--output", str(output), "--trials", "1"]
    assert main([*argv, "--epochs", "1", "--limit-train", "5", "--limit-eval", "3", "--pruner", "none"]) == 0
    trial = read_saved_config(output / "trials" / "000")
    assert (trial.train.epochs, trial.data.limit_train, trial.data.limit_eval) == (1, 5, 3)
    best = load_config(output / "best.toml")
    assert (best.train.epochs, best.data.limit_train, best.train.lr) == (2, None, trial.train.lr)
    printed = capsys.readouterr().out
    assert "# Search: study `space`" in printed and "| **0** | complete |" in printed


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ('"train.lr" = {low = 1e-3, high = 1e-4}', "[search] train.lr: low (0.001) must be below high (0.0001)"),
        ('"train.batchsize" = {choices = [8, 16]}', "[search]: unknown setting 'train.batchsize'"),
    ],
)
def test_a_bad_space_file_is_one_line_naming_the_file_and_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], search: str, expected: str
) -> None:
    space = _space(tmp_path, tmp_path / "no-encoder", search)
    argv = ["search", str(space), "--data", str(tmp_path), "--output", str(tmp_path / "out"), "--trials", "2"]
    assert main(argv) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"bertner search: error: {space} ") and expected in error and "\n" not in error
    assert not (tmp_path / "out").exists()  # refused before anything was written


def test_searching_the_budget_setting_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    space = _space(tmp_path, tmp_path / "no-encoder", '"train.epochs" = {low = 1, high = 3}')
    argv = ["search", str(space), "--data", str(tmp_path), "--output", str(tmp_path / "out"), "--trials", "2"]
    assert main([*argv, "--epochs", "1"]) == 2
    assert "train.epochs is searched, so it cannot also be set on the command line" in capsys.readouterr().err


def test_the_pruner_choices_are_the_pruners_the_search_makes() -> None:
    from bertner.cli.search import _PRUNERS
    from bertner.search.run import PRUNERS, make_pruner

    assert _PRUNERS == PRUNERS  # the CLI lists them without importing optuna
    assert [type(make_pruner(name)).__name__ for name in PRUNERS] == ["MedianPruner", "HyperbandPruner", "NopPruner"]
