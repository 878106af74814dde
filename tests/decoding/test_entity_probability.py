"""Entity probabilities against the brute-force sum over every tag path whose conlleval reading holds the entity."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from chain_oracle import IOB2_LABELS, brute_entity_probability, flat, iob2_constraints, random_chain

from bertner.decoding.chain import LinearChain
from bertner.decoding.entities import EntityTags, entities_of, entity_probabilities, score_entities
from bertner.decoding.temperature import Calibration
from bertner.decoding.words import WordScores
from bertner.evaluation.spans import Entity
from bertner.labels import Scheme

IOB1_LABELS = IOB2_LABELS
BIOES_LABELS = ("O", "B-LOC", "I-LOC", "E-LOC", "S-LOC", "S-PER")


def every_entity(length: int, types: tuple[str, ...]) -> list[Entity]:
    return [Entity(i, j, t) for i, j in itertools.combinations(range(length + 1), 2) for t in types]


def check_against_brute_force(
    chain: LinearChain | None, labels: tuple[str, ...], scheme: Scheme, seed: int, lengths: tuple[int, ...]
) -> None:
    tags = EntityTags.from_labels(labels)
    rng = np.random.default_rng(seed)
    sentences = [rng.normal(0.0, 1.5, (n, len(labels))) for n in lengths]
    entities = [every_entity(n, tags.types) for n in lengths]
    logits, offsets = flat(sentences)
    found = entity_probabilities(WordScores(logits, offsets, chain), entities, tags, batch_size=2)
    oracle_chain = chain or LinearChain.independent(len(labels))
    for emissions, candidates, probabilities in zip(sentences, entities, found, strict=True):
        expected = [brute_entity_probability(oracle_chain, emissions, labels, e, scheme) for e in candidates]
        np.testing.assert_allclose(probabilities, expected, atol=1e-12)


@pytest.mark.parametrize("constrained", [False, True])
def test_crf_entity_probability_is_the_brute_force_sum(constrained: bool) -> None:
    allowed, start = iob2_constraints(IOB2_LABELS) if constrained else (None, None)
    chain = random_chain(len(IOB2_LABELS), seed=1, allowed=allowed, start=start)
    check_against_brute_force(chain, IOB2_LABELS, Scheme.IOB2, seed=2, lengths=(1, 2, 4, 0, 3))


def test_without_a_crf_the_product_formula_is_the_brute_force_sum() -> None:
    check_against_brute_force(None, IOB2_LABELS, Scheme.IOB2, seed=3, lengths=(1, 3, 4))


@pytest.mark.parametrize("chain", [None, "free"])
def test_other_schemes_read_through_the_same_table(chain: str | None) -> None:
    free = random_chain(len(BIOES_LABELS), seed=4) if chain else None
    check_against_brute_force(free, BIOES_LABELS, Scheme.BIOES, seed=5, lengths=(1, 3, 4))
    free = random_chain(len(IOB1_LABELS), seed=6) if chain else None
    check_against_brute_force(free, IOB1_LABELS, Scheme.IOB1, seed=7, lengths=(2, 4))


def test_without_a_crf_a_legal_entity_scores_the_product_of_its_word_probabilities() -> None:
    """A hand computation of the module's formula: B-LOC I-LOC at words 1-2 of 4, at temperature 1."""
    logits = np.random.default_rng(8).normal(0.0, 2.0, (4, 5))
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    o, b_loc, i_loc = 0, 1, 2
    opening = p[1, b_loc] + p[1, i_loc] * (1.0 - p[0, b_loc] - p[0, i_loc])
    expected = opening * p[2, i_loc] * (1.0 - p[3, i_loc])
    scores = WordScores(logits.astype(np.float32), np.array([0, 4]))
    identity = Calibration(temperature=1.0)
    found = score_entities(scores, [[Entity(1, 3, "LOC")]], IOB2_LABELS, identity)
    assert found[0][0] == pytest.approx(expected, rel=1e-6)
    # The same entity at the first word: nothing before it, so I-LOC there opens it as fully as B-LOC.
    first = entity_probabilities(scores, [[Entity(0, 1, "PER")]], EntityTags.from_labels(IOB2_LABELS))
    assert first[0][0] == pytest.approx((p[0, 3] + p[0, 4]) * (1.0 - p[1, 4]), rel=1e-6)
    assert p[0, o] > 0


def test_score_entities_applies_the_calibration_to_the_scores() -> None:
    allowed, start = iob2_constraints(IOB2_LABELS)
    chain = random_chain(5, seed=9, allowed=allowed, start=start)
    logits = np.random.default_rng(10).normal(0.0, 2.0, (5, 5)).astype(np.float32)
    scores = WordScores(logits, np.array([0, 5]), chain)
    entity = [[Entity(1, 3, "PER")]]
    plain = score_entities(scores, entity, IOB2_LABELS)
    assert plain == entity_probabilities(scores, entity, EntityTags.from_labels(IOB2_LABELS))
    hot = score_entities(scores, entity, IOB2_LABELS, Calibration(temperature=2.0))
    scaled = WordScores(logits / 2.0, scores.offsets, chain.scaled(0.5))
    expected = entity_probabilities(scaled, entity, EntityTags.from_labels(IOB2_LABELS))
    assert hot[0][0] == pytest.approx(expected[0][0], rel=1e-6)
    assert hot != plain


def test_entity_tags_table_and_errors() -> None:
    tags = EntityTags.from_labels(BIOES_LABELS)
    assert tags.types == ("LOC", "PER")
    assert tags.begin.tolist() == [[False, True, False, False, True, False], [False] * 5 + [True]]
    assert tags.inside.tolist() == [[False, False, True, True, False, False], [False] * 6]
    two_words = WordScores(np.zeros((2, 6)), np.array([0, 2]))
    with pytest.raises(ValueError, match="'ORG' is not among the model's types"):
        entity_probabilities(two_words, [[Entity(0, 1, "ORG")]], tags)
    with pytest.raises(ValueError, match="sentence 0: entity .* does not fit its 2 words"):
        entity_probabilities(two_words, [[Entity(1, 3, "LOC")]], tags)
    with pytest.raises(ValueError, match="the CRF has 5 tags, the labels are 6"):
        entity_probabilities(WordScores(two_words.logits, two_words.offsets, random_chain(5, 0)), [[]], tags)
    assert entity_probabilities(two_words, [[]], tags) == [[]]


def test_entities_of_reads_decoded_ids_as_tagging_does() -> None:
    labels = ("O", "B-LOC", "I-LOC")
    assert entities_of([[0, 2, 2, 1], []], labels) == [[Entity(1, 3, "LOC"), Entity(3, 4, "LOC")], []]
    assert entities_of([[2, 2, 1]], labels, Scheme.IOB1) == [[Entity(0, 2, "LOC"), Entity(2, 3, "LOC")]]
