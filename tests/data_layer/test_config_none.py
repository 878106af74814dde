"""A saved config keeps the keys whose value is None (issue 20, defect 4): TOML has no null, so None is written as
the string "none", and read back as None wherever the key's type allows None."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any

import pytest

from bertner.config import Config, DataConfig, TrainConfig
from bertner.config_files import config_from_dict, load_config, read_saved_config, save_config
from bertner.layout import CONFIG_FILENAME


def _none_able(config: Config) -> list[tuple[str, str]]:
    """(section, key) of every setting whose type allows None."""
    return [
        (section.name, key.name)
        for section in dataclasses.fields(config)
        for key in dataclasses.fields(getattr(config, section.name))
        if "None" in str(key.type)
    ]


def _all_none(config: Config) -> Config:
    """`config` with every setting that may be None set to None."""
    sections = {}
    for section_name, key in _none_able(config):
        section = sections.get(section_name, getattr(config, section_name))
        sections[section_name] = dataclasses.replace(section, **{key: None})
    return dataclasses.replace(config, **sections)


def test_there_are_none_able_settings_with_a_default_other_than_none() -> None:
    # What makes the defect bite: a dropped crf_lr = None read back as today's default, 1e-3.
    assert ("train", "crf_lr") in _none_able(Config()) and Config().train.crf_lr is not None


def test_no_string_setting_may_be_none() -> None:
    """The encoding is unambiguous only while no `str | None` setting exists ("none" could be meant as text)."""
    for section in dataclasses.fields(Config):
        for key in dataclasses.fields(section.default_factory()):  # type: ignore[misc]
            allowed = {name.strip() for name in str(key.type).split("|")}
            assert not ({"str", "None"} <= allowed), f"{section.name}.{key.name}: {key.type}"


@pytest.mark.parametrize("config", [Config(), _all_none(Config())], ids=["defaults", "every-none-able-key-none"])
def test_a_saved_config_writes_every_key_and_reads_back_equal(tmp_path: Path, config: Config) -> None:
    save_config(config, tmp_path)
    written = tomllib.loads((tmp_path / CONFIG_FILENAME).read_text(encoding="utf-8"))
    for section in dataclasses.fields(config):
        assert set(written[section.name]) == {key.name for key in dataclasses.fields(getattr(config, section.name))}
    assert read_saved_config(tmp_path) == config


def test_crf_lr_none_survives_the_round_trip(tmp_path: Path) -> None:
    config = Config(train=TrainConfig(crf_lr=None))
    save_config(config, tmp_path)
    assert 'crf_lr = "none"' in (tmp_path / CONFIG_FILENAME).read_text(encoding="utf-8")
    assert read_saved_config(tmp_path).train.crf_lr is None


def test_a_config_file_may_write_none(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[train]\ncrf_lr = "none"\naugment_seed = "none"\n[data]\nlimit_train = "none"\n', encoding="utf-8")
    config = load_config(path)
    assert (config.train.crf_lr, config.train.augment_seed, config.data.limit_train) == (None, None, None)


@pytest.mark.parametrize(
    ("tables", "message"),
    [
        ({"train": {"lr": "none"}}, "lr must be float, not 'none'"),
        ({"data": {"max_length": "none"}}, "max_length must be int, not 'none'"),
        ({"model": {"encoder": "none"}}, None),  # a string setting: "none" is just a name
    ],
)
def test_none_only_where_the_type_allows_it(tables: dict[str, Any], message: str | None) -> None:
    if message is None:
        assert config_from_dict(tables).model.encoder == "none"
        return
    with pytest.raises(ValueError, match=message):
        config_from_dict(tables)


def test_a_run_saved_before_none_was_written_read_its_missing_crf_lr_as_none(tmp_path: Path) -> None:
    """Before 2026-12-06 a None was dropped; crf_lr has existed (default None until 2026-11-30) since the CRF did,
    so a record without it was trained with crf_lr = None, i.e. at the encoder's lr."""
    (tmp_path / CONFIG_FILENAME).write_text("[model]\ncrf = true\n\n[train]\nlr = 3e-5\n", encoding="utf-8")
    config = read_saved_config(tmp_path)
    assert config.train.crf_lr is None and config.data == DataConfig()
