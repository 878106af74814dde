"""The audit's ranking: planted label errors come first under a model that knows the right tags; CRF marginals
(not emission softmaxes) and an ensemble's mean marginals are what cleanlab is given."""

from __future__ import annotations

import random

import numpy as np
import pytest

from bertner.audit.rank import audit_ranking, iob2_columns
from bertner.audit.run import audit_with_model, score_sentences
from bertner.config import Config
from bertner.data.conll import Sentence
from bertner.decoding.chain import LinearChain
from bertner.decoding.marginals import forward_backward
from bertner.decoding.words import softmax
from bertner.errors import UserError
from bertner.inference.ensemble.model import EnsembleModel
from bertner.inference.probabilities import word_probabilities
from bertner.labels import Scheme
from stub_tagging import TAGS, StubModel, knowing

NAMES = ["Anna", "Berg", "Carl", "Dora"]
PLACES = ["Paris", "Oslo", "New", "York"]
FILLER = ["the", "met", "in", "and", "today", "."]


def clean_sentences(count: int, seed: int = 0) -> list[Sentence]:
    """Sentences with a person and a place each, tags right, one per 'line' block of a pretend file."""
    rng = random.Random(seed)
    sentences, line = [], 1
    for index in range(count):
        words = [rng.choice(NAMES), rng.choice(NAMES), rng.choice(FILLER), rng.choice(PLACES), f"w{index}", "."]
        tags = ["B-PER", "I-PER", "O", "B-LOC", "O", "O"]
        sentences.append(Sentence(tuple(words), tuple(tags), document=index // 5, source="mem.conll", line=line))
        line += len(words) + 1
    return sentences


def planted(sentences: list[Sentence]) -> tuple[list[Sentence], dict[int, int]]:
    """The sentences with annotator-like errors in four of them: sentence -> the word whose tag was changed."""
    changes = {
        3: (3, "B-PER"),  # a type swap (LOC -> PER)
        11: (2, "B-LOC"),  # an invented entity
        17: (0, "O"),  # a missed entity's first word (its I-PER becomes an illegal start, so fix it too)
        26: (1, "O"),  # a boundary cut short by one word
    }
    out = list(sentences)
    for index, (word, tag) in changes.items():
        tags = list(out[index].tags)
        tags[word] = tag
        if index == 17:
            tags[1] = "O"
        out[index] = Sentence(out[index].words, tuple(tags), out[index].document, False, "mem.conll", out[index].line)
    return out, {index: word for index, (word, _) in changes.items()}


def test_planted_errors_rank_first_and_are_flagged() -> None:
    clean = clean_sentences(30)
    noisy, changed = planted(clean)
    model = StubModel(knowing({s.words: s.tags for s in clean}))
    result = audit_with_model(model, noisy, "mem.conll")
    top = [audit.sentence for audit in result.ranking[: len(changed)]]
    assert sorted(top) == sorted(changed)
    for audit in result.ranking[: len(changed)]:
        assert audit.flagged
        assert changed[audit.sentence] in [s.index for s in audit.suspects]
        # the model's suggestion is the clean sentence
        assert audit.suggested == clean[audit.sentence].tags
    assert not any(audit.flagged for audit in result.ranking[len(changed) :])
    # the score of a sentence is its worst word's: the probability the model gives its wrong gold tag
    assert result.ranking[0].score == pytest.approx(0.1 / 4)
    assert result.ranking[-1].score == pytest.approx(0.9)


def test_crf_model_is_audited_on_forward_backward_marginals() -> None:
    rng = np.random.default_rng(3)
    chain = LinearChain(
        transitions=rng.normal(0, 2, (5, 5)),
        start=rng.normal(0, 1, 5),
        end=rng.normal(0, 1, 5),
        allowed=np.ones((5, 5), dtype=bool),
        allowed_start=np.ones(5, dtype=bool),
    )
    emissions = {(f"w{i}", "x", "y"): rng.normal(0, 1, (3, 5)) for i in range(4)}
    model = StubModel(lambda words: emissions[tuple(words)], chain=chain)
    sentences = [Sentence(words, ("O",) * 3, source="mem", line=1) for words in emissions]
    scored = score_sentences(model, sentences)
    flat = np.concatenate(list(emissions.values())).astype(np.float32)
    expected = forward_backward(chain, flat, np.array([0, 3, 6, 9, 12])).marginals()
    np.testing.assert_allclose(np.concatenate(scored.probabilities), expected, atol=1e-12)
    np.testing.assert_allclose(np.concatenate(scored.probabilities).sum(axis=1), 1.0)
    assert not np.allclose(np.concatenate(scored.probabilities), softmax(flat.astype(np.float64)), atol=1e-3)


def test_an_ensemble_gives_the_mean_of_its_members_marginals() -> None:
    rng = np.random.default_rng(5)

    def chain(seed: int) -> LinearChain:
        r = np.random.default_rng(seed)
        return LinearChain(
            transitions=r.normal(0, 2, (5, 5)),
            start=r.normal(0, 1, 5),
            end=r.normal(0, 1, 5),
            allowed=np.ones((5, 5), dtype=bool),
            allowed_start=np.ones(5, dtype=bool),
        )

    words = [("a", "b", "c", "d"), ("e", "f")]
    tables = [{w: rng.normal(0, 1, (len(w), 5)) for w in words} for _ in range(2)]
    members = [
        StubModel(lambda ws, t=table: t[tuple(ws)], chain=chain(seed), path=f"m{seed}")
        for seed, table in enumerate(tables)
    ]
    ensemble = EnsembleModel(members=tuple(members), labels=members[0].labels, config=Config(), path="ens")  # type: ignore[arg-type]
    found = word_probabilities(ensemble, words)
    offsets = np.array([0, 4, 6])
    each = [
        forward_backward(
            member.chain, np.concatenate([table[w] for w in words]).astype(np.float32), offsets
        ).marginals()
        for member, table in zip(members, tables, strict=True)
    ]
    np.testing.assert_allclose(found.marginals, (each[0] + each[1]) / 2, atol=1e-12)


def test_bioes_labels_are_read_as_iob2_and_iob1_is_refused() -> None:
    tags, matrix = iob2_columns(("O", "B-PER", "I-PER", "E-PER", "S-PER"), Scheme.BIOES)
    assert tags == ("O", "B-PER", "I-PER")
    np.testing.assert_array_equal(matrix, [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1], [0, 1, 0]])
    with pytest.raises(UserError, match="IOB1"):
        iob2_columns(("O", "I-PER", "B-PER"), Scheme.IOB1)


def test_a_gold_tag_the_model_cannot_give_is_located() -> None:
    sentence = Sentence(("Acme", "rose"), ("B-ORG", "O"), source="data.conll", line=7)
    with pytest.raises(UserError, match=r"data\.conll:7: tag 'B-ORG' is not one the model gives"):
        audit_ranking([sentence], [np.full((2, 5), 0.2)], [("O", "O")], TAGS)
