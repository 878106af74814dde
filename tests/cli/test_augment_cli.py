"""`bertner train --augment ...`: the flags become [train] settings, and bad values stop with one line, exit 2."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bertner.cli import main
from bertner.cli.main import build_parser
from bertner.cli.train import train_overrides
from bertner.config_files import load_config

BASE = ["train", "--data", "DATA", "--output", "OUT"]


def _train_config(tmp_path: Path, flags: list[str], toml: str = "") -> tuple[tuple[str, ...], float, float, int | None]:
    config_file = tmp_path / "config.toml"
    config_file.write_text(toml, encoding="utf-8")
    args = build_parser().parse_args([*BASE, "--config", str(config_file), *flags])
    train = load_config(args.config, train_overrides(args)).train
    return train.augment, train.augment_ratio, train.augment_probability, train.augment_seed


def test_augment_flags_set_the_train_settings(tmp_path: Path) -> None:
    flags = [
        "--augment",
        "mention,token",
        "--augment-ratio",
        "0.5",
        "--augment-probability",
        "1",
        "--augment-seed",
        "7",
    ]
    assert _train_config(tmp_path, flags) == (("mention", "token"), 0.5, 1.0, 7)
    assert _train_config(tmp_path, []) == ((), 1.0, 0.3, None)


def test_augment_none_turns_off_what_the_config_file_asks_for(tmp_path: Path) -> None:
    toml = '[train]\naugment = ["token"]\naugment_ratio = 2.0\n'
    assert _train_config(tmp_path, [], toml)[:2] == (("token",), 2.0)
    assert _train_config(tmp_path, ["--augment", "none"], toml)[:2] == ((), 2.0)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--augment", "mention,synonym"], "argument --augment: expected a comma-separated list of mention, token"),
        (["--augment", "token,token"], "argument --augment: expected a comma-separated list of mention, token"),
        (["--augment-ratio", "0"], "argument --augment-ratio: expected a positive number, not '0'"),
        (["--augment-probability", "1.5"], r"train.augment_probability must be in \(0, 1\], not 1.5"),
        (["--augment-seed", "-1"], "argument --augment-seed: expected an integer >= 0"),
    ],
)
def test_bad_augment_flags_stop_with_one_line(
    tiny_data: Path, tmp_path: Path, flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code = main(["train", "--data", str(tiny_data), "--output", str(tmp_path / "run"), *flags])
    except SystemExit as exit_:  # argparse stops on a bad flag; a bad config value returns from main
        code = exit_.code
    error = capsys.readouterr().err
    assert code == 2
    assert len(error.strip().splitlines()) == 1
    assert re.search(message, error), error
    assert not (tmp_path / "run").exists()
