"""Word labels -> sub-token labels, as pure functions over a tokenizer's `word_ids`.

`word_ids[k]` is the index of the word that sub-token `k` belongs to, or None for special tokens.
Positions that carry no label get IGNORE, which the loss skips.
"""

from __future__ import annotations

from collections.abc import Container, Sequence

IGNORE = -100


def first_subtokens(word_ids: Sequence[int | None]) -> list[int]:
    """Positions of each word's first sub-token, in order of appearance."""
    positions, previous = [], None
    for position, word in enumerate(word_ids):
        if word is not None and word != previous:
            positions.append(position)
        previous = word
    return positions


def align_first(
    word_ids: Sequence[int | None], word_labels: Sequence[int], labelled: Container[int] | None = None
) -> list[int]:
    """The word's label on its first sub-token; IGNORE on continuations, specials and unlabelled words.

    `labelled` restricts which word indices get a label (a long sentence's window owns only some words).
    """
    out = [IGNORE] * len(word_ids)
    for position in first_subtokens(word_ids):
        word = word_ids[position]
        assert word is not None
        if labelled is None or word in labelled:
            out[position] = word_labels[word]
    return out


def align_all(
    word_ids: Sequence[int | None],
    word_labels: Sequence[int],
    inside_of: Sequence[int],
    labelled: Container[int] | None = None,
) -> list[int]:
    """The word's label on every sub-token, with B-X turned into I-X on continuation pieces.

    `inside_of[label]` is the label to use on a continuation piece (the B->I table of the label set).
    """
    out = [IGNORE] * len(word_ids)
    previous = None
    for position, word in enumerate(word_ids):
        if word is not None and (labelled is None or word in labelled):
            label = word_labels[word]
            out[position] = label if word != previous else inside_of[label]
        previous = word
    return out
