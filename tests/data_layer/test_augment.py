"""Augmentation (data/augment.py): hypothesis properties over random IOB2 training sets.

Oracles: mentions are read back with conlleval's rules (evaluation/spans.py `chunks`), legality with
labels.py's IOB2 table, and what a replacement may be with sets built here from the training sentences.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bertner.config import TrainConfig
from bertner.config_files import load_config
from bertner.data.augment import (
    AugmentSettings,
    ReplacementPool,
    augment_epoch,
    augment_sentence,
    can_augment,
    copies_per_epoch,
)
from bertner.data.conll import Sentence, read_conll
from bertner.evaluation.spans import chunks
from bertner.labels import OUTSIDE, Scheme, first_illegal
from tiny_models import TINY_DATA

WORDS = ["a", "b", "c", "d", "e", "f"]
TYPES = ["PER", "LOC", "ORG"]
METHOD_SETS = [("mention",), ("token",), ("mention", "token")]

# A segment is an outside word, or a mention: (entity type, its words). Adjacent mentions of one type occur.
_segment = st.one_of(
    st.tuples(st.just(OUTSIDE), st.lists(st.sampled_from(WORDS), min_size=1, max_size=1)),
    st.tuples(st.sampled_from(TYPES), st.lists(st.sampled_from(WORDS), min_size=1, max_size=3)),
)


def _sentence(segments: list[tuple[str, list[str]]], document: int, line: int) -> Sentence:
    words: list[str] = []
    tags: list[str] = []
    for kind, segment_words in segments:
        words += segment_words
        if kind == OUTSIDE:
            tags += [OUTSIDE] * len(segment_words)
        else:
            tags += [f"B-{kind}"] + [f"I-{kind}"] * (len(segment_words) - 1)
    return Sentence(tuple(words), tuple(tags), document=document, source="train.conll", line=line)


@st.composite
def training_sets(draw: st.DrawFn) -> list[Sentence]:
    sentences = draw(st.lists(st.lists(_segment, min_size=1, max_size=6), min_size=1, max_size=8))
    return [_sentence(segments, document=index // 3, line=10 * index) for index, segments in enumerate(sentences)]


def _segments(sentence: Sentence) -> list[tuple[str, tuple[str, ...]]]:
    """The oracle's reading: outside words and entities (by conlleval's rules), in order."""
    entities = {entity.start: entity for entity in chunks(sentence.tags)}
    segments: list[tuple[str, tuple[str, ...]]] = []
    index = 0
    while index < len(sentence.words):
        entity = entities.get(index)
        if entity is None:
            segments.append((OUTSIDE, (sentence.words[index],)))
            index += 1
        else:
            segments.append((entity.type, sentence.words[entity.start : entity.end]))
            index = entity.end
    return segments


def _training_mentions(sentences: list[Sentence]) -> set[tuple[str, tuple[str, ...]]]:
    return {segment for sentence in sentences for segment in _segments(sentence) if segment[0] != OUTSIDE}


def _training_words(sentences: list[Sentence]) -> set[tuple[str, str]]:
    return {(tag, word) for sentence in sentences for word, tag in zip(sentence.words, sentence.tags, strict=True)}


def _check_copy(copy: Sentence, original: Sentence, training: list[Sentence], methods: tuple[str, ...]) -> None:
    """Everything a copy must be: legal, consistent, in its original's place, and changed only as `methods` allow."""
    assert len(copy.words) == len(copy.tags)
    assert first_illegal(copy.tags, Scheme.IOB2) is None, copy.tags
    assert (copy.document, copy.starts_document, copy.source, copy.line) == (
        original.document,
        original.starts_document,
        original.source,
        original.line,
    )
    # At least one replacement, and each differs from what it replaces (`a` as PER -> `a a` changes only tags).
    assert (copy.words, copy.tags) != (original.words, original.tags)
    mentions, words = _training_mentions(training), _training_words(training)
    if methods == ("token",):
        assert copy.tags == original.tags
        for tag, old, new in zip(copy.tags, original.words, copy.words, strict=True):
            assert new == old or (tag, new) in words
        return
    old_segments, new_segments = _segments(original), _segments(copy)
    assert [kind for kind, _ in new_segments] == [kind for kind, _ in old_segments]  # same types, same order
    for (kind, old), (_, new) in zip(old_segments, new_segments, strict=True):
        tags = [OUTSIDE] if kind == OUTSIDE else [f"B-{kind}"] + [f"I-{kind}"] * (len(old) - 1)
        token_swapped = len(new) == len(old) and all(
            n == o or ("token" in methods and (t, n) in words) for t, o, n in zip(tags, old, new, strict=True)
        )
        mention_swapped = kind != OUTSIDE and "mention" in methods and new != old and (kind, new) in mentions
        assert token_swapped or mention_swapped, (kind, old, new)


