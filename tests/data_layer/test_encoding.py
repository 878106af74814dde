"""Long sentences -> overlapping windows: a hypothesis property on the window plan, then whole sentences
encoded with the tiny BERT tokenizer and checked against each word tokenised on its own (the oracle)."""

from __future__ import annotations

import functools
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bertner.config import DataConfig
from bertner.data.alignment import IGNORE
from bertner.data.encoding import EncodingPlan, Window, encode, plan_windows
from bertner.data.features import PAD_SHAPE
from bertner.labels import LabelSet
from bertner.model.tokenizer import load_tokenizer

LABELS = LabelSet.from_types(["LOC", "ORG", "PER"])
MAX_LENGTH = 16
BUDGET = MAX_LENGTH - 2  # [CLS] and [SEP]


@st.composite
def window_problems(draw: st.DrawFn) -> tuple[list[int], int, int]:
    budget = draw(st.integers(5, 40))
    overlap = draw(st.integers(0, (budget - 1) // 2))  # overlap < budget / 2
    counts = draw(st.lists(st.integers(1, budget), max_size=60))
    return counts, budget, overlap


@settings(deadline=None)  # the machine may be busy; speed is not what is tested
@given(window_problems())
def test_plan_windows_owns_each_word_once_within_budget(problem: tuple[list[int], int, int]) -> None:
    counts, budget, overlap = problem
    spans = plan_windows(counts, budget, overlap)
    owned = [word for span in spans for word in range(span.own_start, span.own_end)]
    assert owned == list(range(len(counts)))
    for span in spans:
        assert span.start <= span.own_start < span.own_end <= span.end
        assert sum(counts[span.start : span.end]) <= budget
    for before, after in zip(spans, spans[1:], strict=False):
        assert before.start < after.start
        assert before.end <= after.end
        assert before.own_end == after.own_start


def test_plan_windows_hand_case() -> None:
    # Ten one-piece words, budget 4, overlap 2: windows [0,4) [2,6) [4,8) [6,10), owners split the shared words.
    spans = plan_windows([1] * 10, budget=4, overlap=2)
    assert [(s.start, s.end, s.own_start, s.own_end) for s in spans] == [
        (0, 4, 0, 3),
        (2, 6, 3, 5),
        (4, 8, 5, 7),
        (6, 10, 7, 10),
    ]
    assert plan_windows([], budget=4, overlap=2) == []


# ------------------------------------------------------------------------------------ with a real tokenizer


@pytest.fixture(scope="module")
def tokenizer(tiny_bert: Path) -> Any:
    return load_tokenizer(str(tiny_bert))


def _plan(tokenizer: Any, alignment: str = "first") -> EncodingPlan:
    return EncodingPlan(
        tokenizer, max_length=MAX_LENGTH, overlap=4, alignment=alignment, inside_of=tuple(LABELS.inside_of())
    )


@functools.cache
def _pieces(tokenizer: Any, word: str) -> list[int]:
    """The oracle: a word tokenised on its own (WordPiece never looks across words)."""
    ids = tokenizer([[word]], is_split_into_words=True, add_special_tokens=False)["input_ids"][0]
    return ids or [tokenizer.unk_token_id]


def _check_windows(tokenizer: Any, windows: list[Window], words: list[str]) -> None:
    """Every window well formed, its content the oracle's pieces, and each word owned by exactly one window."""
    owned = []
    for window in windows:
        assert len(window.input_ids) <= MAX_LENGTH
        assert window.input_ids[0] == tokenizer.cls_token_id
        assert window.input_ids[-1] == tokenizer.sep_token_id
        assert window.word_ids[0] is None and window.word_ids[-1] is None
        inner = window.word_ids[1:-1]
        assert None not in inner
        present = sorted(set(inner))
        assert present == list(range(present[0], present[-1] + 1))  # contiguous words
        assert present[0] <= window.own_start < window.own_end <= present[-1] + 1
        for word in present:
            got = [t for t, w in zip(window.input_ids, window.word_ids, strict=True) if w == word]
            assert got == _pieces(tokenizer, words[word])[:BUDGET]
        assert len(window.shape_ids) == len(window.input_ids)
        assert window.shape_ids[0] == PAD_SHAPE
        owned += range(window.own_start, window.own_end)
    assert owned == list(range(len(words)))


def _owned_labels(windows: list[Window]) -> dict[int, list[int]]:
    """word -> the labels its owning windows put on it (non-IGNORE positions only)."""
    found: dict[int, list[int]] = {}
    for window in windows:
        assert window.labels is not None and len(window.labels) == len(window.input_ids)
        for label, word in zip(window.labels, window.word_ids, strict=True):
            if label != IGNORE:
                assert word is not None and window.own_start <= word < window.own_end
                found.setdefault(word, []).append(label)
    return found


@pytest.fixture(scope="module")
def long_sentence() -> tuple[list[str], list[int]]:
    vocabulary = ["Maria", "Okafor", "flew", "to", "Lisbon", "Zxqv", "1996-08-22", ".", "Harbour", "in"]
    rng = random.Random(0)
    words = [rng.choice(vocabulary) for _ in range(3000)]
    labels = [rng.randrange(len(LABELS)) for _ in words]
    return words, labels


def test_long_sentence_first_alignment(tokenizer: Any, long_sentence: tuple[list[str], list[int]]) -> None:
    words, labels = long_sentence
    windows = encode(_plan(tokenizer), [words], [labels])
    assert len(windows) > 1 and {w.sentence for w in windows} == {0}
    _check_windows(tokenizer, windows, words)
    found = _owned_labels(windows)
    assert sum(len(v) for v in found.values()) == 3000
    assert [found[word] for word in range(3000)] == [[label] for label in labels]


def test_long_sentence_all_alignment(tokenizer: Any, long_sentence: tuple[list[str], list[int]]) -> None:
    words, labels = long_sentence
    windows = encode(_plan(tokenizer, "all"), [words], [labels])
    _check_windows(tokenizer, windows, words)
    found = _owned_labels(windows)
    inside = LABELS.inside_of()
    for word in range(3000):
        count = len(_pieces(tokenizer, words[word]))
        assert found[word] == [labels[word]] + [inside[labels[word]]] * (count - 1)


def test_several_sentences_and_no_labels(tokenizer: Any) -> None:
    sentences = [["Maria", "flew"], ["Zxqv"] * 10, ["to", "Lisbon", "."]]
    windows = encode(_plan(tokenizer), sentences)
    for index, words in enumerate(sentences):
        mine = [w for w in windows if w.sentence == index]
        _check_windows(tokenizer, mine, words)
    assert all(w.labels is None and "labels" not in w.features() for w in windows)
    assert windows[0].features()["input_ids"] == list(windows[0].input_ids)


@pytest.mark.parametrize("dropped", ["\x00", "\u200b", "\ufffd"])
def test_a_word_the_tokenizer_drops_gets_unk(tokenizer: Any, dropped: str) -> None:
    words, labels = ["Maria", dropped, "flew"], [LABELS.label2id["B-PER"], LABELS.label2id["B-ORG"], 0]
    assert tokenizer([[dropped]], is_split_into_words=True, add_special_tokens=False)["input_ids"][0] == []
    (window,) = encode(_plan(tokenizer), [words], [labels])
    assert window.word_ids == (None, 0, 1, 2, None)
    assert window.input_ids[2] == tokenizer.unk_token_id
    assert window.labels == (IGNORE, *labels, IGNORE)


def test_a_word_longer_than_the_budget_is_clipped_but_kept(tokenizer: Any) -> None:
    long_word = "abcdefghijklmnopqrstuvwxyz"
    assert len(_pieces(tokenizer, long_word)) > BUDGET
    words, labels = ["Maria", long_word, "flew"], [1, 2, 0]
    windows = encode(_plan(tokenizer), [words], [labels])
    _check_windows(tokenizer, windows, words)
    (holder,) = [w for w in windows if 1 in w.word_ids]
    assert holder.word_ids.count(1) == BUDGET
    assert _owned_labels(windows) == {0: [1], 1: [2], 2: [0]}


def test_plan_from_config_caps_at_the_model_limit(tokenizer: Any) -> None:
    plan = EncodingPlan.for_config(DataConfig(max_length=4096, alignment="all"), tokenizer, LABELS)
    assert plan.max_length == tokenizer.model_max_length == 512
    assert plan.alignment == "all"
    assert plan.inside_of == tuple(LABELS.inside_of())


def test_max_length_without_room_for_words(tokenizer: Any) -> None:
    plan = EncodingPlan(tokenizer, max_length=2, overlap=0)
    with pytest.raises(ValueError, match="max_length 2 leaves no room beside 2 special tokens"):
        encode(plan, [["Maria"]])
