"""Model options (head, CRF, freezing, LoRA): defaults keep the plain model; validation; the saved round trip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bertner.config import Config, ModelConfig, TrainConfig
from bertner.config_files import load_config, read_saved_config, save_config


def test_defaults_are_a_crf_over_the_fine_tuned_encoder_with_word_shapes() -> None:
    model = ModelConfig()
    assert (model.head, model.crf, model.case_features, model.freeze_embeddings, model.freeze_layers, model.lora) == (
        "linear",
        True,
        True,
        False,
        0,
        False,
    )
    assert (model.lora_r, model.lora_alpha, model.lora_targets) == (8, 16, ())
    assert TrainConfig().crf_lr == 1e-3


def test_every_option_is_saved_and_restored(tmp_path: Path) -> None:
    options: dict[str, Any] = {
        "head": "mlp",
        "head_hidden": 64,
        "head_activation": "relu",
        "crf": True,
        "case_features": True,
        "lora": True,
        "lora_r": 4,
        "lora_alpha": 32,
        "lora_dropout": 0.0,
        "lora_targets": ["query", "key", "value"],
    }
    config = load_config(None, {"model": options, "train": {"crf_lr": 0.01}})
    assert config.model.lora_targets == ("query", "key", "value")  # a tuple: the config stays hashable
    hash(config)
    save_config(config, tmp_path)
    assert read_saved_config(tmp_path) == config
    frozen = load_config(None, {"model": {"freeze_embeddings": True, "freeze_layers": 3}})
    save_config(frozen, tmp_path)
    assert read_saved_config(tmp_path) == frozen
    assert read_saved_config(tmp_path).model.freeze_layers == 3


def test_a_config_from_an_older_bertner_loads_as_it_was_trained(tmp_path: Path) -> None:
    # Written before `crf` and `bf16` existed: that run had no CRF and trained in fp32, whatever today's defaults.
    (tmp_path / "bertner.toml").write_text('[model]\nencoder = "minilm-l6"\ncase_features = true\n', encoding="utf-8")
    saved = read_saved_config(tmp_path)
    assert (saved.model.case_features, saved.model.crf, saved.train.bf16) == (True, False, False)
    assert saved.data == Config().data and saved.model.head == "linear"
    (tmp_path / "bertner.toml").write_text('[model]\nencoder = "minilm-l6"\n', encoding="utf-8")
    assert read_saved_config(tmp_path).model.case_features is False
    assert load_config(tmp_path / "bertner.toml").model.case_features is True  # a config file: today's defaults


@pytest.mark.parametrize(
    ("section", "values", "message"),
    [
        ("model", {"head": "softmax"}, "model.head must be one of linear, mlp, not 'softmax'"),
        ("model", {"head_hidden": 0}, "model.head_hidden must be at least 1"),
        ("model", {"head_activation": "sigmoid"}, "model.head_activation must be one of tanh, relu, gelu"),
        ("model", {"freeze_layers": -1}, "model.freeze_layers must be at least 0"),
        ("model", {"lora_r": 0}, "model.lora_r must be at least 1"),
        ("model", {"lora_alpha": 0}, "model.lora_alpha must be positive"),
        ("model", {"lora_dropout": 1.0}, r"model.lora_dropout must be in \[0, 1\)"),
        ("model", {"lora_targets": ["query", ""]}, "model.lora_targets must not hold empty names"),
        ("model", {"lora": True, "freeze_layers": 2}, "cannot be combined with freeze_embeddings or freeze_layers"),
        ("model", {"lora": True, "freeze_embeddings": True}, "LoRA freezes the whole encoder"),
        ("train", {"warmup_ratio": 1.0}, r"train.warmup_ratio must be in \[0, 1\)"),
        ("train", {"warmup_ratio": 100}, r"train.warmup_ratio must be in \[0, 1\)"),
        ("train", {"crf_lr": 0.0}, "train.crf_lr must be positive"),
        ("train", {"loss_normalization": "token"}, "train.loss_normalization must be batch or corpus, not 'token'"),
    ],
)
def test_settings_that_cannot_work_are_refused(section: str, values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_config(None, {section: values})


@pytest.mark.parametrize("value", ["query", [1, 2], "query,value"])
def test_lora_targets_must_be_a_list_of_names(value: Any) -> None:
    with pytest.raises(ValueError, match="lora_targets must be a list of strings"):
        load_config(None, {"model": {"lora_targets": value}})


def test_a_toml_integer_for_a_boolean_option_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text("[model]\ncrf = 1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="crf must be bool"):
        load_config(path)
