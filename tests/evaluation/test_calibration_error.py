"""Expected calibration error and reliability bins against hand computations."""

from __future__ import annotations

import pytest

from bertner.evaluation.calibration import entity_outcomes, reliability, reliability_png
from bertner.evaluation.spans import Entity


def test_ece_over_15_bins_matches_a_hand_computation() -> None:
    scores = [0.05, 0.1, 0.5, 0.52, 0.95, 1.0]
    correct = [False, True, True, False, True, True]
    result = reliability(scores, correct)
    # bins of width 1/15: 0.05 -> 0, 0.1 -> 1, 0.5 and 0.52 -> 7, 0.95 and 1.0 -> 14 (1.0 in the last bin)
    filled = {index: b for index, b in enumerate(result.bins) if b.count}
    assert sorted(filled) == [0, 1, 7, 14]
    assert [filled[i].count for i in (0, 1, 7, 14)] == [1, 1, 2, 2]
    assert filled[7].mean_score == pytest.approx(0.51)
    assert filled[7].accuracy == 0.5
    assert filled[14].mean_score == pytest.approx(0.975)
    assert filled[14].accuracy == 1.0
    # (1 * |0 - 0.05| + 1 * |1 - 0.1| + 2 * |0.5 - 0.51| + 2 * |1 - 0.975|) / 6
    assert result.ece == pytest.approx((0.05 + 0.9 + 0.02 + 0.05) / 6)
    assert result.count == 6
    assert result.accuracy == pytest.approx(4 / 6)
    assert len(result.bins) == 15
    assert result.bins[3].lower == pytest.approx(0.2) and result.bins[3].upper == pytest.approx(4 / 15)
    assert result.bins[3].mean_score is None and result.bins[3].accuracy is None


def test_perfectly_calibrated_bins_have_no_error_and_empty_input_is_zero() -> None:
    assert reliability([0.5, 0.5, 1.0], [True, False, True]).ece == 0.0
    empty = reliability([], [])
    assert (empty.ece, empty.count, empty.accuracy) == (0.0, 0, None)
    assert reliability([0.3], [True], bins=2).to_dict()["bins"][0] == {
        "lower": 0.0,
        "upper": 0.5,
        "count": 1,
        "mean_score": 0.3,
        "accuracy": 1.0,
    }


def test_bad_input_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="score 1 is 1.2, not a probability"):
        reliability([0.5, 1.2], [True, True])
    with pytest.raises(ValueError, match="2 scores but 1 outcomes"):
        reliability([0.5, 0.5], [True])
    with pytest.raises(ValueError, match="bins must be at least 1"):
        reliability([0.5], [True], bins=0)


def test_an_entity_is_correct_when_its_span_and_type_are_gold() -> None:
    gold = [[Entity(0, 2, "PER"), Entity(3, 4, "LOC")], []]
    predicted = [[Entity(0, 2, "PER"), Entity(3, 4, "ORG"), Entity(0, 1, "PER")], [Entity(1, 2, "LOC")]]
    assert entity_outcomes(gold, predicted) == [[True, False, False], [False]]
    with pytest.raises(ValueError, match="gold has 2 sentences, the predictions 1"):
        entity_outcomes(gold, predicted[:1])


def test_the_reliability_diagram_is_a_png() -> None:
    pytest.importorskip("matplotlib")
    before = reliability([0.95, 0.9, 0.2, 0.6], [True, False, False, True])
    after = reliability([0.7, 0.6, 0.1, 0.6], [True, False, False, True])
    png = reliability_png([("before", before), ("after", after)])
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(ValueError, match="at least one panel"):
        reliability_png([])
