"""Word labels -> sub-token labels: hypothesis properties over random `word_ids`, checked against the
pieces each word was built from (the oracle), not against the functions' own bookkeeping."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from bertner.data.alignment import IGNORE, align_all, align_first, first_subtokens
from bertner.labels import LabelSet

LABELS = LabelSet.from_types(["LOC", "ORG", "PER"])


@dataclass(frozen=True)
class Tokenised:
    """A sentence as a tokenizer would give it: word_ids with specials, and what was used to build them."""

    word_ids: list[int | None]
    piece_counts: list[int]
    labels: list[int]
    labelled: frozenset[int]
    prefix: int

    def positions(self, word: int) -> list[int]:
        """Where word's sub-tokens are, computed from the piece counts alone."""
        start = self.prefix + sum(self.piece_counts[:word])
        return list(range(start, start + self.piece_counts[word]))


@st.composite
def tokenised(draw: st.DrawFn) -> Tokenised:
    counts = draw(st.lists(st.integers(1, 4), max_size=12))
    prefix, suffix = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    word_ids: list[int | None] = [None] * prefix
    for word, count in enumerate(counts):
        word_ids += [word] * count
    word_ids += [None] * suffix
    labels = draw(st.lists(st.integers(0, len(LABELS) - 1), min_size=len(counts), max_size=len(counts)))
    labelled = draw(st.frozensets(st.integers(0, max(len(counts) - 1, 0)))) if counts else frozenset()
    return Tokenised(word_ids, counts, labels, labelled, prefix)


def _inside(label: int) -> int:
    """B-X -> I-X by name; everything else stays."""
    name = LABELS.labels[label]
    return LABELS.label2id["I-" + name[2:]] if name.startswith("B-") else label


@settings(deadline=None)  # the machine may be busy; speed is not what is tested
@given(tokenised())
def test_first_labels_each_word_once_at_its_first_sub_token(sentence: Tokenised) -> None:
    out = align_first(sentence.word_ids, sentence.labels)
    assert len(out) == len(sentence.word_ids)
    expected = [IGNORE] * len(sentence.word_ids)
    for word, label in enumerate(sentence.labels):
        expected[sentence.positions(word)[0]] = label
    assert out == expected
    assert sum(label != IGNORE for label in out) == len(sentence.piece_counts)
    assert first_subtokens(sentence.word_ids) == [sentence.positions(w)[0] for w in range(len(sentence.labels))]


@settings(deadline=None)
@given(tokenised())
def test_all_labels_every_sub_token_with_inside_on_continuations(sentence: Tokenised) -> None:
    out = align_all(sentence.word_ids, sentence.labels, LABELS.inside_of())
    expected = [IGNORE] * len(sentence.word_ids)
    for word, label in enumerate(sentence.labels):
        first, *rest = sentence.positions(word)
        expected[first] = label
        for position in rest:
            expected[position] = _inside(label)
    assert out == expected
    # Only the specials are ignored.
    assert [k for k, label in enumerate(out) if label == IGNORE] == [
        k for k, word in enumerate(sentence.word_ids) if word is None
    ]


@settings(deadline=None)
@given(tokenised())
def test_labelled_restricts_both_alignments_to_owned_words(sentence: Tokenised) -> None:
    first = align_first(sentence.word_ids, sentence.labels, sentence.labelled)
    every = align_all(sentence.word_ids, sentence.labels, LABELS.inside_of(), sentence.labelled)
    unrestricted_first = align_first(sentence.word_ids, sentence.labels)
    unrestricted_every = align_all(sentence.word_ids, sentence.labels, LABELS.inside_of())
    for word in range(len(sentence.labels)):
        for position in sentence.positions(word):
            if word in sentence.labelled:
                assert first[position] == unrestricted_first[position]
                assert every[position] == unrestricted_every[position]
            else:
                assert first[position] == IGNORE
                assert every[position] == IGNORE
    assert sum(label != IGNORE for label in first) == len(sentence.labelled)


def test_hand_written_case() -> None:
    # [CLS] Wash ##ington visited Lis ##b ##on [SEP]; labels B-PER, O, B-LOC.
    word_ids = [None, 0, 0, 1, 2, 2, 2, None]
    b_per, b_loc, i_loc, i_per = (LABELS.label2id[t] for t in ("B-PER", "B-LOC", "I-LOC", "I-PER"))
    labels = [b_per, 0, b_loc]
    assert align_first(word_ids, labels) == [IGNORE, b_per, IGNORE, 0, b_loc, IGNORE, IGNORE, IGNORE]
    assert align_all(word_ids, labels, LABELS.inside_of()) == [IGNORE, b_per, i_per, 0, b_loc, i_loc, i_loc, IGNORE]
    assert align_first(word_ids, labels, labelled=range(1, 3)) == [IGNORE, IGNORE, IGNORE, 0, b_loc] + [IGNORE] * 3
