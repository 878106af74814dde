"""Fitting a temperature recovers the one a known miscalibrated model was made with; the calibration file."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from chain_oracle import IOB2_LABELS, iob2_constraints, path_probabilities, random_chain

from bertner.data.conll import Sentence
from bertner.decoding.calibration import fit_calibration, isotonic_map
from bertner.decoding.chain import LinearChain
from bertner.decoding.entities import score_entities
from bertner.decoding.temperature import Calibration, read_calibration, write_calibration
from bertner.decoding.words import WordScores
from bertner.evaluation.calibration import reliability
from bertner.evaluation.spans import Entity, chunks
from bertner.inference.calibrate import MIN_MAP_ENTITIES, fit_model
from bertner.labels import Scheme


def true_logits(sentences: int, words: int, seed: int) -> np.ndarray:
    """(sentences * words, 5) logits of a 'true' model: mostly O, with entities now and then."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 1.5, (sentences * words, len(IOB2_LABELS)))
    logits[:, 0] += 1.0
    return logits


def gold_of(tags: np.ndarray, words: int) -> list[list[Entity]]:
    return [chunks([IOB2_LABELS[i] for i in row]) for row in tags.reshape(-1, words)]


def word_scores(logits: np.ndarray, words: int, chain: LinearChain | None = None) -> WordScores:
    offsets = np.arange(0, len(logits) + 1, words, dtype=np.int64)
    return WordScores(logits.astype(np.float32), offsets, chain)


@pytest.mark.parametrize("t0", [2.0, 0.5])
def test_without_a_crf_the_fitted_temperature_is_the_one_the_logits_were_scaled_by(t0: float) -> None:
    words = 6
    logits = true_logits(1000, words, seed=int(10 * t0))
    rng = np.random.default_rng(1)
    # Gold tags drawn word by word from the true softmax; the model reports the true logits times t0.
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    tags = (rng.random((len(p), 1)) > p.cumsum(axis=1)).sum(axis=1)
    fitted = fit_calibration(word_scores(t0 * logits, words), gold_of(tags, words), IOB2_LABELS, "synthetic")
    assert fitted.temperature == pytest.approx(t0, rel=0.1)
    assert fitted.ece_after < fitted.ece_before
    assert fitted.n > 1000
    assert fitted.fitted_on == "synthetic"


def test_with_a_crf_the_fitted_temperature_is_the_one_the_path_scores_were_scaled_by() -> None:
    t0, words = 2.0, 4
    allowed, start = iob2_constraints(IOB2_LABELS)
    chain = random_chain(5, seed=2, allowed=allowed, start=start)
    logits = true_logits(800, words, seed=3)
    rng = np.random.default_rng(4)
    tags = []
    # Gold paths drawn from the true CRF's distribution over every path (an exact sampler by enumeration).
    for emissions in logits.reshape(-1, words, 5):
        paths, probabilities = path_probabilities(chain, emissions)
        tags.append(paths[rng.choice(len(paths), p=probabilities)])
    scores = word_scores(t0 * logits, words, chain.scaled(t0))
    fitted = fit_calibration(scores, gold_of(np.array(tags), words), IOB2_LABELS, "synthetic crf")
    assert fitted.temperature == pytest.approx(t0, rel=0.1)
    assert fitted.ece_after < fitted.ece_before


def sampled(words: int) -> tuple[np.ndarray, np.ndarray]:
    """True logits of 1,000 sentences and gold tags drawn word by word from their softmax."""
    logits = true_logits(1000, words, seed=5)
    rng = np.random.default_rng(6)
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return logits, (rng.random((len(p), 1)) > p.cumsum(axis=1)).sum(axis=1)


def test_per_type_temperatures_follow_each_type_s_own_miscalibration() -> None:
    words = 6
    logits, tags = sampled(words)
    # LOC's columns (1, 2) overconfident, PER's (3, 4) underconfident
    reported = logits * np.array([1.0, 3.0, 3.0, 0.6, 0.6])
    scores = word_scores(reported, words)
    gold = gold_of(tags, words)
    fitted = fit_calibration(scores, gold, IOB2_LABELS, "synthetic", per_type=True)
    assert fitted.per_type is not None
    assert fitted.per_type["LOC"] > fitted.per_type["PER"]
    assert fitted.ece_after < fitted.ece_before
    # Too few entities of each type for temperatures of their own: the global one alone.
    few = word_scores(reported[: 30 * words], words)
    assert fit_calibration(few, gold[:30], IOB2_LABELS, "synthetic", per_type=True).per_type is None


