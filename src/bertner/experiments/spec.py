"""The experiment file: a base config, named variants of it, an optional grid, and the seeds to run each with.

```toml
[data]                      # the base config: the usual [data], [model] and [train] tables
max_length = 128
[model]
encoder = "minilm-l6"
[train]
epochs = 3

[experiment]
data = "../shared/data/conll2003"   # a CoNLL folder or hf:owner/name; relative paths are from the current folder
output = "runs/ablation"            # each run goes to output/<variant>/seed-<n>/
seeds = [1, 2, 3]                   # or: num_seeds = 3 (train.seed, train.seed + 1, ...)
evaluate_test = true                # also score each saved model on the test split (default true)

[[variants]]
name = "linear"                     # no overrides: the base config

[[variants]]
name = "mlp-tanh"
"model.head" = "mlp"                # a quoted dotted key ...
model.head_activation = "tanh"      # ... a TOML dotted key, or a nested table: model = { head = "mlp" }
seeds = [1, 2, 3, 4, 5]             # optional: this variant's own seeds instead of [experiment]'s

[grid]                              # optional: every combination, crossed with every variant
"train.lr" = [1e-5, 3e-5]
"train.batch_size" = [16, 32]
```

With a grid, each variant is expanded into one variant per combination, named by its values, e.g.
`mlp-tanh,lr=1e-05,batch_size=16` (without [[variants]]: `lr=1e-05,batch_size=16`). Early stopping during
a grid search comes from `train.patience`. Seeds are set by [experiment], or by a variant's own `seeds` (e.g. more
seeds for the best variants once a one-seed table has found them); `train.seed` may not be overridden.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bertner.config import Config
from bertner.config_files import config_from_dict, read_toml
from bertner.errors import UserError

EXPERIMENT_KEYS = ("data", "output", "seeds", "num_seeds", "evaluate_test")
BASE_VARIANT = "base"
# Names become folder names: letters, digits and a few separators, nothing that could leave the output folder.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=+,-]*$")


@dataclass(frozen=True)
class Variant:
    """One named setting: the base config with `overrides` ({"model.head": "mlp", ...}) applied.

    `seeds`: the variant's own seeds; None runs it with the experiment's.
    """

    name: str
    overrides: Mapping[str, Any]
    config: Config
    seeds: tuple[int, ...] | None = None


@dataclass(frozen=True)
class PlannedRun:
    """One training run: a variant with one seed, trained into `run_dir`."""

    variant: str
    seed: int
    config: Config
    run_dir: Path


@dataclass(frozen=True)
class Experiment:
    data: str
    output: Path
    seeds: tuple[int, ...]
    evaluate_test: bool
    variants: tuple[Variant, ...]

    def runs(self) -> list[PlannedRun]:
        """Every variant with each of its seeds (its own, else the experiment's), variant by variant."""
        return [
            PlannedRun(
                variant.name,
                seed,
                replace(variant.config, train=replace(variant.config.train, seed=seed)),
                self.output / variant.name / f"seed-{seed}",
            )
            for variant in self.variants
            for seed in self.seeds_of(variant)
        ]

    def seeds_of(self, variant: Variant) -> tuple[int, ...]:
        return variant.seeds if variant.seeds is not None else self.seeds


def _flatten(table: Mapping[str, Any], where: str, prefix: str = "") -> dict[str, Any]:
    """{"model": {"head": "mlp"}, "train.lr": 1e-4} -> {"model.head": "mlp", "train.lr": 1e-4}."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, where, f"{prefix}{key}."))
            continue
        name = f"{prefix}{key}"
        if name.count(".") != 1:
            raise UserError(f"{where}: {name!r} is not a setting; expected section.key, e.g. model.head")
        flat[name] = value
    return flat


def _nest(flat: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    nested: dict[str, dict[str, Any]] = {}
    for name, value in flat.items():
        section, key = name.split(".")
        nested.setdefault(section, {})[key] = value
    return nested


def _config(base: Mapping[str, Any], overrides: Mapping[str, Any], where: str) -> Config:
    if "train.seed" in overrides:
        raise UserError(f"{where}: train.seed is set by [experiment] seeds or num_seeds, not per variant")
    merged = {section: dict(values) for section, values in base.items()}
    for section, values in _nest(overrides).items():
        merged.setdefault(section, {}).update(values)
    try:
        return config_from_dict(merged, where)
    except UserError as error:
        # validate() names the setting but not the variant it came from.
        if str(error).startswith(where):
            raise
        raise UserError(f"{where}: {error}") from error


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _grid(raw: Any, where: str) -> list[dict[str, Any]]:
    """Every combination of the grid's values, as overrides; [{}] without a grid."""
    if raw is None:
        return [{}]
    if not isinstance(raw, Mapping) or not raw:
        raise UserError(f"{where}: [grid] must be a table of setting = [values]")
    grid = _flatten(raw, f"{where} [grid]")
    for name, values in grid.items():
        if not isinstance(values, list) or not values:
            raise UserError(f"{where} [grid]: {name} must be a non-empty list of values, not {values!r}")
    return [dict(zip(grid, combination, strict=True)) for combination in itertools.product(*grid.values())]


def _grid_name(variant: str | None, combination: Mapping[str, Any]) -> str:
    short = [name.split(".")[1] for name in combination]
    labels = short if len(set(short)) == len(short) else list(combination)
    parts = [f"{label}={_format(value)}" for label, value in zip(labels, combination.values(), strict=True)]
    return ",".join(([variant] if variant else []) + parts)


def _variants(raw: Any, base: Mapping[str, Any], grid: list[dict[str, Any]], where: str) -> tuple[Variant, ...]:
    if raw is None:
        listed: list[tuple[str | None, dict[str, Any], tuple[int, ...] | None]] = [(None, {}, None)]
    elif isinstance(raw, list) and raw and all(isinstance(v, Mapping) for v in raw):
        listed = []
        for index, table in enumerate(raw):
            values = dict(table)
            name = values.pop("name", None)
            if not isinstance(name, str):
                raise UserError(f"{where}: [[variants]] number {index + 1} needs a name")
            own_seeds = values.pop("seeds", None)
            seeds = None if own_seeds is None else _seed_list(own_seeds, f"{where} variant {name!r}: seeds")
            listed.append((name, _flatten(values, f"{where} variant {name!r}"), seeds))
    else:
        raise UserError(f"{where}: variants must be [[variants]] tables, each with a name")
    variants = []
    for name, overrides, seeds in listed:
        for combination in grid:
            full_name = _grid_name(name, combination) if combination else (name or BASE_VARIANT)
            if not _NAME.match(full_name):
                raise UserError(
                    f"{where}: variant name {full_name!r} must start with a letter or digit and hold only "
                    "letters, digits and . _ = + , -"
                )
            merged = {**overrides, **combination}
            config = _config(base, merged, f"{where} variant {full_name!r}")
            variants.append(Variant(full_name, merged, config, seeds))
    names = [variant.name for variant in variants]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise UserError(f"{where}: variant names must be unique; repeated: {', '.join(duplicates)}")
    return tuple(variants)


def _seed_list(seeds: Any, where: str) -> tuple[int, ...]:
    """A non-empty list of distinct integers, as a tuple; `where` names the setting in errors."""
    if not isinstance(seeds, list) or not seeds or not all(type(s) is int for s in seeds):
        raise UserError(f"{where} must be a non-empty list of integers, not {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise UserError(f"{where} repeat: {seeds}")
    return tuple(seeds)


def _seeds(settings: Mapping[str, Any], base_seed: int, where: str) -> tuple[int, ...]:
    seeds, count = settings.get("seeds"), settings.get("num_seeds")
    if seeds is not None and count is not None:
        raise UserError(f"{where}: give [experiment] seeds or num_seeds, not both")
    if seeds is not None:
        return _seed_list(seeds, f"{where}: [experiment] seeds")
    if count is not None:
        if type(count) is not int or count < 1:
            raise UserError(f"{where}: [experiment] num_seeds must be a positive integer, not {count!r}")
        return tuple(range(base_seed, base_seed + count))
    return (base_seed,)


def experiment_from_dict(
    raw: Mapping[str, Any], where: str = "experiment", data: str | None = None, output: Path | None = None
) -> Experiment:
    """Build an Experiment from the parsed TOML; `data` and `output` override [experiment]'s."""
    raw = dict(raw)
    settings = raw.pop("experiment", None)
    if not isinstance(settings, Mapping):
        raise UserError(f"{where}: an experiment file needs an [experiment] table with data and output")
    unknown = sorted(set(settings) - set(EXPERIMENT_KEYS))
    if unknown:
        raise UserError(f"{where}: unknown [experiment] keys {unknown}; expected some of {list(EXPERIMENT_KEYS)}")
    grid = _grid(raw.pop("grid", None), where)
    variants = _variants(raw.pop("variants", None), raw, grid, where)
    base = config_from_dict(raw, f"{where} (base config)")
    source, target = data or settings.get("data"), output or settings.get("output")
    if not isinstance(source, str) or not source:
        raise UserError(f"{where}: [experiment] data must name a CoNLL folder or hf:owner/name")
    if not isinstance(target, str | Path) or not str(target):
        raise UserError(f"{where}: [experiment] output must name a folder for the runs")
    evaluate_test = settings.get("evaluate_test", True)
    if not isinstance(evaluate_test, bool):
        raise UserError(f"{where}: [experiment] evaluate_test must be true or false, not {evaluate_test!r}")
    seeds = _seeds(settings, base.train.seed, where)
    return Experiment(source, Path(target), seeds, evaluate_test, variants)


def load_experiment(path: Path, data: str | None = None, output: Path | None = None) -> Experiment:
    """Read an experiment file (see the module docstring); errors name the file and the variant."""
    return experiment_from_dict(read_toml(path, "experiment file"), str(path), data, output)


def describe(overrides: Mapping[str, Any]) -> str:
    """`model.head=mlp, train.lr=0.0001`, or `(base config)` for none."""
    return ", ".join(f"{name}={_format(value)}" for name, value in overrides.items()) or "(base config)"


__all__ = [
    "Experiment",
    "PlannedRun",
    "Variant",
    "describe",
    "experiment_from_dict",
    "load_experiment",
]
