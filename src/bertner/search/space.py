"""The search space file: a base config and a [search] table naming the settings to search and their ranges.

```toml
[model]                                              # the base config: the usual [data], [model], [train] tables
encoder = "minilm-l6"
[train]
epochs = 3

[search]
"train.lr" = {low = 1e-5, high = 2e-4, log = true}   # a number setting: a range (`log` or `step` optional)
"train.epochs" = {low = 1, high = 3}                 # an integer setting: a range of integers
"train.batch_size" = {choices = [8, 16, 32]}         # any setting: a list of values
model.crf = {choices = [true, false]}                # a TOML dotted key works too
```

Whether a range holds integers or floats follows the setting's type in config.py, not how its bounds are
written: `"train.weight_decay" = {low = 0, high = 0.3}` is a float range. Every bound and every choice is
checked as a value of its setting, so a space cannot propose a config that `bertner train` would refuse on its
own (`"train.warmup_ratio" = {high = 1}` is refused: warmup_ratio must be below 1). Combinations of values
are checked when a trial proposes them.

A search trains each trial with the base config, then the search's *budget* (command-line overrides such as
`--epochs 1 --limit-train 2000`, which may not name a searched setting), then the trial's values. The best
config written at the end is the base config with the best trial's values, without the budget.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bertner.config import Config, DataConfig, ModelConfig, TrainConfig
from bertner.config_files import config_from_dict, read_toml
from bertner.errors import UserError

if TYPE_CHECKING:
    import optuna

__all__ = ["Choice", "Dimension", "Range", "SearchSpace", "load_space", "space_from_dict"]

SEARCH_TABLE = "search"
_RANGE_KEYS = frozenset({"low", "high", "log", "step"})
_CHOICE_KEYS = frozenset({"choices"})
_SECTIONS: dict[str, type] = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig}


@dataclass(frozen=True)
class Range:
    """Values from `low` to `high`, both included: integers when `integer`, else floats.

    `log`: sample uniformly in log space (low must be positive). `step`: only low, low + step, ... (not with log).
    """

    name: str
    low: float
    high: float
    integer: bool
    log: bool = False
    step: float | None = None

    def suggest(self, trial: optuna.Trial) -> Any:
        if self.integer:
            step = int(self.step) if self.step is not None else 1
            return trial.suggest_int(self.name, int(self.low), int(self.high), step=step, log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, step=self.step, log=self.log)

    def to_dict(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"low": self.low, "high": self.high, "log": self.log}
        return spec | ({"step": self.step} if self.step is not None else {})


@dataclass(frozen=True)
class Choice:
    """One of a list of values."""

    name: str
    choices: tuple[Any, ...]

    def suggest(self, trial: optuna.Trial) -> Any:
        return trial.suggest_categorical(self.name, list(self.choices))

    def to_dict(self) -> dict[str, Any]:
        return {"choices": list(self.choices)}


Dimension = Range | Choice


def _nest(flat: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    nested: dict[str, dict[str, Any]] = {}
    for name, value in flat.items():
        section, key = name.split(".")
        nested.setdefault(section, {})[key] = value
    return nested


def _merged(config: Config, *layers: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """`config` as TOML tables with each layer of {"section.key": value} set over it in turn."""
    tables = config.to_dict()
    for layer in layers:
        for section, values in _nest(layer).items():
            tables.setdefault(section, {}).update(values)
    return tables


@dataclass(frozen=True)
class SearchSpace:
    """What a search varies (`dimensions`) over a `base` config, and the `budget` every trial runs with.

    `budget` maps settings ("train.epochs") to values; it never names a searched setting.
    """

    where: str
    base: Config
    dimensions: tuple[Dimension, ...]
    budget: Mapping[str, Any]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(dimension.name for dimension in self.dimensions)

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """Ask the trial for a value of every dimension, in the file's order."""
        return {dimension.name: dimension.suggest(trial) for dimension in self.dimensions}

    def trial_config(self, params: Mapping[str, Any]) -> Config:
        """The config a trial trains with: base, budget, then the trial's values."""
        return config_from_dict(_merged(self.base, self.budget, params), f"{self.where} (trial values {dict(params)})")

    def best_config(self, params: Mapping[str, Any]) -> Config:
        """The base config with a trial's values, without the budget: what to train on the whole corpus."""
        return config_from_dict(_merged(self.base, params), f"{self.where} (trial values {dict(params)})")

    def to_dict(self) -> dict[str, Any]:
        """The space, and every setting of the config a trial starts from ({"train.lr": 1e-4, ...}): what a study
        stores to refuse being continued with another space or base config."""
        start = config_from_dict(_merged(self.base, self.budget), self.where).to_dict()
        return {
            "search": {dimension.name: dimension.to_dict() for dimension in self.dimensions},
            "config": {f"{section}.{key}": value for section, values in start.items() for key, value in values.items()},
        }


def _entries(table: Mapping[str, Any], where: str) -> Iterator[tuple[str, Any]]:
    """("section.key", spec) pairs from quoted dotted keys or TOML dotted keys (nested tables)."""
    for key, value in table.items():
        if "." in key:
            yield key, value
        elif isinstance(value, Mapping) and not set(value) & (_RANGE_KEYS | _CHOICE_KEYS):
            for inner, spec in value.items():
                yield f"{key}.{inner}", spec
        else:
            raise UserError(f'{where}: {key!r} is not a setting; expected section.key, e.g. "train.lr"')