def test_the_isotonic_map_recovers_a_known_curve_that_no_temperature_is() -> None:
    # Entities right with probability p ** 3 when scored p: the oracle is the curve itself.
    rng = np.random.default_rng(11)
    scores = rng.random(40_000)
    correct = rng.random(len(scores)) < scores**3
    knots = np.array(isotonic_map(scores, correct))
    assert np.all(np.diff(knots[:, 0]) > 0) and np.all(np.diff(knots[:, 1]) >= 0)
    grid = np.array([0.2, 0.5, 0.7, 0.9])
    np.testing.assert_allclose(np.interp(grid, knots[:, 0], knots[:, 1]), grid**3, atol=0.04)


def test_an_isotonic_map_after_the_temperature_lowers_the_ece_it_leaves() -> None:
    words = 6
    logits, tags = sampled(words)
    # LOC overconfident, PER underconfident: one temperature cannot fix both, a map of the scores can do more
    scores = word_scores(logits * np.array([1.0, 3.0, 3.0, 0.6, 0.6]), words)
    gold = gold_of(tags, words)
    plain = fit_calibration(scores, gold, IOB2_LABELS, "synthetic")
    mapped = fit_calibration(scores, gold, IOB2_LABELS, "synthetic", isotonic=True)
    assert plain.score_map is None and mapped.score_map is not None
    assert mapped.temperature == plain.temperature  # the map comes after the same temperature
    assert mapped.ece_after < plain.ece_after
    assert mapped.describe().endswith(f"+ isotonic map ({len(mapped.score_map)} knots)")


