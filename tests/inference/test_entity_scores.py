"""Entity scores are probabilities on every path: tagging, the Predictor, exports, ensembles (issue 23).

Oracles: without a CRF at T = 1 an entity's score is the product formula of the README on the words' softmax,
checked against brute force over the tags of the words around the entity; a calibration saved beside a model
is found by every loader, copied by an export, and gives the same scores on PyTorch and onnxruntime.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from bertner.config import DataConfig
from bertner.data.conll import Sentence
from bertner.data.corpus import read_split
from bertner.decoding.entities import score_entities
from bertner.decoding.temperature import Calibration, read_calibration, write_calibration
from bertner.decoding.words import softmax
from bertner.evaluation.spans import chunks
from bertner.inference.ensemble.folder import load_tagging_model
from bertner.inference.ensemble.write import make_ensemble
from bertner.inference.load import load_inference_model
from bertner.inference.onnx.export import export_onnx
from bertner.inference.predictor import Predictor
from bertner.inference.tagging import TaggedWords, TaggingModel, tag_words
from bertner.labels import LabelSet
from bertner.layout import CALIBRATION_FILE
from entity_oracle import independent_entity_probability
from tiny_models import write_random_run

LABELS = LabelSet.from_types(["LOC", "MISC", "ORG", "PER"])
MAP = ((0.0, 0.05), (0.5, 0.3), (0.9, 0.85))
CALIBRATION = Calibration(temperature=2.5, per_type={"PER": 1.5}, score_map=MAP, fitted_on="by hand")


@pytest.fixture(scope="module")
def sentences(tiny_data: Path) -> list[Sentence]:
    return read_split(tiny_data, "test", DataConfig())


@pytest.fixture(scope="module")
def plain_run(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Spread-out word probabilities, so that entity scores are far from 0 and 1."""
    return write_random_run(tiny_bert, tmp_path_factory.mktemp("plain"), LABELS, seed=3, head_std=0.6)


