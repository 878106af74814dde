"""Bootstrap interval, paired bootstrap test and mean ± std, against hand computations and known answers."""

from __future__ import annotations

import random
import statistics

import pytest

from bertner.evaluation.metrics import score
from bertner.evaluation.significance import (
    PairedTest,
    bootstrap_f1,
    mean_std,
    paired_bootstrap,
    sentence_counts,
)


def _system(seed: int, sentences: int, miss_rate: float) -> tuple[list[list[str]], list[list[str]]]:
    """Gold sentences with two entities each, and a system that drops each entity with ``miss_rate``."""
    rng = random.Random(seed)
    gold = [["B-PER", "I-PER", "O", "B-LOC", "O"] for _ in range(sentences)]
    predicted = []
    for tags in gold:
        out = list(tags)
        if rng.random() < miss_rate:
            out[0:2] = ["O", "O"]
        if rng.random() < miss_rate:
            out[3] = "B-ORG"
        predicted.append(out)
    return gold, predicted


def test_sentence_counts_hand_computed() -> None:
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["O"], ["B-ORG"]]
    predicted = [["B-PER", "I-PER", "O", "B-ORG"], ["B-MISC"], ["B-ORG"]]
    counts = sentence_counts(gold, predicted)
    assert counts.correct.tolist() == [1, 0, 1]
    assert counts.gold.tolist() == [2, 0, 1]
    assert counts.predicted.tolist() == [2, 1, 1]
    assert counts.f1 == pytest.approx(score(gold, predicted).overall.f1)


def test_interval_contains_point_f1_and_is_deterministic() -> None:
    counts = sentence_counts(*_system(0, 400, 0.2))
    first = bootstrap_f1(counts, samples=500, seed=7)
    assert first.low <= first.f1 <= first.high
    assert first.low < first.high
    assert bootstrap_f1(counts, samples=500, seed=7) == first
    assert bootstrap_f1(counts, samples=500, seed=8) != first
    assert first.to_dict()["samples"] == 500


def test_wider_confidence_gives_a_wider_interval() -> None:
    counts = sentence_counts(*_system(1, 300, 0.2))
    narrow = bootstrap_f1(counts, samples=400, seed=0, confidence=0.5)
    wide = bootstrap_f1(counts, samples=400, seed=0, confidence=0.99)
    assert wide.low <= narrow.low and narrow.high <= wide.high
    assert wide.high - wide.low > narrow.high - narrow.low


def test_perfect_system_has_a_point_interval() -> None:
    gold, _ = _system(0, 50, 0.0)
    interval = bootstrap_f1(sentence_counts(gold, gold), samples=100)
    assert (interval.low, interval.f1, interval.high) == (1.0, 1.0, 1.0)


@pytest.mark.parametrize(("samples", "confidence"), [(0, 0.95), (10, 1.0), (10, 0.0)])
def test_bad_settings(samples: int, confidence: float) -> None:
    counts = sentence_counts(*_system(0, 10, 0.2))
    with pytest.raises(ValueError):
        bootstrap_f1(counts, samples=samples, confidence=confidence)


def test_paired_identical_systems_are_not_significant() -> None:
    counts = sentence_counts(*_system(2, 300, 0.2))
    result = paired_bootstrap(counts, counts, samples=500, seed=0)
    assert result.delta == 0.0
    assert result.p_value == 1.0


def test_paired_clearly_better_system_is_significant_either_way_round() -> None:
    gold, good = _system(3, 500, 0.05)
    _, bad = _system(4, 500, 0.4)
    a, b = sentence_counts(gold, good), sentence_counts(gold, bad)
    result = paired_bootstrap(a, b, samples=1000, seed=0)
    assert result.delta > 0.2
    assert result.p_value < 0.01
    reverse = paired_bootstrap(b, a, samples=1000, seed=0)
    assert reverse.delta == pytest.approx(-result.delta)
    assert reverse.p_value < 0.01
    # No resample of 1,000 reverses a 20-point lead: the p-value is only known to be below 1/1000.
    assert result.p_value == 0.0 and result.p_text() == "p < 0.001"


def test_a_nonzero_p_value_is_printed_as_is() -> None:
    result = PairedTest(f1_a=0.9, f1_b=0.89, delta=0.01, p_value=0.023, samples=1000, seed=0)
    assert result.p_text() == "p = 0.0230"


def test_paired_slightly_different_systems_are_not_significant() -> None:
    # Same gold, same miss rate, different random misses: any difference is noise.
    gold, one = _system(5, 200, 0.2)
    _, other = _system(6, 200, 0.2)
    result = paired_bootstrap(sentence_counts(gold, one), sentence_counts(gold, other), samples=1000, seed=0)
    assert result.p_value > 0.05


def test_paired_needs_the_same_sentences() -> None:
    gold, predicted = _system(0, 20, 0.2)
    with pytest.raises(ValueError, match="same sentences"):
        paired_bootstrap(sentence_counts(gold, predicted), sentence_counts(gold[:10], predicted[:10]))


def test_mean_std_matches_statistics() -> None:
    values = [0.912, 0.905, 0.918, 0.909]
    result = mean_std(values)
    assert result.mean == pytest.approx(statistics.mean(values))
    assert result.std == pytest.approx(statistics.stdev(values))
    assert result.n == 4
    assert result.format() == f"{statistics.mean(values) * 100:.2f} ± {statistics.stdev(values) * 100:.2f} (n=4)"
    assert mean_std([0.9]).std == 0.0
    assert mean_std([0.9]).format() == "90.00 (n=1)"  # one run has no spread to show
    with pytest.raises(ValueError):
        mean_std([])
    with pytest.raises(ValueError):
        mean_std([float("nan")])
