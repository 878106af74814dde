"""Confusion matrices: word-level over tags, and entity-level over entity types.

The token-level matrix counts, for every word, its gold tag (row) against its predicted tag (column),
``O`` included, so its total is the number of words and its diagonal the number of correctly tagged
words (the numerator of token accuracy).

The entity-level matrix counts the pairs of :func:`bertner.evaluation.errors.match_entities`: gold
type (row) against predicted type (column), plus a ``missed`` column for gold entities paired with no
prediction and a ``spurious`` row for predictions paired with no gold entity. Each gold entity is in
exactly one cell of its row and each predicted entity in exactly one cell of its column, so row sums
are gold counts and column sums are predicted counts. The diagonal holds correct entities *and*
wrong-boundary errors (same type, different span); off the diagonal are wrong-type errors with or
without a boundary error.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from bertner.evaluation.errors import ErrorAnalysis
from bertner.evaluation.spans import OUTSIDE, parse_tag

__all__ = ["MISSED", "SPURIOUS", "ConfusionMatrix", "entity_confusion", "label_order", "token_confusion"]

MISSED = "missed"
SPURIOUS = "spurious"

# Order of prefixes within one entity type in the token matrix: B, I, then BIOES's E and S.
_PREFIX_ORDER = {"B": 0, "I": 1, "E": 2, "S": 3, "[": 4, "]": 5}


@dataclass(frozen=True)
class ConfusionMatrix:
    """Counts of (gold, predicted) label pairs.

    Attributes:
        rows: the gold labels, in order.
        columns: the predicted labels, in order.
        counts: ``counts[i][j]`` is how often gold ``rows[i]`` met predicted ``columns[j]``.
    """

    rows: tuple[str, ...]
    columns: tuple[str, ...]
    counts: tuple[tuple[int, ...], ...]

    def __post_init__(self) -> None:
        if len(self.counts) != len(self.rows) or any(len(row) != len(self.columns) for row in self.counts):
            raise ValueError(f"counts must be {len(self.rows)} rows of {len(self.columns)} columns")

    def count(self, gold: str, predicted: str) -> int:
        """The count in row ``gold`` and column ``predicted``."""
        return self.counts[self.rows.index(gold)][self.columns.index(predicted)]

    @property
    def total(self) -> int:
        """The sum of all counts."""
        return sum(map(sum, self.counts))

    def normalised(self) -> tuple[tuple[float, ...], ...]:
        """Each row divided by its sum (the share of a gold label going to each prediction); empty rows are 0."""
        return tuple(tuple(value / sum(row) if sum(row) else 0.0 for value in row) for row in self.counts)

    def to_csv(self, normalised: bool = False) -> str:
        """The matrix as CSV: a header of predicted labels, then one row per gold label.

        The corner cell is ``gold\\predicted``. Normalised values have 4 decimals.
        """
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["gold\\predicted", *self.columns])
        values: Sequence[Sequence[float | int]] = self.normalised() if normalised else self.counts
        for label, row in zip(self.rows, values, strict=True):
            writer.writerow([label, *(f"{value:.4f}" if normalised else value for value in row)])
        return buffer.getvalue()


def label_order(tags: set[str]) -> tuple[str, ...]:
    """``O`` first, then the tags grouped by entity type (sorted), ``B`` before ``I`` within a type."""

    def key(tag: str) -> tuple[int, str, int]:
        prefix, entity_type = parse_tag(tag, 0)
        return (0, "", 0) if tag == OUTSIDE else (1, entity_type, _PREFIX_ORDER[prefix])

    return tuple(sorted(tags, key=key))


def token_confusion(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> ConfusionMatrix:
    """The word-level confusion matrix over every tag seen in gold or predicted, ``O`` included.

    Raises:
        ValueError: if the shapes differ (naming the sentence) or a tag is malformed.
    """
    if len(gold) != len(predicted):
        raise ValueError(f"gold has {len(gold)} sentences but predicted has {len(predicted)}")
    pairs: Counter[tuple[str, str]] = Counter()
    for index, (gold_tags, predicted_tags) in enumerate(zip(gold, predicted, strict=True)):
        if len(gold_tags) != len(predicted_tags):
            raise ValueError(f"sentence {index}: {len(gold_tags)} gold tags but {len(predicted_tags)} predicted")
        pairs.update(zip(gold_tags, predicted_tags, strict=True))
    labels = label_order({tag for pair in pairs for tag in pair} | {OUTSIDE})
    counts = tuple(tuple(pairs[g, p] for p in labels) for g in labels)
    return ConfusionMatrix(labels, labels, counts)


def entity_confusion(analysis: ErrorAnalysis) -> ConfusionMatrix:
    """Gold entity type against predicted entity type, from the one-to-one matching of errors.py.

    Rows are the types followed by ``spurious``; columns are the types followed by ``missed``.
    """
    pairs: Counter[tuple[str, str]] = Counter()
    types: set[str] = set()
    for matches in analysis.matches:
        for match in matches:
            gold = match.gold.type if match.gold else SPURIOUS
            predicted = match.predicted.type if match.predicted else MISSED
            pairs[gold, predicted] += 1
            types.update(entity.type for entity in (match.gold, match.predicted) if entity)
    rows, columns = (*sorted(types), SPURIOUS), (*sorted(types), MISSED)
    return ConfusionMatrix(rows, columns, tuple(tuple(pairs[g, p] for p in columns) for g in rows))
