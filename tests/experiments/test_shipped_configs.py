"""Every file in configs/ loads with the loader for its kind, and pins the settings whose defaults changed."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

from bertner.config import Config
from bertner.config_files import load_config, read_saved_config, read_toml, save_config
from bertner.experiments.spec import load_experiment
from bertner.layout import CONFIG_FILENAME
from bertner.search.space import load_space

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.toml"))
# Keys whose defaults changed on 2026-11-30 (issue 11). docs/results.md cites these files as the commands that
# produced its numbers, so each file writes them out and keeps running what was measured with it.
PINNED = (("model", "crf"), ("model", "case_features"), ("train", "bf16"), ("train", "lr"))


def _configs(path: Path, tables: dict[str, Any]) -> list[Config]:
    """The configs a file (`tables`, as read) runs: a search's base, an experiment's variants, or the file itself."""
    if "search" in tables:
        return [load_space(path).base]
    if "experiment" in tables:
        return [variant.config for variant in load_experiment(path, data="unused", output=Path("unused")).variants]
    return [load_config(path)]


def test_configs_folder_is_found() -> None:
    assert len(CONFIGS) >= 10


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.name)
def test_shipped_config_loads_and_pins_changed_defaults(path: Path) -> None:
    tables = read_toml(path)
    configs = _configs(path, tables)
    assert configs and all(config.model.encoder in {"minilm-l6", "mpnet-base"} for config in configs)
    missing = [f"{table}.{key}" for table, key in PINNED if key not in tables.get(table, {})]
    assert not missing, f"{path.name} leaves {missing} to the defaults"


# The configs that say they are bertner's default setting written out, with the flags of the `bertner train` command
# whose setting they claim to be (configs/minilm-crf.toml: "what `bertner train --data DIR --output RUN` trains").
WRITTEN_OUT_DEFAULTS = {
    "minilm-crf.toml": [],
    "mpnet-default.toml": ["--encoder", "mpnet-base"],
    "minilm-context.toml": ["--context", "64"],
    "minilm-augment.toml": ["--augment", "mention,token"],
}


def _resolved_by_train(flags: list[str]) -> Config:
    """The config `bertner train --data D --output O FLAGS` trains with (no --config): the CLI's own resolution."""
    from bertner.cli.main import build_parser
    from bertner.cli.train import train_overrides

    args = build_parser().parse_args(["train", "--data", "D", "--output", "O", *flags])
    return load_config(None, train_overrides(args))


@pytest.mark.parametrize(("name", "flags"), WRITTEN_OUT_DEFAULTS.items())
def test_a_config_that_says_it_is_the_defaults_equals_what_train_resolves(name: str, flags: list[str]) -> None:
    path = CONFIGS[0].parent / name
    assert load_config(path) == _resolved_by_train(flags), f"{name} is not `bertner train {' '.join(flags)}`"


def test_every_config_that_claims_to_be_the_defaults_is_checked() -> None:
    """A file whose comments call it the default setting (or minilm-crf.toml with something added) is in the table."""
    for path in CONFIGS:
        header = " ".join(line for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("#"))
        claims = re.search(r"default setting[^.]*written out|^# configs/minilm-crf\.toml with", header)
        assert not claims or path.name in WRITTEN_OUT_DEFAULTS, f"{path.name} claims to be the defaults: {claims}"


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.name)
def test_every_setting_of_a_shipped_config_survives_the_saved_record(path: Path, tmp_path: Path) -> None:
    """What a run of each config records (bertner.toml) holds every key, None ones too, and reads back equal."""
    for number, config in enumerate(_configs(path, read_toml(path))):
        folder = tmp_path / str(number)
        folder.mkdir()
        save_config(config, folder)
        written = read_toml(folder / CONFIG_FILENAME)
        for section in dataclasses.fields(config):
            keys = {key.name for key in dataclasses.fields(getattr(config, section.name))}
            assert set(written[section.name]) == keys, f"{path.name} [{section.name}]"
        assert read_saved_config(folder) == config, path.name
