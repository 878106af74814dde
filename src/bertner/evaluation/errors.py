"""Entity-level error taxonomy: what went wrong with each entity a system did not get exactly right.

In each sentence the gold and the predicted entities (read by :func:`~bertner.evaluation.spans.chunks`)
are paired one to one by :func:`match_entities`:

1. A gold and a predicted entity with the same start, end and type are a *correct* pair.
2. Of the rest, every pair that overlaps (shares at least one word) is a candidate. Candidates are taken
   in order of the number of shared words (most first), then same type before different type, then
   the gold entity's start, then the predicted entity's start; a candidate is kept when neither of its
   entities is paired yet. Entities of one tag sequence never overlap each other, so a same-span pair
   is always kept.
3. A gold entity left unpaired is *missed*, and a predicted entity left unpaired is *spurious*.

A kept pair is a *wrong_type* error when the spans are equal (so the types differ), *wrong_boundary*
when the types are equal (so the spans differ), and *wrong_type_and_boundary* otherwise.

Because the pairing is one to one, the counts add up: ``correct + missed + wrong_*`` is the number of
gold entities and ``correct + spurious + wrong_*`` the number of predicted ones, so missed + wrong_*
equals conlleval's false negatives and spurious + wrong_* its false positives. A gold entity that
overlaps no prediction is always missed; one that overlaps only predictions paired with other gold
entities is missed too (e.g. when one prediction covers two gold entities, the one it shares more
words with is a boundary error and the other is missed). The same holds for spurious predictions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from bertner.evaluation.spans import Entity, chunks

__all__ = [
    "ERROR_CATEGORIES",
    "NOTHING",
    "Category",
    "EntityError",
    "ErrorAnalysis",
    "ErrorExample",
    "Match",
    "analyse_errors",
    "error_examples",
    "mark_entities",
    "match_entities",
]

NOTHING = "O"
"""The type on the empty side of a missed or spurious error, in confusion pairs."""


class Category(str, Enum):
    """How a gold/predicted pair (or a lone entity) relates; everything but CORRECT is an error."""

    CORRECT = "correct"
    MISSED = "missed"
    SPURIOUS = "spurious"
    WRONG_TYPE = "wrong_type"
    WRONG_BOUNDARY = "wrong_boundary"
    WRONG_TYPE_AND_BOUNDARY = "wrong_type_and_boundary"


ERROR_CATEGORIES = tuple(category for category in Category if category is not Category.CORRECT)


@dataclass(frozen=True)
class Match:
    """One pair of :func:`match_entities`: ``gold`` is None when spurious, ``predicted`` when missed."""

    category: Category
    gold: Entity | None
    predicted: Entity | None

    @property
    def confusion(self) -> tuple[str, str]:
        """``(gold type, predicted type)``, with :data:`NOTHING` for the side that has no entity."""
        return (
            self.gold.type if self.gold else NOTHING,
            self.predicted.type if self.predicted else NOTHING,
        )

    @property
    def type(self) -> str:
        """The entity type the error is counted under: the gold type, or the predicted one if spurious."""
        entity = self.gold or self.predicted
        assert entity is not None, "a match has at least one entity"
        return entity.type


def _overlap(gold: Entity, predicted: Entity) -> int:
    return max(0, min(gold.end, predicted.end) - max(gold.start, predicted.start))


def _category(gold: Entity, predicted: Entity) -> Category:
    same_span = (gold.start, gold.end) == (predicted.start, predicted.end)
    if same_span:
        return Category.CORRECT if gold.type == predicted.type else Category.WRONG_TYPE
    return Category.WRONG_BOUNDARY if gold.type == predicted.type else Category.WRONG_TYPE_AND_BOUNDARY


def match_entities(gold: Sequence[Entity], predicted: Sequence[Entity]) -> tuple[Match, ...]:
    """Pair one sentence's gold and predicted entities one to one, by the rule in the module docstring.

    Args:
        gold: the gold entities of a sentence, e.g. ``chunks(gold_tags)``; they must not overlap.
        predicted: the predicted entities of the same sentence; they must not overlap.

    Returns:
        Every gold and every predicted entity in exactly one match, ordered by position.
    """
    exact = set(gold) & set(predicted)
    rest_gold = [entity for entity in gold if entity not in exact]
    rest_predicted = [entity for entity in predicted if entity not in exact]
    candidates = sorted(
        ((g, p) for g in rest_gold for p in rest_predicted if _overlap(g, p)),
        key=lambda pair: (-_overlap(*pair), pair[0].type != pair[1].type, pair[0].start, pair[1].start),
    )
    matches = [Match(Category.CORRECT, entity, entity) for entity in exact]
    paired_gold: set[Entity] = set()
    paired_predicted: set[Entity] = set()
    for g, p in candidates:
        if g not in paired_gold and p not in paired_predicted:
            paired_gold.add(g)
            paired_predicted.add(p)
            matches.append(Match(_category(g, p), g, p))
    matches += [Match(Category.MISSED, g, None) for g in rest_gold if g not in paired_gold]
    matches += [Match(Category.SPURIOUS, None, p) for p in rest_predicted if p not in paired_predicted]

    def position(match: Match) -> tuple[int, int]:
        entity = match.gold or match.predicted
        assert entity is not None
        return entity.start, entity.end

    return tuple(sorted(matches, key=position))


@dataclass(frozen=True)
class EntityError:
    """One error of a prediction set: a non-correct :class:`Match` and the sentence it is in."""

    sentence: int
    match: Match

    @property
    def category(self) -> Category:
        return self.match.category


@dataclass(frozen=True)
class ErrorAnalysis:
    """The matches of every sentence of a prediction set, and counts over them.

    Attributes:
        matches: per sentence, the output of :func:`match_entities`.
    """

    matches: tuple[tuple[Match, ...], ...]

    @property
    def errors(self) -> tuple[EntityError, ...]:
        """Every error, in file order."""
        return tuple(
            EntityError(index, match)
            for index, matches in enumerate(self.matches)
            for match in matches
            if match.category is not Category.CORRECT
        )

    def counts(self) -> dict[str, int]:
        """Number of matches per category (``correct`` included), every category present."""
        found = Counter(match.category for matches in self.matches for match in matches)
        return {category.value: found[category] for category in Category}

    def per_type(self) -> dict[str, dict[str, int]]:
        """Per entity type (see :attr:`Match.type`), the number of matches per category."""
        found: Counter[tuple[str, Category]] = Counter(
            (match.type, match.category) for matches in self.matches for match in matches
        )
        types = sorted({entity_type for entity_type, _ in found})
        return {t: {category.value: found[t, category] for category in Category} for t in types}

    def confusions(self) -> Counter[tuple[str, str]]:
        """How often each ``(gold type, predicted type)`` pair occurs among the errors."""
        return Counter(error.match.confusion for error in self.errors)


def analyse_errors(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> ErrorAnalysis:
    """Match the entities of each sentence's gold and predicted tags (see :func:`match_entities`).

    Raises:
        ValueError: if the shapes differ or a tag is malformed, naming the sentence.
    """
    if len(gold) != len(predicted):
        raise ValueError(f"gold has {len(gold)} sentences but predicted has {len(predicted)}")
    per_sentence = []
    for index, (gold_tags, predicted_tags) in enumerate(zip(gold, predicted, strict=True)):
        if len(gold_tags) != len(predicted_tags):
            raise ValueError(f"sentence {index}: {len(gold_tags)} gold tags but {len(predicted_tags)} predicted")
        try:
            per_sentence.append(match_entities(chunks(gold_tags), chunks(predicted_tags)))
        except ValueError as error:
            raise ValueError(f"sentence {index}: {error}") from error
    return ErrorAnalysis(tuple(per_sentence))


def mark_entities(words: Sequence[str], entities: Sequence[Entity]) -> str:
    """The words joined by spaces, with each entity written ``[Paris]LOC``."""
    starts = {entity.start: entity for entity in entities}
    parts: list[str] = []
    position = 0
    while position < len(words):
        entity = starts.get(position)
        if entity is None:
            parts.append(words[position])
            position += 1
        else:
            parts.append(f"[{' '.join(words[entity.start : entity.end])}]{entity.type}")
            position = entity.end
    return " ".join(parts)


@dataclass(frozen=True)
class ErrorExample:
    """One error shown in a report.

    Attributes:
        category: the error's category value, e.g. ``"wrong_type"``.
        confusion: ``(gold type, predicted type)``, with ``O`` for a missing side.
        sentence: index of the sentence in the prediction set.
        document: the sentence's document index.
        where: ``path:line`` of the sentence's first word.
        gold: the gold entity, marked (``[Paris]LOC``), or ``""`` for a spurious error.
        predicted: the predicted entity, marked, or ``""`` for a missed one.
        gold_text: the sentence with all its gold entities marked.
        predicted_text: the sentence with all its predicted entities marked.
        before: the texts of the preceding sentences of the same document, nearest last.
        after: the texts of the following sentences of the same document, nearest first.
    """

    category: str
    confusion: tuple[str, str]
    sentence: int
    document: int
    where: str
    gold: str
    predicted: str
    gold_text: str
    predicted_text: str
    before: tuple[str, ...]
    after: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        """The example as a plain dict, for JSON reports."""
        return {
            "category": self.category,
            "confusion": list(self.confusion),
            "sentence": self.sentence,
            "document": self.document,
            "where": self.where,
            "gold": self.gold,
            "predicted": self.predicted,
            "gold_text": self.gold_text,
            "predicted_text": self.predicted_text,
            "before": list(self.before),
            "after": list(self.after),
        }


def _ordered(errors: Sequence[EntityError]) -> list[EntityError]:
    """Round robin over confusion pairs, the most frequent pair first, each pair's errors in file order."""
    by_pair: dict[tuple[str, str], list[EntityError]] = {}
    for error in errors:
        by_pair.setdefault(error.match.confusion, []).append(error)
    pairs = sorted(by_pair, key=lambda pair: (-len(by_pair[pair]), pair))
    ordered: list[EntityError] = []
    for round_index in range(max((len(group) for group in by_pair.values()), default=0)):
        ordered += [by_pair[pair][round_index] for pair in pairs if round_index < len(by_pair[pair])]
    return ordered


