"""Fitting a temperature (decoding/temperature.py) on a labelled set so that entity scores are probabilities.

What is fitted: the temperature that minimises the log loss of *entity correctness*,

    - sum over predicted entities e of [c_e log s_e(T) + (1 - c_e) log(1 - s_e(T))],

where the entities are those the raw scores decode to (a calibration never changes them), s_e(T) is an
entity's probability at temperature T (decoding/entities.py) and c_e whether it is among the gold entities.
Why entities and not gold word tags: the scores users threshold, and the target metric (entity-level ECE,
evaluation/calibration.py), are about predicted entities; a word-level fit spends its effort on the O words
that make up most of a corpus, and on tags that no predicted entity is made of. The log loss rather than the
ECE itself because it is smooth in T and a proper scoring rule: its minimiser is the calibrated temperature
when one exists (the tests recover a known one), while the binned ECE is piecewise constant.

The search is 1-D and bounded, on log T: a coarse grid, then golden-section search around its best point
(numpy only). Per-type temperatures, if asked for, start from the global one and are fitted one type at a
time, each over the same bounds, keeping the others fixed; they are kept only if they lower the log loss. A
type with fewer than MIN_PER_TYPE predicted entities keeps the global temperature: a handful of entities
would drive its own to a bound.

With `isotonic`, a score map (decoding/temperature.py) is fitted last: scikit-learn's isotonic regression of the
entities' correctness on their probabilities at the fitted temperatures (the pool-adjacent-violators fit of the
non-decreasing map that minimises the squared error; Zadrozny & Elkan 2002), its knots saved with the
temperatures. It is fitted in-sample, so the `ece_after` it records on the same entities flatters it (close to 0):
`bertner calibrate` replaces it by a held-out one (inference/calibrate.py), bench/calibration.py --isotonic
measures the map on other data.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np

from bertner.decoding.entities import EntityTags, entities_of, entity_probabilities
from bertner.decoding.temperature import Calibration
from bertner.decoding.words import WordScores, decode_words
from bertner.evaluation.calibration import entity_outcomes, reliability
from bertner.evaluation.spans import Entity
from bertner.labels import Scheme

BOUNDS = (0.05, 20.0)
"""The temperatures searched: from 20x sharper to 20x softer."""
MIN_PER_TYPE = 100
"""The fewest predicted entities of a type for it to get a temperature of its own."""

_EPSILON = 1e-12
_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


def fit_calibration(
    scores: WordScores,
    gold: Sequence[Sequence[Entity]],
    labels: Sequence[str],
    fitted_on: str,
    scheme: Scheme = Scheme.IOB2,
    per_type: bool = False,
    bounds: tuple[float, float] = BOUNDS,
    batch_size: int = 64,
    isotonic: bool = False,
) -> Calibration:
    """The temperature (and per-type temperatures if `per_type`) that calibrates `scores`' entity scores.

    Args:
        scores: the raw scores of a labelled set's sentences (any model: one, an ensemble, with or without CRF).
        gold: the gold entities of each sentence (IOB2 entities, as evaluation reads them).
        labels: the model's tags in label id order; `scheme` is theirs.
        fitted_on: recorded in the result, e.g. the data file's path.
        bounds: the lowest and highest temperature searched.
        isotonic: also fit a score map after the temperatures (see the module; needs scikit-learn).

    Raises:
        ValueError: when the sentences of `gold` and `scores` differ in number, or nothing is predicted.
    """
    low, high = bounds
    if not 0 < low < high:
        raise ValueError(f"bounds must be 0 < low < high, got {bounds}")
    if len(gold) != scores.num_sentences:
        raise ValueError(f"gold entities for {len(gold)} sentences, scores for {scores.num_sentences}")
    predicted = entities_of(decode_words(scores, batch_size).label_ids, labels, scheme)
    correct = np.array([c for row in entity_outcomes(gold, predicted) for c in row], dtype=bool)
    if not len(correct):
        raise ValueError(f"{fitted_on}: the model predicts no entity there, so there is nothing to calibrate on")
    # Only sentences with a predicted entity matter: score those alone at each step of the search.
    wanted = [index for index, found in enumerate(predicted) if found]
    sentences = scores.sentences()
    subset = _subset(scores, sentences, wanted)
    found = [predicted[index] for index in wanted]
    tags = EntityTags.from_labels(labels)

    def loss(calibration: Calibration) -> float:
        return _log_loss(_probabilities(calibration.apply(subset, labels), found, tags, batch_size), correct)

    best = Calibration(temperature=_search(lambda t: loss(Calibration(temperature=t)), low, high))
    if per_type:
        counts = Counter(entity.type for row in found for entity in row)
        types = [entity_type for entity_type in tags.types if counts[entity_type] >= MIN_PER_TYPE]
        best = _fit_per_type(best, types, loss, low, high)
    before = reliability(_probabilities(subset, found, tags, batch_size), correct).ece
    at_temperature = _probabilities(best.apply(subset, labels), found, tags, batch_size)
    score_map = isotonic_map(at_temperature, correct) if isotonic else None
    mapped = Calibration(score_map=score_map).map_scores(at_temperature)
    after = reliability(mapped, correct).ece
    return Calibration(
        temperature=best.temperature,
        per_type=best.per_type,
        score_map=score_map,
        fitted_on=fitted_on,
        n=len(correct),
        ece_before=before,
        ece_after=after,
    )


def isotonic_map(probabilities: np.ndarray, correct: np.ndarray) -> tuple[tuple[float, float], ...]:
    """Knots (score, probability) of the isotonic regression of `correct` on `probabilities` (both (entities,)).

    Raises:
        ValueError: scikit-learn is not installed.
    """
    try:
        from sklearn.isotonic import IsotonicRegression
    except ImportError as error:
        raise ValueError("an isotonic score map needs scikit-learn: pip install scikit-learn") from error
    fitted = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
    fitted.fit(np.asarray(probabilities, dtype=np.float64), np.asarray(correct, dtype=np.float64))
    knots: list[tuple[float, float]] = []
    for x, y in zip(fitted.X_thresholds_, fitted.y_thresholds_, strict=True):
        if knots and x <= knots[-1][0]:  # a tie of scores: one knot, at the higher probability (never decreasing)
            knots[-1] = (knots[-1][0], max(knots[-1][1], float(y)))
        else:
            knots.append((float(x), float(y)))
    return tuple(knots)


def _fit_per_type(
    start: Calibration, types: Sequence[str], loss: Callable[[Calibration], float], low: float, high: float
) -> Calibration:
    """One pass of coordinate search over the types' temperatures, from the global one; `start` if no better."""
    if not types:
        return start
    per_type = dict.fromkeys(types, start.temperature)
    for entity_type in types:

        def with_type(t: float, entity_type: str = entity_type) -> float:
            return loss(Calibration(temperature=start.temperature, per_type={**per_type, entity_type: t}))

        per_type[entity_type] = _search(with_type, low, high)
    candidate = Calibration(temperature=start.temperature, per_type=per_type)
    return candidate if loss(candidate) < loss(start) else start


