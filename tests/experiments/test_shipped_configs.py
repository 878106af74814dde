"""Every file in configs/ loads with the loader for its kind, and pins the settings whose defaults changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bertner.config import Config, load_config, read_toml
from bertner.experiments.spec import load_experiment
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
