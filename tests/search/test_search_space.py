"""The search space file: ranges and choices in each key syntax, their type taken from config.py, the configs
a trial and the best trial get, and errors that name the file and the setting."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from bertner.config_files import load_config
from bertner.search.space import Choice, Range, load_space

BASE = """
[model]
encoder = "minilm-l6"
crf = true
[train]
epochs = 3
lr = 1e-4
"""

SPACE = """
[search]
"train.lr" = {low = 1e-5, high = 2e-4, log = true}
"train.weight_decay" = {low = 0, high = 0.3}
"train.epochs" = {low = 1, high = 4}
"train.batch_size" = {choices = [8, 16, 32]}
model.crf = {choices = [true, false]}
"model.head" = {choices = ["linear", "mlp"]}

[search.data]
alignment = {choices = ["first", "all"]}
"""


def _write(tmp_path: Path, text: str, base: str = BASE) -> Path:
    path = tmp_path / "space.toml"
    path.write_text(base + text, encoding="utf-8")
    return path


def test_each_key_syntax_gives_a_dimension_typed_by_its_setting(tmp_path: Path) -> None:
    space = load_space(_write(tmp_path, SPACE))
    assert space.dimensions == (
        Range("train.lr", 1e-5, 2e-4, integer=False, log=True),
        Range("train.weight_decay", 0.0, 0.3, integer=False),  # integer bounds, but a float setting
        Range("train.epochs", 1, 4, integer=True),
        Choice("train.batch_size", (8, 16, 32)),
        Choice("model.crf", (True, False)),
        Choice("model.head", ("linear", "mlp")),
        Choice("data.alignment", ("first", "all")),
    )


def test_trials_get_values_in_range_and_configs_with_budget_then_values(tmp_path: Path) -> None:
    space = load_space(
        _write(tmp_path, SPACE.replace('"train.epochs" = {low = 1, high = 4}\n', "")),
        {"train.epochs": 1, "data.limit_train": 50},
    )
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        params = space.suggest(study.ask())
        assert 1e-5 <= params["train.lr"] <= 2e-4 and 0 <= params["train.weight_decay"] <= 0.3
        assert params["train.batch_size"] in (8, 16, 32) and params["model.head"] in ("linear", "mlp")
        config = space.trial_config(params)
        assert (config.train.lr, config.model.crf, config.model.head) == (
            params["train.lr"],
            params["model.crf"],
            params["model.head"],
        )
        assert (config.train.epochs, config.data.limit_train, config.model.encoder) == (1, 50, "minilm-l6")
        best = space.best_config(params)
        assert (best.train.epochs, best.data.limit_train, best.train.lr) == (3, None, params["train.lr"])


def test_the_stored_description_is_the_space_and_every_setting_a_trial_starts_from(tmp_path: Path) -> None:
    space = load_space(_write(tmp_path, '[search]\n"train.lr" = {low = 1e-5, high = 1e-4}\n'), {"train.epochs": 1})
    described = space.to_dict()
    assert described["search"] == {"train.lr": {"low": 1e-5, "high": 1e-4, "log": False}}
    start = load_config(None, {"model": {"encoder": "minilm-l6", "crf": True}, "train": {"epochs": 1, "lr": 1e-4}})
    assert described["config"] == {
        f"{section}.{key}": value for section, values in start.to_dict().items() for key, value in values.items()
    }


@pytest.mark.parametrize(
    ("search", "message"),
    [
        ('"train.learning_rate" = {low = 1e-5, high = 1e-4}', "unknown setting 'train.learning_rate'"),
        ('"optimizer.lr" = {low = 1e-5, high = 1e-4}', "'optimizer.lr' is not a setting"),
        ("lr = {low = 1e-5, high = 1e-4}", "'lr' is not a setting"),
        ('"train.lr" = {low = 1e-4, high = 1e-5}', "train.lr: low (0.0001) must be below high (1e-05)"),
        ('"train.lr" = {low = 0, high = 1e-4, log = true}', "train.lr: a log range needs low > 0"),
        ('"train.lr" = {low = 1e-5, high = 1e-4, step = 1e-5, log = true}', "cannot be combined with log"),
        ('"train.lr" = {low = 1e-5}', "train.lr: high must be a number, not None"),
        ('"train.lr" = {low = 1e-5, high = 1e-4, scale = "log"}', "train.lr: unknown keys ['scale']"),
        ('"train.lr" = {low = 1e-5, high = 1e-4, choices = [1e-5]}', "choices cannot be combined with a range"),
        ('"train.lr" = 1e-4', "train.lr: expected {low = ..., high = ...} or {choices = [...]}"),
        ('"train.epochs" = {low = 1, high = 2.5}', "train.epochs: high must be an integer, not 2.5"),
        ('"model.head" = {low = 1, high = 2}', "model.head is a str setting; give it {choices = [...]}"),
        ('"train.batch_size" = {choices = [8, "16"]}', "batch_size must be int, not '16'"),
        ('"train.batch_size" = {choices = []}', "choices must be a non-empty list"),
        ('"train.batch_size" = {choices = [8, 8]}', "choices repeat a value"),
        ('"model.head" = {choices = ["linear", "cnn"]}', "model.head must be one of linear, mlp, not 'cnn'"),
        ('"train.warmup_ratio" = {low = 0.0, high = 1.0}', "train.warmup_ratio must be in [0, 1)"),
    ],
)
def test_a_bad_space_names_the_file_and_the_setting(tmp_path: Path, search: str, message: str) -> None:
    path = _write(tmp_path, f"[search]\n{search}\n")
    with pytest.raises(ValueError) as caught:
        load_space(path)
    assert str(caught.value).startswith(str(path)) and message in str(caught.value)


def test_a_space_needs_a_search_table_and_a_valid_base(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"space.toml: a search space needs a \[search\] table"):
        load_space(_write(tmp_path, ""))
    with pytest.raises(ValueError, match=r"space.toml \(base config\) \[train\]: unknown key 'learning_rate'"):
        load_space(
            _write(tmp_path, '[search]\n"train.lr" = {low = 1e-5, high = 1e-4}\n', "[train]\nlearning_rate = 1\n")
        )


def test_a_searched_setting_cannot_also_be_the_budget(tmp_path: Path) -> None:
    path = _write(tmp_path, '[search]\n"train.epochs" = {low = 1, high = 3}\n')
    with pytest.raises(ValueError, match="train.epochs is searched, so it cannot also be set on the command line"):
        load_space(path, {"train.epochs": 1})