@pytest.fixture(scope="module")
def crf_run(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = write_random_run(tiny_bert, tmp_path_factory.mktemp("crf"), LABELS, crf=True, seed=4, head_std=1.0)
    write_calibration(folder / CALIBRATION_FILE, CALIBRATION)
    return folder


def _tag(model: TaggingModel, sentences: list[Sentence]) -> TaggedWords:
    return tag_words(model, [s.words for s in sentences], documents=[s.document for s in sentences])


def test_without_a_crf_at_t1_an_entity_scores_the_product_of_its_word_probabilities(
    plain_run: Path, sentences: list[Sentence]
) -> None:
    model = load_inference_model(plain_run)
    assert model.calibration is None
    tagged = _tag(model, sentences)
    probabilities = softmax(
        model.word_scores([s.words for s in sentences], documents=[s.document for s in sentences]).logits.astype(
            np.float64
        )
    )
    rows = np.split(probabilities, np.cumsum([len(s.words) for s in sentences])[:-1])
    ids = LABELS.label2id
    checked = 0
    for p, tags, entities, scores in zip(rows, tagged.tags, tagged.entities, tagged.scores, strict=True):
        assert entities == tuple(chunks(tags))
        for entity, score in zip(entities, scores, strict=True):
            b, i = ids[f"B-{entity.type}"], ids[f"I-{entity.type}"]
            before = 1.0 if entity.start == 0 else 1 - p[entity.start - 1, b] - p[entity.start - 1, i]
            product = p[entity.start, b] + p[entity.start, i] * before
            product *= np.prod(p[entity.start + 1 : entity.end, i])
            product *= 1.0 if entity.end == len(p) else 1 - p[entity.end, i]
            assert score == pytest.approx(product, rel=1e-6)
            assert score == pytest.approx(independent_entity_probability(p, entity, LABELS), rel=1e-6)
            checked += 1
    assert checked > 5, "the oracle needs predicted entities"
    assert any(s < 0.5 for row in tagged.scores for s in row), "spread-out scores, not all near 1"


def test_the_predictor_reports_each_entitys_probability(plain_run: Path, sentences: list[Sentence]) -> None:
    model = load_inference_model(plain_run)
    texts = [" ".join(s.words) for s in sentences[:6]]
    found = Predictor(model).predict(texts)
    for text, entities in zip(texts, found, strict=True):
        tagged = tag_words(model, [text.split(" ")], documents=[0])
        assert [(e.type, round(p, 4)) for e, p in zip(tagged.entities[0], tagged.scores[0], strict=True)] == [
            (e.type, e.score) for e in entities
        ]


def test_min_score_drops_exactly_the_entities_below_it(plain_run: Path, sentences: list[Sentence]) -> None:
    texts = [" ".join(s.words) for s in sentences]
    every = Predictor(load_inference_model(plain_run)).predict(texts)
    scores = sorted(e.score for row in every for e in row)
    threshold = scores[len(scores) // 2]  # a score that is reported: kept, while those below it go
    kept = Predictor.load(plain_run, min_score=threshold).predict(texts)
    assert kept == [[e for e in row if e.score >= threshold] for row in every]
    assert 0 < sum(map(len, kept)) < sum(map(len, every))
    with pytest.raises(ValueError, match="min_score"):
        Predictor.load(plain_run, min_score=1.5)


def test_a_saved_calibration_survives_load_export_and_onnx_with_the_same_scores(
    crf_run: Path, sentences: list[Sentence], tmp_path: Path
) -> None:
    run = load_inference_model(crf_run)
    assert run.calibration == CALIBRATION
    tagged = _tag(run, sentences)
    scores = run.word_scores([s.words for s in sentences], documents=[s.document for s in sentences])
    raw = score_entities(scores, tagged.entities, LABELS.labels)
    expected = score_entities(scores, tagged.entities, LABELS.labels, CALIBRATION)
    # the oracle of the map: the temperatures' probabilities, linearly interpolated between its knots, flat beyond
    at_temperature = score_entities(
        scores, tagged.entities, LABELS.labels, dataclasses.replace(CALIBRATION, score_map=None)
    )
    knots = np.array(MAP)
    for row, unmapped in zip(expected, at_temperature, strict=True):
        assert row == pytest.approx(list(np.interp(unmapped, knots[:, 0], knots[:, 1])), abs=1e-12)
    flat = [p for row in tagged.scores for p in row]
    assert flat == pytest.approx([p for row in expected for p in row], abs=1e-9)
    assert flat != pytest.approx([p for row in raw for p in row], abs=1e-3), "the temperature must show"

    export = tmp_path / "export"
    export_onnx(run, export, sentences)
    assert read_calibration(export / CALIBRATION_FILE) == CALIBRATION
    for model in (load_inference_model(export), load_inference_model(crf_run, backend="onnx")):
        assert model.backend == "onnx" and model.calibration == CALIBRATION
        on_onnx = _tag(model, sentences)
        assert on_onnx.entities == tagged.entities
        assert [p for row in on_onnx.scores for p in row] == pytest.approx(flat, abs=1e-4)


def test_an_ensemble_uses_its_own_calibration_not_its_members(
    crf_run: Path, plain_run: Path, sentences: list[Sentence], tmp_path: Path
) -> None:
    folder = make_ensemble([str(crf_run), str(plain_run)], tmp_path / "ensemble").output
    ensemble = load_tagging_model(folder)
    assert ensemble.calibration is None  # the CRF member's own is not the ensemble's
    combined = ensemble.word_scores([s.words for s in sentences], documents=[s.document for s in sentences])
    tagged = _tag(ensemble, sentences)
    assert tagged.scores == tuple(map(tuple, score_entities(combined, tagged.entities, LABELS.labels)))

    own = Calibration(temperature=0.7, fitted_on="by hand")
    write_calibration(folder / CALIBRATION_FILE, own)
    calibrated = load_tagging_model(folder)
    assert calibrated.calibration == own
    again = _tag(calibrated, sentences)
    assert again.entities == tagged.entities
    assert again.scores == tuple(map(tuple, score_entities(combined, tagged.entities, LABELS.labels, own)))