def test_calibrate_records_the_map_s_ece_on_documents_it_was_not_fitted_on() -> None:
    words = 6
    logits, tags = sampled(words)
    scores = word_scores(logits * np.array([1.0, 3.0, 3.0, 0.6, 0.6]), words)
    gold = gold_of(tags, words)
    rows = tags.reshape(-1, words)
    sentences = [  # 100 documents of 10 sentences
        Sentence(words=("w",) * words, tags=tuple(IOB2_LABELS[i] for i in row), document=n // 10)
        for n, row in enumerate(rows)
    ]
    model = SimpleNamespace(labels=SimpleNamespace(tags=IOB2_LABELS, scheme=Scheme.IOB2))
    fitted = fit_model(model, sentences, "synthetic", per_type="no", word_scores=scores, isotonic="yes")
    recorded = fitted.calibration
    in_sample = fit_calibration(scores, gold, IOB2_LABELS, "synthetic", isotonic=True)
    assert recorded.score_map == in_sample.score_map and recorded.temperature == in_sample.temperature
    assert in_sample.ece_after < 1e-9  # in-sample a map fits every bin's outcomes: it measures nothing

    # The oracle: fitted on even documents, scored on odd ones, and the other way; one ECE over both.
    probabilities: list[float] = []
    correct: list[bool] = []
    for side in (0, 1):
        fit = [n for n in range(len(rows)) if (n // 10) % 2 == side]
        held = [n for n in range(len(rows)) if (n // 10) % 2 != side]
        half = fit_calibration(
            word_scores(np.concatenate([scores.logits[n * words : (n + 1) * words] for n in fit]), words),
            [gold[n] for n in fit],
            IOB2_LABELS,
            "half",
            isotonic=True,
        )
        held_scores = word_scores(np.concatenate([scores.logits[n * words : (n + 1) * words] for n in held]), words)
        predicted = [
            chunks([IOB2_LABELS[i] for i in row]) for row in held_scores.logits.argmax(axis=1).reshape(-1, words)
        ]
        probabilities += [p for row in score_entities(held_scores, predicted, IOB2_LABELS, half) for p in row]
        correct += [entity in gold[n] for n, row in zip(held, predicted, strict=True) for entity in row]
    assert recorded.ece_after == pytest.approx(reliability(np.array(probabilities), np.array(correct)).ece)
    assert recorded.ece_after > 0.002
    assert fitted.map_evidence is not None and fitted.map_evidence.with_map == recorded.ece_after
    assert fitted.map_evidence.entities == len(correct)

    # auto keeps the map here, where one temperature cannot fix both types and there are enough entities ...
    assert len(correct) >= MIN_MAP_ENTITIES and fitted.map_evidence.helps
    auto = fit_model(model, sentences, "synthetic", per_type="no", word_scores=scores, isotonic="auto")
    assert auto.calibration == recorded
    assert "score map kept (held-out ECE" in auto.summary()
    # ... and not with too few, whatever their held-out ECE says
    few = word_scores(scores.logits[: 100 * words], words)
    small = fit_model(model, sentences[:100], "synthetic", per_type="no", word_scores=few, isotonic="auto")
    assert small.calibration.score_map is None and small.map_evidence is not None
    assert small.calibration == fit_calibration(few, gold[:100], IOB2_LABELS, "synthetic")
    assert "score map not kept" in small.summary()


def test_nothing_predicted_is_refused_by_name() -> None:
    scores = word_scores(np.tile([5.0, 0, 0, 0, 0], (4, 1)), 2)
    with pytest.raises(ValueError, match="valid.conll: the model predicts no entity"):
        fit_calibration(scores, [[], []], IOB2_LABELS, "valid.conll")
    with pytest.raises(ValueError, match="gold entities for 1 sentences, scores for 2"):
        fit_calibration(scores, [[]], IOB2_LABELS, "valid.conll")


def test_apply_divides_emissions_and_the_crf_scores_and_keeps_the_scores_precision() -> None:
    chain = random_chain(5, seed=7)
    logits = np.random.default_rng(8).normal(0.0, 1.0, (3, 5)).astype(np.float32)
    scores = WordScores(logits, np.array([0, 3]), chain)
    assert Calibration().apply(scores, IOB2_LABELS) is scores
    calibrated = Calibration(temperature=2.0, per_type={"PER": 4.0}).apply(scores, IOB2_LABELS)
    assert calibrated.logits.dtype == np.float32
    np.testing.assert_allclose(calibrated.logits, logits / np.array([2.0, 2.0, 2.0, 4.0, 4.0]), rtol=1e-6)
    np.testing.assert_allclose(calibrated.crf.transitions, chain.transitions / 2.0)
    np.testing.assert_allclose(calibrated.crf.end, chain.end / 2.0)
    np.testing.assert_array_equal(calibrated.crf.allowed, chain.allowed)


def test_the_calibration_file_round_trips_and_bad_files_are_named(tmp_path: Path) -> None:
    calibration = Calibration(
        temperature=1.7,
        per_type={"LOC": 1.5},
        score_map=((0.1, 0.0), (0.6, 0.5), (1.0, 0.5)),
        fitted_on="valid",
        n=12,
        ece_before=0.08,
        ece_after=0.01,
    )
    path = tmp_path / "calibration.json"
    assert read_calibration(path) is None
    write_calibration(path, calibration)
    assert read_calibration(path) == calibration
    for change, message in [
        ({"temperature": 0}, "temperature must be a positive finite number"),
        ({"temperature": "1"}, "field 'temperature' has a bad value"),
        ({"per_type": {"LOC": -1.0}}, r"per_type\['LOC'\] must be a positive"),
        ({"format": 9}, "unknown calibration format 9"),
        ({"colour": "red"}, r"unknown calibration fields \['colour'\]"),
        ({"score_map": "steep"}, "field 'score_map' has a bad value"),
        ({"score_map": [[0.5, 0.2], [0.4, 0.3]]}, "score_map knot 1: scores must increase, 0.4 follows 0.5"),
        ({"score_map": [[0.1, 0.5], [0.2, 0.4]]}, "score_map knot 1: probabilities must not decrease"),
        ({"score_map": [[0.1, 1.5]]}, r"score_map knot 0 is \(0.1, 1.5\): both must be in \[0, 1\]"),
        ({"score_map": []}, "score_map must have at least one knot"),
    ]:
        path.write_text(json.dumps({**calibration.to_dict(), **change}), encoding="utf-8")
        with pytest.raises(ValueError, match=message) as error:
            read_calibration(path)
        assert str(error.value).startswith(f"{path}: ")
    path.write_text("{", encoding="utf-8")
    with pytest.raises(ValueError, match="cannot read the calibration"):
        read_calibration(path)
