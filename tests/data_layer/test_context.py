"""Document context (data.context): windows widened with whole words of the neighbouring sentences of the
same document. Oracles: each word tokenised on its own, and the windows encoded without context, which the
sentence's own part of every window must equal."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bertner.data.encoding import EncodingPlan, Window, encode
from bertner.data.features import PAD_SHAPE, word_shape
from bertner.labels import LabelSet
from bertner.model.tokenizer import load_tokenizer

LABELS = LabelSet.from_types(["LOC", "ORG", "PER"])
VOCABULARY = ["Maria", "Okafor", "flew", "to", "Lisbon", "Zxqv", "1996-08-22", ".", "Harbour", "in", "QUILL"]


@pytest.fixture(scope="module")
def tokenizer(tiny_bert: Path) -> Any:
    return load_tokenizer(str(tiny_bert))


def _plan(tokenizer: Any, max_length: int, context: int) -> EncodingPlan:
    return EncodingPlan(tokenizer, max_length, overlap=2, inside_of=tuple(LABELS.inside_of()), context=context)


@functools.cache
def _pieces(tokenizer: Any, word: str) -> tuple[int, ...]:
    ids = tokenizer([[word]], is_split_into_words=True, add_special_tokens=False)["input_ids"][0]
    return tuple(ids or [tokenizer.unk_token_id])


def _split(window: Window) -> tuple[list[int], list[int], list[int]]:
    """Positions of the left context, the sentence's own tokens, and the right context of a window."""
    content = [k for k, w in enumerate(window.word_ids) if w is not None]
    inner = range(1, len(window.input_ids) - 1)  # between [CLS] and [SEP]
    left = [k for k in inner if k < content[0]]
    right = [k for k in inner if k > content[-1]]
    return left, content, right


def _words_before(tokenizer: Any, sentences: list[list[str]], documents: list[int], s: int) -> list[str]:
    """All words of the document before sentence s, in order (the oracle's source of left context)."""
    return [w for o in range(s) if documents[o] == documents[s] for w in sentences[o]]


def _words_after(tokenizer: Any, sentences: list[list[str]], documents: list[int], s: int) -> list[str]:
    return [w for o in range(s + 1, len(sentences)) if documents[o] == documents[s] for w in sentences[o]]


@st.composite
def documents_problem(draw: st.DrawFn) -> tuple[list[list[str]], list[int], int, int]:
    sizes = draw(st.lists(st.integers(1, 5), min_size=1, max_size=4))  # sentences per document
    documents = [d for d, size in enumerate(sizes) for _ in range(size)]
    sentences = [draw(st.lists(st.sampled_from(VOCABULARY), min_size=1, max_size=12)) for _ in documents]
    max_length = draw(st.integers(12, 40))
    context = draw(st.integers(1, 24))
    return sentences, documents, max_length, context


@settings(deadline=None, max_examples=150)
@given(problem=documents_problem())
def test_context_is_whole_neighbouring_words_of_the_same_document(
    tokenizer: Any, problem: tuple[list[list[str]], list[int], int, int]
) -> None:
    sentences, documents, max_length, context = problem
    labels = [[(i * 7 + len(w)) % len(LABELS) for i, w in enumerate(words)] for words in sentences]
    plain = encode(_plan(tokenizer, max_length, 0), sentences, labels, documents)
    widened = encode(_plan(tokenizer, max_length, context), sentences, labels, documents)
    assert len(plain) == len(widened)
    for alone, window in zip(plain, widened, strict=True):
        s = window.sentence
        left, content, right = _split(window)
        # The sentence's own part is exactly the window without context: same tokens, owners and labels.
        assert [window.input_ids[k] for k in content] == list(alone.input_ids[1:-1])
        assert [window.word_ids[k] for k in content] == list(alone.word_ids[1:-1])
        assert window.labels is not None and alone.labels is not None
        assert [window.labels[k] for k in content] == list(alone.labels[1:-1])
        assert all(window.labels[k] == alone.labels[0] for k in left + right)  # IGNORE on context
        assert (window.own_start, window.own_end) == (alone.own_start, alone.own_end)
        assert len(window.input_ids) <= max_length
        assert len(left) <= context and len(right) <= context
        # Left context: the pieces of the last whole words before the window's sentence, same document only.
        left_ids = [window.input_ids[k] for k in left]
        before = _words_before(tokenizer, sentences, documents, s)
        if alone.word_ids[1] != 0:
            assert left_ids == []  # a window inside a long sentence takes nothing from other sentences
        taken = [w for n in range(len(before) + 1) if (w := before[len(before) - n :])]
        candidates = [[]] + [[t for word in words for t in _pieces(tokenizer, word)] for words in taken]
        assert left_ids in candidates
        right_ids = [window.input_ids[k] for k in right]
        after = _words_after(tokenizer, sentences, documents, s)
        candidates = [[t for word in after[:n] for t in _pieces(tokenizer, word)] for n in range(len(after) + 1)]
        assert right_ids in candidates
        # Context words keep their shapes (the case features see them); specials stay PAD.
        assert window.shape_ids[0] == PAD_SHAPE and window.shape_ids[-1] == PAD_SHAPE
        assert len(window.shape_ids) == len(window.input_ids)


def test_hand_case_takes_nearest_words_up_to_the_limit(tokenizer: Any) -> None:
    # One-piece words; context 2 on each side, plenty of room.
    sentences = [["Maria", "flew", "to"], ["Lisbon", "."], ["QUILL", "in", "Harbour"], ["Okafor"]]
    documents = [0, 0, 0, 1]
    for word in {w for s in sentences for w in s}:
        assert len(_pieces(tokenizer, word)) == 1, word
    windows = encode(_plan(tokenizer, 64, 2), sentences, None, documents)
    words_of = {t: w for s in sentences for w in s for t in _pieces(tokenizer, w)}

    def context_words(window: Window) -> tuple[list[str], list[str]]:
        left, _, right = _split(window)
        return [words_of[window.input_ids[k]] for k in left], [words_of[window.input_ids[k]] for k in right]

    assert context_words(windows[0]) == ([], ["Lisbon", "."])
    assert context_words(windows[1]) == (["flew", "to"], ["QUILL", "in"])
    assert context_words(windows[2]) == (["Lisbon", "."], [])  # the next sentence is another document
    assert context_words(windows[3]) == ([], [])
    shapes = windows[1].shape_ids
    assert shapes[1:3] == (word_shape("flew"), word_shape("to"))


def test_little_room_is_shared_between_the_sides(tokenizer: Any) -> None:
    # max_length 8: [CLS] + 2 words + [SEP] leaves room 4, split 2 and 2 although context allows 5 a side.
    sentences = [["Maria", "flew", "to", "Lisbon"], ["QUILL", "in"], [".", "Harbour", "Okafor", "to"]]
    windows = encode(_plan(tokenizer, 8, 5), sentences, None, [0, 0, 0])
    left, content, right = _split(windows[1])
    assert (len(left), len(content), len(right)) == (2, 2, 2)
    # At a document's start the right side may use the whole room.
    left, content, right = _split(windows[0])
    assert (len(left), len(content), len(right)) == (0, 4, 2)


def test_no_documents_means_no_context(tokenizer: Any) -> None:
    sentences = [["Maria", "flew"], ["to", "Lisbon"]]
    assert encode(_plan(tokenizer, 64, 8), sentences) == encode(_plan(tokenizer, 64, 0), sentences)
    with pytest.raises(ValueError, match="3 document ids for 2 sentences"):
        encode(_plan(tokenizer, 64, 8), sentences, None, [0, 0, 1])
