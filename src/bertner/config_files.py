"""Config files: a Config read from TOML (defaults, then the file, then flags) and written into each run folder.

TOML has no null, so None is spelled `"none"` (NONE) for the keys whose type allows it; a run folder's
`bertner.toml` is read back as it was trained (SAVED_WITHOUT_KEY for the keys older records lack).
"""

from __future__ import annotations

import ast
import dataclasses
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any

import tomli_w

from bertner.config import ENCODER_DEFAULTS, NONE, Config, DataConfig, ModelConfig, TrainConfig, validate
from bertner.distill_config import DistillConfig
from bertner.errors import UserError
from bertner.files import write_text_atomic
from bertner.layout import CONFIG_FILENAME

_SECTIONS: dict[str, type] = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig, "distill": DistillConfig}


_TYPES: dict[str, tuple[type, ...]] = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,)}
_STRINGS = "tuple[str, ...]"
_NUMBERS = "tuple[float, ...]"


def _check_type(key: str, value: Any, annotation: str, where: str) -> None:
    """Reject a value of the wrong type: `bf16 = "false"` would otherwise be true, `max_length = "256"` a crash."""
    allowed = [name.strip() for name in annotation.split("|")]
    # A Literal["auto"] member accepts exactly that string (and is named as 'auto' in the message).
    literals = [ast.literal_eval(name[len("Literal[") : -1]) for name in allowed if name.startswith("Literal[")]
    allowed = [name for name in allowed if not name.startswith("Literal[")] + [repr(v) for v in literals]
    checked = [name for name in allowed if name in _TYPES]
    if not checked or (value is None and "None" in allowed) or (isinstance(value, str) and value in literals):
        return
    # bool is a subclass of int, but `epochs = true` is a mistake, not 1.
    if not any(isinstance(value, _TYPES[name]) and (name == "bool" or not isinstance(value, bool)) for name in checked):
        raise UserError(f"{where}: {key} must be {' or '.join(allowed)}, not {value!r}")


def _section_from_dict(cls: type, values: dict[str, Any], where: str) -> Any:
    known = {f.name: f for f in fields(cls)}
    for key, value in values.items():
        if key not in known:
            raise UserError(f"{where}: unknown key {key!r}; expected one of {sorted(known)}")
        expected = known[key].type
        if value == NONE and isinstance(expected, str) and "None" in expected.split(" | "):
            values[key] = value = None
        if expected == _STRINGS:
            # TOML has arrays, not tuples; a tuple keeps the frozen config hashable and comparable.
            if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
                raise UserError(f"{where}: {key} must be a list of strings, not {value!r}")
            values[key] = tuple(value)
        elif expected == _NUMBERS:
            numbers = isinstance(value, list | tuple) and all(
                isinstance(item, int | float) and not isinstance(item, bool) for item in value
            )
            if not numbers:
                raise UserError(f"{where}: {key} must be a list of numbers, not {value!r}")
            values[key] = tuple(float(item) for item in value)
        elif isinstance(expected, str):
            _check_type(key, value, expected, where)
            if "float" in expected and isinstance(value, int):
                values[key] = float(value)
    return cls(**{**dataclasses.asdict(cls()), **values})


def _under(raw: dict[str, Any], values: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """`raw` ({section: {key: value}}) with `values` filling the keys it does not give."""
    merged = dict(raw)
    for name, section_values in values.items():
        section = raw.get(name, {})
        if isinstance(section, dict):  # anything else is refused by config_from_dict, naming the section
            merged[name] = {**section_values, **section}
    return merged


def config_from_dict(raw: dict[str, Any], where: str = "config") -> Config:
    """Build a Config from nested dicts (as read from TOML); unknown sections or keys are errors.

    Keys not given take the defaults of the encoder named in [model] (ENCODER_DEFAULTS), then the dataclasses'.
    """
    model = raw.get("model", {})
    encoder = model.get("encoder", ModelConfig.encoder) if isinstance(model, dict) else None
    raw = _under(raw, ENCODER_DEFAULTS.get(encoder, {}) if isinstance(encoder, str) else {})
    sections: dict[str, Any] = {}
    for name, values in raw.items():
        if name not in _SECTIONS:
            raise UserError(f"{where}: unknown section [{name}]; expected one of {sorted(_SECTIONS)}")
        if not isinstance(values, dict):
            raise UserError(f"{where}: [{name}] must be a table")
        sections[name] = _section_from_dict(_SECTIONS[name], dict(values), f"{where} [{name}]")
    config = Config(**sections)
    try:
        validate(config)
    except UserError as error:
        raise UserError(f"{where}: {error}") from None
    return config


def read_toml(path: Path, what: str = "config") -> dict[str, Any]:
    """A TOML file as dicts; an unreadable or invalid file is a UserError naming the path."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise UserError(f"{path}: not valid TOML: {error}") from error
    except UnicodeDecodeError as error:
        raise UserError(f"{path}: not valid UTF-8 (byte {error.start}), so not TOML") from error
    except OSError as error:
        raise UserError(f"{path}: cannot read {what}: {error.strerror}") from error


def load_config(path: Path | None, overrides: dict[str, dict[str, Any]] | None = None) -> Config:
    """Defaults, then the TOML file at `path` (if any), then `overrides` ({section: {key: value}})."""
    raw: dict[str, Any] = read_toml(path) if path is not None else {}
    for section, values in (overrides or {}).items():
        raw.setdefault(section, {}).update({k: v for k, v in values.items() if v is not None})
    return config_from_dict(raw, where=str(path) if path else "config")


def save_config(config: Config, run_dir: Path) -> Path:
    """Write `bertner.toml` into `run_dir` through a temporary file renamed over it: never half a file."""
    path = run_dir / CONFIG_FILENAME
    write_text_atomic(path, tomli_w.dumps(config.to_dict()))
    return path


SAVED_WITHOUT_KEY: dict[str, dict[str, Any]] = {
    "model": {"case_features": False, "crf": False},
    "train": {"bf16": False, "crf_lr": None},
    "distill": {"transfer_copies": 0.0},
}
"""What a saved run's missing keys mean: it was written before the key existed, so it was trained without the
feature, whatever today's default (since 2026-11-30 the defaults turn these on; `bertner distill` makes a
transfer set by default since 2026-12-06). A run saved before 2026-12-06
dropped a key whose value was None; crf_lr has existed as long as the CRF, so a record without it had None
(its default until 2026-11-30). Every other key that may be None defaults to None. Records written since keep
every key (Config.to_dict)."""


def read_saved_config(run_dir: Path) -> Config:
    """The config a run folder was trained with (`bertner.toml`); a key it lacks takes SAVED_WITHOUT_KEY's value,
    else the default."""
    path = run_dir / CONFIG_FILENAME
    return config_from_dict(_under(read_toml(path), SAVED_WITHOUT_KEY), where=str(path))
