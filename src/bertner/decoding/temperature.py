"""A temperature that turns a model's scores into calibrated probabilities, saved beside the model.

A temperature T divides a sentence's whole path score: P_T(y) is proportional to exp(score(y) / T). Without
a CRF that is the word softmax of logits / T; with one, the emissions and the CRF's start, end and transition
scores are all divided by T, so the best path is the same at every T (Viterbi's argmax does not move under a
positive scale) while the probabilities sharpen (T < 1) or soften (T > 1). Tags are always decoded from the
raw scores: a calibration changes scores, never entities.

Per-type temperatures, where fitted, divide the emission columns of each type's labels (B-T, I-T, ...) by
that type's temperature, and everything else (the O column, the CRF's scores) by the global T.

A calibration may also hold a score map: knots (score, probability) of a monotone map that each entity's
probability at the temperatures goes through last (linear between knots, flat beyond them; `bertner calibrate
--isotonic` fits it by isotonic regression). A temperature can only sharpen or soften every score alike; the
map can bend, where a model is, say, right about its 0.6 entities less often than about its 0.8 ones would
suggest. Being monotone, it never reorders entities, and it too leaves the tags alone.

How a calibration is fitted, and on what, is decoding/calibration.py's concern.
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
    score_map: tuple[tuple[float, float], ...] | None = None
    """Knots (score, probability) of the monotone map entity scores go through last (see the module): scores
    strictly increasing, probabilities never decreasing, all in [0, 1]. None: no map."""
    fitted_on: str | None = None
    """What it was fitted on, e.g. a data file or `valid split of <run>`."""
    n: int = 0
    """How many predicted entities it was fitted on."""
    ece_before: float | None = None
    """Entity-level expected calibration error (15 bins) on `fitted_on` at T = 1."""
    ece_after: float | None = None
    """The same with this calibration (in-sample; with a score map, held out when `bertner calibrate` fitted it)."""

    def __post_init__(self) -> None:
        _check_temperature("temperature", self.temperature)
        if self.per_type is not None:
            for entity_type, value in self.per_type.items():
                _check_temperature(f"per_type[{entity_type!r}]", value)
            object.__setattr__(self, "per_type", dict(self.per_type))
        if self.score_map is not None:
            object.__setattr__(self, "score_map", _checked_map(self.score_map))

    @property
    def scales(self) -> bool:
        """Whether a temperature differs from 1 (the scores are divided before entity probabilities are taken)."""
        return self.temperature != 1.0 or any(value != 1.0 for value in (self.per_type or {}).values())

    @property
    def is_identity(self) -> bool:
        return not self.scales and self.score_map is None

    def map_scores(self, probabilities: Sequence[float]) -> list[float]:
        """Entity probabilities at the temperatures, through the score map (unchanged without one)."""
        if self.score_map is None:
            return [float(p) for p in probabilities]
        knots = np.asarray(self.score_map, dtype=np.float64)
        return [float(p) for p in np.interp(np.asarray(probabilities, dtype=np.float64), knots[:, 0], knots[:, 1])]

    def describe(self) -> str:
        """`T = 1.23`, with each per-type temperature where there are some: `T = 1.23 (LOC 1.10, PER 0.95)`."""
        per_type = ", ".join(f"{name} {value:.3g}" for name, value in sorted((self.per_type or {}).items()))
        mapped = f" + isotonic map ({len(self.score_map)} knots)" if self.score_map is not None else ""
        return f"T = {self.temperature:.3g}" + (f" ({per_type})" if per_type else "") + mapped

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
        if not self.scales:
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
            "score_map": lambda v: (
                v is None
                or (
                    isinstance(v, list)
                    and all(isinstance(k, list) and len(k) == 2 and all(map(_is_number, k)) for k in v)
                )
            ),
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


def _checked_map(knots: Sequence[Sequence[float]]) -> tuple[tuple[float, float], ...]:
    """`knots` as a tuple of (score, probability) pairs, or ValueError naming the first knot that breaks a rule."""
    pairs = tuple((float(x), float(y)) for x, y in knots)
    if not pairs:
        raise ValueError("score_map must have at least one knot, or be None")
    for index, (x, y) in enumerate(pairs):
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise ValueError(f"score_map knot {index} is ({x}, {y}): both must be in [0, 1]")
        if index and x <= pairs[index - 1][0]:
            raise ValueError(f"score_map knot {index}: scores must increase, {x} follows {pairs[index - 1][0]}")
        if index and y < pairs[index - 1][1]:
            raise ValueError(
                f"score_map knot {index}: probabilities must not decrease, {y} follows {pairs[index - 1][1]}"
            )
    return pairs


def _check_temperature(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
