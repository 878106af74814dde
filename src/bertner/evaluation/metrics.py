"""Entity precision, recall and F1 with conlleval's semantics, plus token accuracy.

An entity counts as correct only when gold and predicted agree on its start, end and type; a
predicted entity with the right type but a wrong boundary is both a false positive and a false
negative. Entities are read from tags by :func:`bertner.evaluation.spans.chunks`, which follows
conlleval's rules for invalid sequences. Scores are fractions in [0, 1] (conlleval prints percentages).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bertner.evaluation.spans import Entity, chunks

__all__ = ["Scores", "TypeScores", "score"]


@dataclass(frozen=True)
class TypeScores:
    """Precision, recall and F1 over a set of entities, with the counts they come from.

    ``gold``, ``predicted`` and ``correct`` count entities. A score whose denominator is zero is 0.0,
    as conlleval reports it, rather than undefined.
    """

    precision: float
    recall: float
    f1: float
    gold: int
    predicted: int
    correct: int

    @classmethod
    def from_counts(cls, gold: int, predicted: int, correct: int) -> TypeScores:
        """Scores from entity counts, with conlleval's 0.0 for an empty denominator."""
        precision = correct / predicted if predicted else 0.0
        recall = correct / gold if gold else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return cls(precision, recall, f1, gold, predicted, correct)

    def to_dict(self) -> dict[str, float | int]:
        """The scores and counts as a plain dict, for JSON reports."""
        return {
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "gold": self.gold,
            "predicted": self.predicted,
            "correct": self.correct,
        }


@dataclass(frozen=True)
class Scores:
    """The result of :func:`score`.

    Attributes:
        overall: micro-averaged entity scores over all types (conlleval's headline numbers).
        per_type: entity scores for every type seen in gold or predicted tags, sorted by type.
        accuracy: fraction of words whose predicted tag string equals the gold one (0.0 for no words).
        words: number of words scored.
        macro_f1: unweighted mean of the per-type F1 (0.0 when there are no types).
    """

    overall: TypeScores
    per_type: dict[str, TypeScores]
    accuracy: float
    words: int
    macro_f1: float

    def to_dict(self) -> dict[str, Any]:
        """``{"overall": {...}, "per_type": {TYPE: {...}}}``, for JSON reports."""
        overall: dict[str, float | int] = {
            **self.overall.to_dict(),
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "words": self.words,
        }
        return {
            "overall": overall,
            "per_type": {name: scores.to_dict() for name, scores in self.per_type.items()},
        }


def _check_shapes(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> None:
    """Raise ValueError, naming the sentence, unless gold and predicted have the same shape."""
    if len(gold) != len(predicted):
        raise ValueError(f"gold has {len(gold)} sentences but predicted has {len(predicted)}")
    for index, (gold_tags, predicted_tags) in enumerate(zip(gold, predicted, strict=True)):
        # A bare string is a Sequence[str] too; scoring its characters as tags would be nonsense.
        if isinstance(gold_tags, str) or isinstance(predicted_tags, str):
            raise ValueError(f"sentence {index}: expected a sequence of tags, got a string")
        if len(gold_tags) != len(predicted_tags):
            raise ValueError(
                f"sentence {index}: gold has {len(gold_tags)} tags but predicted has {len(predicted_tags)}"
            )


def score(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> Scores:
    """Score predicted tags against gold tags, sentence by sentence, as conlleval does.

    Entities never cross sentences, just as the blank line between sentences ends every chunk in
    conlleval. Token accuracy follows conlleval too: a word is correct iff its whole tag string is
    equal, so ``I-PER`` against ``B-PER`` is a wrong word even when both give the same entity.

    Args:
        gold: one list of tags per sentence.
        predicted: the same shape as ``gold``.

    Raises:
        ValueError: if the number of sentences or a sentence's length differs (naming the sentence),
            or for a malformed tag.
    """
    _check_shapes(gold, predicted)
    gold_counts: Counter[str] = Counter()
    predicted_counts: Counter[str] = Counter()
    correct_counts: Counter[str] = Counter()
    words = correct_words = 0
    for index, (gold_tags, predicted_tags) in enumerate(zip(gold, predicted, strict=True)):
        try:
            gold_entities = set(chunks(gold_tags))
            predicted_entities = set(chunks(predicted_tags))
        except ValueError as error:
            raise ValueError(f"sentence {index}: {error}") from error
        gold_counts.update(entity.type for entity in gold_entities)
        predicted_counts.update(entity.type for entity in predicted_entities)
        correct: set[Entity] = gold_entities & predicted_entities
        correct_counts.update(entity.type for entity in correct)
        words += len(gold_tags)
        correct_words += sum(g == p for g, p in zip(gold_tags, predicted_tags, strict=True))

    per_type = {
        name: TypeScores.from_counts(gold_counts[name], predicted_counts[name], correct_counts[name])
        for name in sorted(gold_counts.keys() | predicted_counts.keys())
    }
    overall = TypeScores.from_counts(
        sum(gold_counts.values()), sum(predicted_counts.values()), sum(correct_counts.values())
    )
    macro_f1 = sum(s.f1 for s in per_type.values()) / len(per_type) if per_type else 0.0
    return Scores(
        overall=overall,
        per_type=per_type,
        accuracy=correct_words / words if words else 0.0,
        words=words,
        macro_f1=macro_f1,
    )
