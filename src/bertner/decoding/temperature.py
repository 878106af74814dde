"""A temperature that turns a model's scores into calibrated probabilities, saved beside the model.

A temperature T divides a sentence's whole path score: P_T(y) is proportional to exp(score(y) / T). Without
a CRF that is the word softmax of logits / T; with one, the emissions and the CRF's start, end and transition
scores are all divided by T, so the best path is the same at every T (Viterbi's argmax does not move under a
positive scale) while the probabilities sharpen (T < 1) or soften (T > 1). Tags are always decoded from the
raw scores: a calibration changes scores, never entities.

Per-type temperatures, where fitted, divide the emission columns of each type's labels (B-T, I-T, ...) by
that type's temperature, and everything else (the O column, the CRF's scores) by the global T.

How a temperature is fitted, and on what, is decoding/calibration.py's concern.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bertner.decoding.words import WordScores
from bertner.files import read_json, write_text_atomic
from bertner.labels import OUTSIDE, split_tag

CALIBRATION_FORMAT = 1


@dataclass(frozen=True)
class Calibration:
    """A fitted temperature (the identity when T = 1 and no per-type temperature), with how it was fitted."""

    temperature: float = 1.0
    per_type: Mapping[str, float] | None = field(default=None)
    """Each entity type's own temperature for its labels' emission columns, or None for the global one alone."""
    fitted_on: str | None = None
    """What it was fitted on, e.g. a data file or `valid split of <run>`."""
    n: int = 0
    """How many predicted entities it was fitted on."""
    ece_before: float | None = None
    """Entity-level expected calibration error (15 bins) on `fitted_on` at T = 1."""
    ece_after: float | None = None
    """The same with this calibration."""

    def __post_init__(self) -> None:
        _check_temperature("temperature", self.temperature)
        if self.per_type is not None:
            for entity_type, value in self.per_type.items():
                _check_temperature(f"per_type[{entity_type!r}]", value)
            object.__setattr__(self, "per_type", dict(self.per_type))

    @property
    def is_identity(self) -> bool:
        return self.temperature == 1.0 and not any(value != 1.0 for value in (self.per_type or {}).values())

    def describe(self) -> str:
        """`T = 1.23`, with each per-type temperature where there are some: `T = 1.23 (LOC 1.10, PER 0.95)`."""
        per_type = ", ".join(f"{name} {value:.3g}" for name, value in sorted((self.per_type or {}).items()))
        return f"T = {self.temperature:.3g}" + (f" ({per_type})" if per_type else "")

    def column_temperatures(self, labels: Sequence[str]) -> np.ndarray:
        """(num_labels,) float64: the temperature that divides each label's emission column."""
        per_type = self.per_type or {}
        out = np.full(len(labels), self.temperature, dtype=np.float64)
        for index, label in enumerate(labels):
            prefix, entity_type = split_tag(label)
            if prefix != OUTSIDE and entity_type in per_type:
                out[index] = per_type[entity_type]
        return out

    def apply(self, scores: WordScores, labels: Sequence[str]) -> WordScores:
        """`scores` (of a model whose label ids name `labels`) with this calibration applied (see the module)."""
        if len(labels) != scores.num_labels:
            raise ValueError(f"{len(labels)} labels for scores of {scores.num_labels}")
        if self.is_identity:
            return scores
        temperatures = self.column_temperatures(labels)
        # (all words, num_labels), in the scores' precision
        logits = (scores.logits / temperatures.astype(scores.logits.dtype)).astype(scores.logits.dtype)
        chain = None if scores.crf is None else scores.crf.scaled(1.0 / self.temperature)
        return WordScores(logits, scores.offsets, chain)

    def to_dict(self) -> dict[str, Any]:
        return {"format": CALIBRATION_FORMAT, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, values: Any, where: str) -> Calibration:
        """The calibration `to_dict` wrote; ValueError naming `where` and the field for anything else."""
        if not isinstance(values, dict):
            raise ValueError(f"{where}: a calibration must be a JSON object, got {type(values).__name__}")
        if values.get("format") != CALIBRATION_FORMAT:
            found = values.get("format")
            raise ValueError(f"{where}: unknown calibration format {found!r}, expected {CALIBRATION_FORMAT}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names - {"format"})
        if unknown:
            raise ValueError(f"{where}: unknown calibration fields {unknown}")
        checks = {
            "temperature": lambda v: _is_number(v),
            "per_type": lambda v: v is None or (isinstance(v, dict) and all(_is_number(x) for x in v.values())),
            "fitted_on": lambda v: v is None or isinstance(v, str),
            "n": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
            "ece_before": lambda v: v is None or _is_number(v),
            "ece_after": lambda v: v is None or _is_number(v),
        }
        for name, check in checks.items():
            if name in values and not check(values[name]):
                raise ValueError(f"{where}: calibration field {name!r} has a bad value {values[name]!r}")
        try:
            return cls(**{name: values[name] for name in names if name in values})
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from error


def write_calibration(path: Path, calibration: Calibration) -> None:
    """Write `calibration` as JSON to `path` (a model folder's calibration file), atomically."""
    write_text_atomic(path, json.dumps(calibration.to_dict(), indent=2) + "\n")


def read_calibration(path: Path) -> Calibration | None:
    """The calibration saved at `path`, or None when there is no such file (a model never calibrated)."""
    if not path.is_file():
        return None
    return Calibration.from_dict(read_json(path, "the calibration"), str(path))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_temperature(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
