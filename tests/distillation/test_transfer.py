"""The transfer set: augmented copies of the training sentences for the teacher to tag.

Oracles: the count follows from the sentences that can be augmented and the ratio; a copy is its original with
mentions or words replaced (same length of words outside replaced mentions, and never equal to it); the
documents follow the numbering rule written in the module; the same settings give the same copies.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bertner.config import AUGMENT_METHODS, DataConfig
from bertner.data.augment import ReplacementPool, can_augment
from bertner.data.conll import Sentence
from bertner.data.corpus import load_corpus
from bertner.distillation.transfer import transfer_set


@pytest.fixture(scope="module")
def train(tiny_data: Path) -> tuple[Sentence, ...]:
    return load_corpus(str(tiny_data), DataConfig()).train


def _candidates(train: tuple[Sentence, ...]) -> list[int]:
    pool = ReplacementPool.from_sentences(train)
    return [i for i, sentence in enumerate(train) if can_augment(sentence, pool, AUGMENT_METHODS)]


@pytest.mark.parametrize("copies", [1.0, 2.0, 1.5])
def test_every_augmentable_sentence_is_copied_as_often_as_the_ratio_says(
    train: tuple[Sentence, ...], copies: float
) -> None:
    candidates = _candidates(train)
    assert 0 < len(candidates) <= len(train)
    made = transfer_set(train, copies, 0.3, seed=0)
    whole = math.floor(copies)
    assert len(made.words) == whole * len(candidates) + round((copies - whole) * len(candidates))
    originals = {train[i].words for i in candidates}
    # the first round holds one copy of each candidate, in order, each differing from its original
    for index, origin in enumerate(candidates):
        assert made.words[index] != train[origin].words
    assert not set(made.words[: len(candidates)]) <= originals


def test_documents_are_the_originals_renumbered_per_round_from_the_first(train: tuple[Sentence, ...]) -> None:
    candidates = _candidates(train)
    span = max(sentence.document for sentence in train) + 1
    made = transfer_set(train, 2.0, 0.3, seed=0, first_document=7)
    expected = [7 + round_number * span + train[i].document for round_number in (0, 1) for i in candidates]
    assert list(made.documents) == expected


def test_the_same_seed_makes_the_same_copies_and_another_seed_others(train: tuple[Sentence, ...]) -> None:
    assert transfer_set(train, 1.0, 0.3, seed=4) == transfer_set(train, 1.0, 0.3, seed=4)
    assert transfer_set(train, 1.0, 0.3, seed=4).words != transfer_set(train, 1.0, 0.3, seed=5).words


def test_no_copies_asked_gives_an_empty_set(train: tuple[Sentence, ...]) -> None:
    made = transfer_set(train, 0.0, 0.3, seed=0)
    assert made.words == () and made.documents == ()