def error_examples(
    analysis: ErrorAnalysis,
    words: Sequence[Sequence[str]],
    documents: Sequence[int],
    per_category: int = 20,
    context: int = 1,
    where: Sequence[str] | None = None,
) -> dict[str, tuple[ErrorExample, ...]]:
    """For each error category, up to ``per_category`` examples with their document context.

    The examples of a category are taken round robin over its confusion pairs (``(gold type, predicted
    type)``), the most frequent pair first and each pair's errors in file order: the first example
    shows the most frequent confusion, and rarer confusions still appear.

    Args:
        analysis: the matches of every sentence.
        words: the words of every sentence.
        documents: the document index of every sentence; context never crosses a document.
        per_category: the most examples per category.
        context: how many sentences before and after each example to include.
        where: ``path:line`` of every sentence, if known.

    Raises:
        ValueError: if ``words`` or ``documents`` does not have one entry per sentence, or
            ``per_category`` or ``context`` is negative.
    """
    if per_category < 0 or context < 0:
        raise ValueError(f"per_category and context must be at least 0, got {per_category} and {context}")
    count = len(analysis.matches)
    if len(words) != count or len(documents) != count or (where is not None and len(where) != count):
        raise ValueError(f"need words, documents (and where) for each of the {count} sentences")

    def text(index: int) -> str:
        return " ".join(words[index])

    def example(error: EntityError) -> ErrorExample:
        index, match = error.sentence, error.match
        matches = analysis.matches[index]
        near = range(max(0, index - context), min(count, index + context + 1))
        same_document = [i for i in near if documents[i] == documents[index]]
        return ErrorExample(
            category=match.category.value,
            confusion=match.confusion,
            sentence=index,
            document=documents[index],
            where=where[index] if where is not None else "",
            gold=_marked(words[index], match.gold),
            predicted=_marked(words[index], match.predicted),
            gold_text=mark_entities(words[index], [m.gold for m in matches if m.gold]),
            predicted_text=mark_entities(words[index], [m.predicted for m in matches if m.predicted]),
            before=tuple(text(i) for i in same_document if i < index),
            after=tuple(text(i) for i in same_document if i > index),
        )

    by_category: dict[Category, list[EntityError]] = {category: [] for category in ERROR_CATEGORIES}
    for error in analysis.errors:
        by_category[error.category].append(error)
    return {
        category.value: tuple(example(error) for error in _ordered(errors)[:per_category])
        for category, errors in by_category.items()
    }


def _marked(words: Sequence[str], entity: Entity | None) -> str:
    if entity is None:
        return ""
    return f"[{' '.join(words[entity.start : entity.end])}]{entity.type}"