@settings(max_examples=150, deadline=None)
@given(
    training=training_sets(),
    methods=st.sampled_from(METHOD_SETS),
    probability=st.sampled_from([0.05, 0.3, 1.0]),
    ratio=st.sampled_from([0.5, 1.0, 2.0]),
    seed=st.integers(0, 2**16),
    epoch=st.integers(0, 5),
)
def test_copies_are_legal_iob2_and_change_only_what_their_method_allows(
    training: list[Sentence], methods: tuple[str, ...], probability: float, ratio: float, seed: int, epoch: int
) -> None:
    snapshot = list(training)
    pool = ReplacementPool.from_sentences(training)
    candidates = [i for i, s in enumerate(training) if can_augment(s, pool, methods)]
    augment = AugmentSettings(methods, ratio, probability, seed)
    rounds = augment_epoch(training, pool, augment, epoch, candidates)

    assert sum(len(r.copies) for r in rounds) == copies_per_epoch(len(candidates), ratio)
    for round_ in rounds:
        origins = [copy.origin for copy in round_.copies]
        assert origins == sorted(set(origins)) and set(origins) <= set(candidates)
        for copy in round_.copies:
            _check_copy(copy.sentence, training[copy.origin], training, methods)
    assert augment_epoch(training, pool, augment, epoch, candidates) == rounds  # same seed and epoch, same copies
    assert training == snapshot


@given(training=training_sets(), methods=st.sampled_from(METHOD_SETS))
def test_a_sentence_can_be_augmented_exactly_when_something_in_it_has_another_replacement(
    training: list[Sentence], methods: tuple[str, ...]
) -> None:
    pool = ReplacementPool.from_sentences(training)
    mentions, words = _training_mentions(training), _training_words(training)
    for sentence in training:
        replaceable_mention = any(
            other_type == kind and other != old
            for kind, old in _segments(sentence)
            if kind != OUTSIDE
            for other_type, other in mentions
        )
        replaceable_word = any(
            other_tag == tag and other != word
            for word, tag in zip(sentence.words, sentence.tags, strict=True)
            for other_tag, other in words
        )
        expected = ("mention" in methods and replaceable_mention) or ("token" in methods and replaceable_word)
        assert can_augment(sentence, pool, methods) == expected


# A fixed training set (the tiny data) for what random ones cannot promise: that copies change with the epoch.
@pytest.fixture(scope="module")
def tiny_train() -> list[Sentence]:
    return read_conll(TINY_DATA / "train.conll")


def _epoch(training: list[Sentence], epoch: int, seed: int = 7, ratio: float = 1.0) -> list[list[Sentence]]:
    pool = ReplacementPool.from_sentences(training)
    methods = ("mention", "token")
    candidates = [i for i, s in enumerate(training) if can_augment(s, pool, methods)]
    rounds = augment_epoch(training, pool, AugmentSettings(methods, ratio, 0.3, seed), epoch, candidates)
    return [[copy.sentence for copy in round_.copies] for round_ in rounds]


def test_same_seed_and_epoch_give_the_same_copies_and_another_epoch_or_seed_others(
    tiny_train: list[Sentence],
) -> None:
    assert _epoch(tiny_train, 0) == _epoch(tiny_train, 0)
    assert _epoch(tiny_train, 1) != _epoch(tiny_train, 0)
    assert _epoch(tiny_train, 0, seed=8) != _epoch(tiny_train, 0)


def test_a_fractional_ratio_copies_a_new_subset_each_epoch(tiny_train: list[Sentence]) -> None:
    pool = ReplacementPool.from_sentences(tiny_train)
    candidates = [i for i, s in enumerate(tiny_train) if can_augment(s, pool, ("token",))]
    settings_ = AugmentSettings(("token",), 2.5, 0.3, 7)
    subsets = []
    for epoch in range(4):
        rounds = augment_epoch(tiny_train, pool, settings_, epoch, candidates)
        assert len(rounds) == 3
        assert [c.origin for c in rounds[0].copies] == [c.origin for c in rounds[1].copies] == candidates
        subsets.append(tuple(c.origin for c in rounds[2].copies))
    assert {len(subset) for subset in subsets} == {round(0.5 * len(candidates))}
    assert len(set(subsets)) > 1


