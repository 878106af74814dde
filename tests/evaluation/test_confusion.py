"""Confusion matrices: a hand-counted example, CSV layout, and totals that match the words and entities."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bertner.evaluation.confusion import ConfusionMatrix, entity_confusion, label_order, token_confusion
from bertner.evaluation.errors import analyse_errors
from bertner.evaluation.metrics import score

GOLD = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
PREDICTED = [["B-PER", "O", "O", "B-ORG"], ["B-ORG", "B-MISC"]]


def test_token_confusion_hand_counted() -> None:
    matrix = token_confusion(GOLD, PREDICTED)
    assert matrix.rows == ("O", "B-LOC", "B-MISC", "B-ORG", "B-PER", "I-PER")
    assert matrix.rows == matrix.columns
    assert matrix.count("B-PER", "B-PER") == 1
    assert matrix.count("I-PER", "O") == 1
    assert matrix.count("O", "O") == 1
    assert matrix.count("O", "B-MISC") == 1
    assert matrix.count("B-LOC", "B-ORG") == 1
    assert matrix.count("B-ORG", "B-ORG") == 1
    assert matrix.total == 6


def test_label_order_groups_types() -> None:
    assert label_order({"I-PER", "O", "B-PER", "S-LOC", "E-LOC", "B-LOC"}) == (
        "O",
        "B-LOC",
        "E-LOC",
        "S-LOC",
        "B-PER",
        "I-PER",
    )


def test_csv_round_trip_and_normalised_rows() -> None:
    matrix = token_confusion(GOLD, PREDICTED)
    rows = list(csv.reader(io.StringIO(matrix.to_csv())))
    assert rows[0] == ["gold\\predicted", *matrix.columns]
    assert [[int(v) for v in row[1:]] for row in rows[1:]] == [list(r) for r in matrix.counts]
    normalised = list(csv.reader(io.StringIO(matrix.to_csv(normalised=True))))
    for label, row in zip(matrix.rows, normalised[1:], strict=True):
        total = sum(float(v) for v in row[1:])
        # Rows with gold words sum to 1; a label seen only in predictions has an empty row.
        assert total == pytest.approx(1.0 if label != "B-MISC" else 0.0, abs=1e-3)


def test_matrix_rejects_wrong_shape() -> None:
    with pytest.raises(ValueError, match="2 rows of 1 columns"):
        ConfusionMatrix(("a", "b"), ("a",), ((1,),))


def test_token_confusion_shape_error() -> None:
    with pytest.raises(ValueError, match="sentence 0"):
        token_confusion([["O", "O"]], [["O"]])


def test_entity_confusion_hand_counted() -> None:
    matrix = entity_confusion(analyse_errors(GOLD, PREDICTED))
    assert matrix.rows == ("LOC", "MISC", "ORG", "PER", "spurious")
    assert matrix.columns == ("LOC", "MISC", "ORG", "PER", "missed")
    assert matrix.count("PER", "PER") == 1  # PER(0,2) vs PER(0,1): a boundary error on the diagonal
    assert matrix.count("LOC", "ORG") == 1
    assert matrix.count("ORG", "ORG") == 1
    assert matrix.count("spurious", "MISC") == 1
    assert matrix.total == 4


TAGS = ["O", "O", "O", "B-A", "I-A", "B-B", "I-B"]


@st.composite
def tag_sets(draw: st.DrawFn) -> tuple[list[list[str]], list[list[str]]]:
    gold = draw(st.lists(st.lists(st.sampled_from(TAGS), max_size=10), max_size=5))
    predicted = [draw(st.lists(st.sampled_from(TAGS), min_size=len(g), max_size=len(g))) for g in gold]
    return gold, predicted


@settings(max_examples=200, deadline=None)
@given(tag_sets())
def test_token_totals_are_words_and_diagonal_is_correct_words(data: tuple[list[list[str]], list[list[str]]]) -> None:
    gold, predicted = data
    matrix = token_confusion(gold, predicted)
    words = sum(len(tags) for tags in gold)
    right = sum(g == p for gs, ps in zip(gold, predicted, strict=True) for g, p in zip(gs, ps, strict=True))
    assert matrix.total == words
    assert sum(matrix.counts[i][i] for i in range(len(matrix.rows))) == right
    if words:
        assert right / words == score(gold, predicted).accuracy


@settings(max_examples=200, deadline=None)
@given(tag_sets())
def test_entity_rows_sum_to_gold_and_columns_to_predicted(data: tuple[list[list[str]], list[list[str]]]) -> None:
    gold, predicted = data
    matrix = entity_confusion(analyse_errors(gold, predicted))
    per_type = score(gold, predicted).per_type
    for row_label, row in zip(matrix.rows[:-1], matrix.counts[:-1], strict=True):
        assert sum(row) == per_type[row_label].gold
    for index, column_label in enumerate(matrix.columns[:-1]):
        assert sum(row[index] for row in matrix.counts) == per_type[column_label].predicted
    assert matrix.counts[-1][-1] == 0  # nothing is both spurious and missed
