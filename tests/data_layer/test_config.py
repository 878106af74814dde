"""Settings: defaults, TOML, overrides, errors that name the key, and the saved-config round trip."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from bertner.config import Config, DataConfig, ModelConfig, TrainConfig
from bertner.config_files import load_config, read_saved_config, save_config
from bertner.layout import CONFIG_FILENAME


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults() -> None:
    config = load_config(None)
    assert config == Config()
    assert (config.data.tag_column, config.data.scheme, config.data.alignment) == (-1, "auto", "first")
    assert (config.data.max_length, config.data.window_overlap, config.data.context) == (256, 32, 0)
    assert config.data.limit_train is None and config.data.limit_eval is None
    # bertner's best measured MiniLM-L6 setting (docs/results.md, configs/minilm-crf.toml).
    assert (config.model.encoder, config.model.case_features, config.model.crf, config.model.head) == (
        "minilm-l6",
        True,
        True,
        "linear",
    )
    train = config.train
    assert (train.lr, train.crf_lr, train.epochs, train.batch_size, train.weight_decay, train.warmup_ratio) == (
        1e-4,
        1e-3,
        3,
        16,
        0.01,
        0.1,
    )
    assert train.bf16 == "auto"


def test_the_defaults_are_configs_minilm_crf_and_the_paper_is_configs_paper() -> None:
    configs = Path(__file__).resolve().parents[2] / "configs"
    assert load_config(configs / "minilm-crf.toml") == Config()
    paper = load_config(configs / "paper.toml")
    assert (paper.model.case_features, paper.model.crf, paper.model.head) == (False, False, "linear")
    assert (paper.train.lr, paper.train.weight_decay, paper.train.warmup_ratio) == (3e-5, 0.1, 0.0)
    assert (paper.train.epochs, paper.train.batch_size, paper.train.bf16) == (3, 16, False)


def test_mpnet_base_defaults_to_its_own_learning_rate_under_what_is_given(tmp_path: Path) -> None:
    mpnet = load_config(None, {"model": {"encoder": "mpnet-base"}})
    assert mpnet.train.lr == 5e-5
    written_out = load_config(Path(__file__).resolve().parents[2] / "configs" / "mpnet-default.toml")
    assert written_out == mpnet
    assert load_config(None, {"model": {"encoder": "mpnet-base"}, "train": {"lr": 2e-5}}).train.lr == 2e-5
    path = _toml(tmp_path, '[model]\nencoder = "mpnet-base"\n[train]\nlr = 3e-5\n')
    assert load_config(path).train.lr == 3e-5
    assert load_config(None, {"model": {"encoder": "/models/mpnet-base"}}).train.lr == 1e-4  # a folder: no preset


def test_toml_file(tmp_path: Path) -> None:
    path = _toml(
        tmp_path,
        '[data]\nalignment = "all"\nmax_length = 128\n\n[model]\ncase_features = true\n\n[train]\nlr = 1\nepochs = 2\n',
    )
    config = load_config(path)
    assert config.data == DataConfig(alignment="all", max_length=128)
    assert config.model == ModelConfig(case_features=True)
    assert config.train == TrainConfig(lr=1.0, epochs=2)
    assert isinstance(config.train.lr, float)  # a TOML integer for a float field becomes a float


def test_overrides_win_over_the_file(tmp_path: Path) -> None:
    path = _toml(tmp_path, "[train]\nepochs = 2\nseed = 7\n[data]\nlimit_train = 100\n")
    config = load_config(path, {"train": {"epochs": 5, "seed": None}, "model": {"encoder": "/models/x"}})
    assert config.train.epochs == 5
    assert config.train.seed == 7  # a None override means "not given", not "set to None"
    assert config.data.limit_train == 100
    assert config.model.encoder == "/models/x"


def test_unknown_section_names_it(tmp_path: Path) -> None:
    path = _toml(tmp_path, "[optimiser]\nlr = 1e-4\n")
    with pytest.raises(
        ValueError, match=r"unknown section \[optimiser\]; expected one of \['data', 'distill', 'model', 'train'\]"
    ):
        load_config(path)


def test_unknown_key_names_it(tmp_path: Path) -> None:
    path = _toml(tmp_path, "[data]\nmax_len = 128\n")
    with pytest.raises(ValueError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path} [data]: unknown key 'max_len'")
    assert "'max_length'" in message


def test_unknown_override_key_names_it() -> None:
    with pytest.raises(ValueError, match="config \\[train\\]: unknown key 'learning_rate'"):
        load_config(None, {"train": {"learning_rate": 1e-4}})


@pytest.mark.parametrize(
    ("section", "values", "message"),
    [
        ("data", {"alignment": "x"}, "data.alignment must be 'first' or 'all'"),
        ("data", {"scheme": "BIO"}, "data.scheme must be auto, IOB1, IOB2 or BIOES"),
        ("data", {"max_length": 4}, "data.max_length must be at least 8"),
        ("data", {"max_length": 64, "window_overlap": 32}, "data.window_overlap must be in [0, max_length / 2)"),
        ("data", {"window_overlap": -1}, "data.window_overlap must be in [0, max_length / 2)"),
        ("train", {"epochs": 0}, "train.epochs must be at least 1"),
        ("train", {"lr": 0.0}, "train.lr must be positive"),
        ("model", {"classifier_dropout": 1.0}, "model.classifier_dropout must be in [0, 1)"),
    ],
)
def test_invalid_values(section: str, values: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        load_config(None, {section: values})
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[data]\nmax_length = "256"\n', "max_length must be int, not '256'"),
        ('[train]\nbf16 = "false"\n', "bf16 must be bool or 'auto', not 'false'"),
        ("[train]\nbf16 = 1\n", "bf16 must be bool or 'auto', not 1"),
        ("[train]\nepochs = true\n", "epochs must be int, not True"),
        ('[train]\nlr = "3e-5"\n', "lr must be float, not '3e-5'"),
        ("[data]\nlimit_train = 1.5\n", "limit_train must be int or None, not 1.5"),
        ("[model]\nencoder = 5\n", "encoder must be str, not 5"),
    ],
)
def test_values_of_the_wrong_type_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = _toml(tmp_path, text)
    with pytest.raises(ValueError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path} [")
    assert message in str(caught.value)


def test_section_that_is_not_a_table(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\[data\] must be a table"):
        load_config(_toml(tmp_path, "data = 3\n"))


def test_bad_toml_and_missing_file_name_the_path(tmp_path: Path) -> None:
    path = _toml(tmp_path, "[data\nmax_length = 1\n")
    with pytest.raises(ValueError, match=re.escape(f"{path}: not valid TOML")):
        load_config(path)
    missing = tmp_path / "missing.toml"
    with pytest.raises(ValueError, match=re.escape(f"{missing}: cannot read config")):
        load_config(missing)


@pytest.mark.parametrize("limit_train", [None, 100])
def test_save_and_read_back(tmp_path: Path, limit_train: int | None) -> None:
    config = Config(
        data=DataConfig(alignment="all", limit_train=limit_train, limit_eval=50, max_length=128, window_overlap=16),
        model=ModelConfig(encoder="/models/minilm", case_features=True, classifier_dropout=0.2),
        train=TrainConfig(lr=1e-4, epochs=6, warmup_ratio=0.1, bf16=True, lr_scheduler="cosine"),
    )
    path = save_config(config, tmp_path)
    assert path == tmp_path / CONFIG_FILENAME
    assert read_saved_config(tmp_path) == config


def test_config_is_frozen() -> None:
    config = Config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.train.lr = 1.0  # type: ignore[misc]