def _subset(scores: WordScores, sentences: Sequence[np.ndarray], wanted: Sequence[int]) -> WordScores:
    """The scores of the sentences `wanted`, in that order."""
    counts = [len(sentences[index]) for index in wanted]
    offsets = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)]).astype(np.int64)
    rows = [sentences[index] for index in wanted]
    logits = np.concatenate(rows) if rows else np.zeros((0, scores.num_labels), dtype=scores.logits.dtype)
    return WordScores(logits, offsets, scores.crf)


def _probabilities(
    scores: WordScores, entities: Sequence[Sequence[Entity]], tags: EntityTags, batch_size: int
) -> np.ndarray:
    """(entities,) float64: every entity's probability, sentence after sentence."""
    rows = entity_probabilities(scores, entities, tags, batch_size)
    return np.array([p for row in rows for p in row], dtype=np.float64)


def _log_loss(probabilities: np.ndarray, correct: np.ndarray) -> float:
    """The mean binary log loss of `correct` under `probabilities` (clipped away from 0 and 1)."""
    clipped = np.clip(probabilities, _EPSILON, 1.0 - _EPSILON)
    return float(-np.mean(np.where(correct, np.log(clipped), np.log1p(-clipped))))


def _search(function: Callable[[float], float], low: float, high: float, grid: int = 13, steps: int = 16) -> float:
    """The temperature in [low, high] that minimises `function`: a grid over log T, then golden-section search
    between the grid points beside the grid's best (to about 0.1% of T)."""
    points = np.linspace(math.log(low), math.log(high), grid)
    values = [function(math.exp(x)) for x in points]
    best = int(np.argmin(values))
    a, b = points[max(best - 1, 0)], points[min(best + 1, grid - 1)]
    best_x, best_value = float(points[best]), values[best]
    c, d = b - _GOLDEN * (b - a), a + _GOLDEN * (b - a)
    fc, fd = function(math.exp(c)), function(math.exp(d))
    for _ in range(steps):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - _GOLDEN * (b - a)
            fc = function(math.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + _GOLDEN * (b - a)
            fd = function(math.exp(d))
    for x, value in ((c, fc), (d, fd)):
        if value < best_value:
            best_x, best_value = x, value
    return math.exp(best_x)