def _field_type(name: str, where: str) -> str:
    """The annotation of the setting `name` ("train.lr" -> "float"); unknown settings are errors."""
    section, _, key = name.partition(".")
    if section not in _SECTIONS or "." in key:
        raise UserError(f"{where}: {name!r} is not a setting; expected one of [{', '.join(_SECTIONS)}] .key")
    known = {f.name: str(f.type) for f in fields(_SECTIONS[section])}
    if key not in known:
        raise UserError(f"{where}: unknown setting {name!r}; [{section}] has {', '.join(sorted(known))}")
    return known[key]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_value(base: Config, name: str, value: Any, where: str) -> None:
    """Refuse a value its setting would refuse in a config file."""
    try:
        config_from_dict(_merged(base, {name: value}), f"{name} = {value!r}")
    except UserError as error:
        raise UserError(f"{where}: {error}") from None


def _range(name: str, spec: Mapping[str, Any], annotation: str, base: Config, where: str) -> Range:
    types = {part.strip() for part in annotation.split("|")}
    if not types & {"int", "float"}:
        raise UserError(f"{where}: {name} is a {annotation} setting; give it {{choices = [...]}}, not a range")
    integer = "float" not in types
    kind = "an integer" if integer else "a number"
    given: dict[str, Any] = {label: spec.get(label) for label in ("low", "high", "step")}
    for label, value in given.items():
        if (value is not None or label != "step") and (
            not _is_number(value) or (integer and not isinstance(value, int))
        ):
            raise UserError(f"{where}: {label} must be {kind}, not {value!r}")
    low, high = float(given["low"]), float(given["high"])
    step = None if given["step"] is None else float(given["step"])
    log = spec.get("log", False)
    if not low < high:
        raise UserError(f"{where}: low ({given['low']}) must be below high ({given['high']})")
    if not isinstance(log, bool):
        raise UserError(f"{where}: log must be true or false, not {log!r}")
    if log and low <= 0:
        raise UserError(f"{where}: a log range needs low > 0, not {given['low']}")
    if step is not None and (log or step <= 0):
        raise UserError(f"{where}: step must be positive and cannot be combined with log")
    for bound in ("low", "high"):
        _check_value(base, name, given[bound], where)
    if integer:
        return Range(name, int(low), int(high), True, log, None if step is None else int(step))
    return Range(name, low, high, False, log, step)


def _choice(name: str, spec: Mapping[str, Any], annotation: str, base: Config, where: str) -> Choice:
    choices = spec["choices"]
    if not isinstance(choices, list) or not choices:
        raise UserError(f"{where}: choices must be a non-empty list of values, not {choices!r}")
    for value in choices:
        if not isinstance(value, str | int | float | bool):
            raise UserError(f"{where}: choices must be strings, numbers or booleans, not {value!r}")
        _check_value(base, name, value, where)
    floats = "float" in annotation
    values = tuple(float(v) if floats and _is_number(v) else v for v in choices)
    if len(set(values)) != len(values):
        raise UserError(f"{where}: choices repeat a value: {choices}")
    return Choice(name, values)


def _dimension(name: str, spec: Any, base: Config, where: str) -> Dimension:
    here = f"{where} [{SEARCH_TABLE}] {name}"
    annotation = _field_type(name, f"{where} [{SEARCH_TABLE}]")
    if not isinstance(spec, Mapping):
        raise UserError(f"{here}: expected {{low = ..., high = ...}} or {{choices = [...]}}, not {spec!r}")
    keys = set(spec)
    if keys <= _CHOICE_KEYS and keys:
        return _choice(name, spec, annotation, base, here)
    if keys <= _RANGE_KEYS and keys:
        return _range(name, spec, annotation, base, here)
    unknown = sorted(keys - _RANGE_KEYS - _CHOICE_KEYS)
    problem = f"unknown keys {unknown}" if unknown else "choices cannot be combined with a range"
    raise UserError(f"{here}: {problem}; expected {{low, high[, log][, step]}} or {{choices}}")


def space_from_dict(
    raw: Mapping[str, Any], where: str = "search space", budget: Mapping[str, Any] | None = None
) -> SearchSpace:
    """Build a SearchSpace from the parsed TOML; `budget` ({"train.epochs": 1, ...}) is set under every trial."""
    raw = dict(raw)
    table = raw.pop(SEARCH_TABLE, None)
    if not isinstance(table, Mapping) or not table:
        raise UserError(
            f'{where}: a search space needs a [{SEARCH_TABLE}] table of settings to search, e.g. "train.lr" = '
            "{low = 1e-5, high = 1e-4, log = true}"
        )
    base = config_from_dict(raw, f"{where} (base config)")
    budget = dict(budget or {})
    for name, value in budget.items():
        _field_type(name, f"{where} (command-line budget)")
        _check_value(base, name, value, f"{where} (command-line budget {name})")
    dimensions: list[Dimension] = []
    for name, spec in _entries(table, f"{where} [{SEARCH_TABLE}]"):
        if any(dimension.name == name for dimension in dimensions):
            raise UserError(f"{where} [{SEARCH_TABLE}]: {name} is given twice")
        if name in budget:
            raise UserError(
                f"{where} [{SEARCH_TABLE}]: {name} is searched, so it cannot also be set on the command line"
            )
        dimensions.append(_dimension(name, spec, base, where))
    return SearchSpace(where, base, tuple(dimensions), budget)


def load_space(path: Path, budget: Mapping[str, Any] | None = None) -> SearchSpace:
    """Read a search space file (see the module docstring); errors name the file and the setting."""
    return space_from_dict(read_toml(path, "search space"), str(path), budget)