@pytest.mark.parametrize(
    ("candidates", "ratio", "expected"), [(10, 1.0, 10), (10, 2.0, 20), (10, 0.5, 5), (10, 1.3, 13), (0, 3.0, 0)]
)
def test_copies_per_epoch(candidates: int, ratio: float, expected: int) -> None:
    assert copies_per_epoch(candidates, ratio) == expected


def test_mention_replacement_re_emits_b_and_i_for_the_new_mention_length() -> None:
    # Two adjacent PER mentions: replacing the first with a three-word one must keep them two entities.
    sentence = Sentence(("Ann", "Lee", "Bo", "said"), ("B-PER", "I-PER", "B-PER", "O"))
    other = Sentence(("Jean", "Paul", "Sartre", "wrote"), ("B-PER", "I-PER", "I-PER", "O"))
    pool = ReplacementPool.from_sentences([sentence, other])
    copy = augment_sentence(sentence, pool, ("mention",), 1.0, random.Random(0))
    assert first_illegal(copy.tags, Scheme.IOB2) is None
    assert len(chunks(copy.tags)) == 2
    assert len(copy.words) == len(copy.tags)
    assert copy.words[-1] == "said"


def test_replacements_are_drawn_by_training_frequency() -> None:
    # `x` is replaced by `the` or `a`, which the training set has 9 : 1.
    training = [Sentence(("the",) * 9 + ("a", "x"), ("O",) * 11)]
    pool = ReplacementPool.from_sentences(training)
    sentence = Sentence(("x",), ("O",))
    drawn = Counter(augment_sentence(sentence, pool, ("token",), 1.0, random.Random(k)).words[0] for k in range(2000))
    assert set(drawn) == {"the", "a"}
    assert 0.86 < drawn["the"] / 2000 < 0.94


def test_a_word_whose_tag_has_one_other_word_in_the_pool_is_still_replaced() -> None:
    # 99 of 100 draws by frequency give the word itself: the fallback must still find the other one.
    training = [Sentence(("the",) * 99 + ("a",), ("O",) * 100)]
    pool = ReplacementPool.from_sentences(training)
    copy = augment_sentence(Sentence(("the",), ("O",)), pool, ("token",), 1.0, random.Random(0))
    assert copy.words == ("a",)


def test_nothing_to_replace_leaves_the_sentence_as_it_is() -> None:
    training = [Sentence(("Paris", "is", "big"), ("B-LOC", "O", "O"))]
    pool = ReplacementPool.from_sentences(training)
    assert not can_augment(training[0], pool, ("mention",))
    assert augment_sentence(training[0], pool, ("mention",), 1.0, random.Random(0)) == training[0]


def test_settings_take_the_training_seed_unless_given_their_own() -> None:
    assert AugmentSettings.from_config(TrainConfig(seed=5, augment=("token",))).seed == 5
    assert AugmentSettings.from_config(TrainConfig(seed=5, augment=("token",), augment_seed=9)).seed == 9
    with pytest.raises(ValueError, match="augment methods"):
        AugmentSettings(("synonym",), 1.0, 0.3, 0)
    with pytest.raises(ValueError, match="probability"):
        AugmentSettings(("token",), 1.0, 0.0, 0)


@pytest.mark.parametrize(
    ("train", "message"),
    [
        ({"augment": ["mention", "synonym"]}, "train.augment must hold mention and/or token, not 'synonym'"),
        ({"augment": ["token", "token"]}, "train.augment names 'token' twice"),
        ({"augment_ratio": 0.0}, "train.augment_ratio must be a positive number, not 0.0"),
        ({"augment_ratio": float("nan")}, "train.augment_ratio must be a positive number, not nan"),
        ({"augment_probability": 0.0}, r"train.augment_probability must be in \(0, 1\], not 0.0"),
        ({"augment_probability": 1.5}, r"train.augment_probability must be in \(0, 1\], not 1.5"),
        ({"augment_seed": -1}, "train.augment_seed must be at least 0, not -1"),
    ],
)
def test_bad_augment_settings_are_refused_naming_the_key(train: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_config(None, {"train": train})


def test_augment_settings_are_read_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "augment.toml"
    path.write_text('[train]\naugment = ["mention", "token"]\naugment_ratio = 2\naugment_probability = 1\n')
    train = load_config(path).train
    assert (train.augment, train.augment_ratio, train.augment_probability, train.augment_seed) == (
        ("mention", "token"),
        2.0,
        1.0,
        None,
    )
