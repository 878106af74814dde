"""Prediction files (``word gold pred`` per line) and type maps for evaluating across datasets.

A prediction file is what :func:`bertner.data.conll.format_predictions` writes, and what
conlleval.pl reads: one word per line with its gold and predicted tag as the last two columns, a blank
line after each sentence, and ``-DOCSTART-`` lines (any columns) opening documents. Reading one back
gives a :class:`PredictionSet`, from which every analysis in this package is computed, so a report can
be made again from a saved file without running the model.

A :class:`TypeMap` renames entity types (``PERSON=PER``) so that a model can be scored on a dataset
whose types are spelled differently; :func:`type_coverage` then names the types one side has and the
other cannot produce, instead of failing on them.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from bertner.data.conll import DOCSTART, Sentence
from bertner.errors import UserError
from bertner.evaluation.spans import OUTSIDE, chunks, parse_tag
from bertner.labels import split_tag

__all__ = [
    "PredictionSet",
    "TypeCoverage",
    "TypeMap",
    "apply_type_map",
    "entity_types",
    "map_sentences",
    "parse_type_map",
    "read_predictions",
    "type_coverage",
]

_SEPARATOR = re.compile(r"[ \t]+")


@dataclass(frozen=True)
class PredictionSet:
    """Gold sentences and the tags a system predicted for them, sentence by sentence.

    Attributes:
        sentences: the gold sentences, in file order; each knows its document index.
        predicted: one tuple of tags per sentence, as long as that sentence.
    """

    sentences: tuple[Sentence, ...]
    predicted: tuple[tuple[str, ...], ...]

    def __post_init__(self) -> None:
        if len(self.sentences) != len(self.predicted):
            raise ValueError(f"{len(self.sentences)} sentences but {len(self.predicted)} predicted tag sequences")
        for index, (sentence, tags) in enumerate(zip(self.sentences, self.predicted, strict=True)):
            if len(sentence.tags) != len(tags):
                raise ValueError(
                    f"sentence {index} ({sentence.where()}): {len(sentence.tags)} words but {len(tags)} predicted tags"
                )

    @property
    def gold(self) -> tuple[tuple[str, ...], ...]:
        """The gold tags of every sentence."""
        return tuple(sentence.tags for sentence in self.sentences)

    @property
    def words(self) -> int:
        """Number of words over all sentences."""
        return sum(len(sentence.words) for sentence in self.sentences)


@dataclass(frozen=True)
class _Line:
    number: int
    fields: list[str]


def _lines(path: Path) -> Iterator[_Line | None]:
    """Each non-blank line split into fields; None for a blank line (a sentence end)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as error:
        raise UserError(f"{path}: file not found") from error
    except UnicodeDecodeError as error:
        raise UserError(f"{path}: not valid UTF-8 ({error.reason} at byte {error.start})") from error
    except OSError as error:
        raise UserError(f"{path}: cannot read: {error.strerror}") from error
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        yield _Line(number, _SEPARATOR.split(stripped)) if stripped else None
    yield None


def _check_tag(path: Path, line: _Line, tag: str, column: str) -> str:
    try:
        split_tag(tag)
    except ValueError:
        raise UserError(
            f"{path}:{line.number}: {column} tag {tag!r} is not valid (expected O or B-/I-/E-/S- and a type)"
        ) from None
    return tag


def read_predictions(path: Path | str) -> PredictionSet:
    """Read a ``word gold pred`` file, as written by :func:`~bertner.data.conll.format_predictions`.

    The gold and predicted tags are the last two columns (earlier columns after the word are ignored,
    as conlleval does); every word line must have as many columns as the file's first one. Tags are
    kept as written, in whatever scheme, since the scorer reads any scheme by conlleval's rules.
    Documents are numbered from 0; sentences before the first ``-DOCSTART-`` belong to document 0, as
    in :func:`~bertner.data.conll.read_conll`.

    Raises:
        UserError: ``path:line: ...`` for a wrong number of columns or an invalid tag, and
            ``path: ...`` for a file that cannot be read or holds no sentences.
    """
    path = Path(path)
    sentences: list[Sentence] = []
    predicted: list[tuple[str, ...]] = []
    block: list[_Line] = []
    columns: int | None = None
    document, starts_document, seen_docstart = 0, False, False
    for line in _lines(path):
        if line is not None and line.fields[0] != DOCSTART:
            if columns is None:
                columns = len(line.fields)
                if columns < 3:
                    raise UserError(f"{path}:{line.number}: expected word, gold and predicted columns, found {columns}")
            if len(line.fields) != columns:
                raise UserError(f"{path}:{line.number}: expected {columns} columns, found {len(line.fields)}")
            block.append(line)
            continue
        if block:
            words = tuple(entry.fields[0] for entry in block)
            gold = tuple(_check_tag(path, entry, entry.fields[-2], "gold") for entry in block)
            tags = tuple(_check_tag(path, entry, entry.fields[-1], "predicted") for entry in block)
            sentences.append(Sentence(words, gold, document, starts_document, str(path), block[0].number))
            predicted.append(tags)
            block, starts_document = [], False
        if line is not None:  # a -DOCSTART- line
            document += 1 if seen_docstart else 0
            seen_docstart, starts_document = True, True
    if not sentences:
        raise UserError(f"{path}: no sentences found")
    return PredictionSet(tuple(sentences), tuple(predicted))


@dataclass(frozen=True)
class TypeMap:
    """Renames of entity types, e.g. ``{"PERSON": "PER"}``; a type mapped to ``O`` is dropped.

    Types not in the map keep their name.
    """

    renames: Mapping[str, str] = field(default_factory=dict)

    def __call__(self, entity_type: str) -> str:
        return self.renames.get(entity_type, entity_type)


def parse_type_map(text: str) -> TypeMap:
    """Parse ``"PERSON=PER,LOCATION=LOC,DATE=O"`` (spaces around items are ignored).

    Raises:
        UserError: naming the item, for an item without ``=``, an empty side, or a type mapped twice.
    """
    renames: dict[str, str] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        source, equals, target = (side.strip() for side in item.partition("="))
        if not equals or not source or not target:
            raise UserError(f"type map item {item!r}: expected SOURCE=TARGET, e.g. PERSON=PER")
        if source in renames and renames[source] != target:
            raise UserError(f"type map item {item!r}: {source} is already mapped to {renames[source]}")
        renames[source] = target
    return TypeMap(renames)


def apply_type_map(tags: Sequence[str], mapping: TypeMap) -> tuple[str, ...]:
    """The tags with each entity type renamed, keeping every entity's boundaries.

    Renaming two types to one can join neighbouring entities (``B-A I-B`` is two entities, but
    ``B-C I-C`` is one), so an ``I-`` or ``E-`` that began a new entity because the type changed is
    rewritten as ``B-`` or ``S-``. Thus ``chunks(apply_type_map(tags, m))`` is ``chunks(tags)`` with
    every type renamed and the entities mapped to ``O`` left out.

    Raises:
        ValueError: for a malformed tag, naming it and its word position.
    """
    out: list[str] = []
    prev_type = prev_mapped = ""
    for position, tag in enumerate(tags):
        prefix, entity_type = parse_tag(tag, position)
        mapped = mapping(entity_type) if entity_type else ""
        if prefix == OUTSIDE or mapped == OUTSIDE:
            out.append(OUTSIDE)
        else:
            if entity_type != prev_type and mapped == prev_mapped:
                prefix = {"I": "B", "E": "S"}.get(prefix, prefix)
            out.append(f"{prefix}-{mapped}")
        prev_type, prev_mapped = entity_type, mapped
    return tuple(out)


def map_sentences(sentences: Iterable[Sentence], mapping: TypeMap) -> tuple[Sentence, ...]:
    """The sentences with their gold entity types renamed by ``mapping`` (see :func:`apply_type_map`)."""
    return tuple(replace(sentence, tags=apply_type_map(sentence.tags, mapping)) for sentence in sentences)


@dataclass(frozen=True)
class TypeCoverage:
    """Which entity types the gold data and the model share.

    Attributes:
        shared: types in both.
        gold_only: gold types the model cannot predict; every such entity is missed.
        model_only: types the model can predict that the gold data never has; every such prediction
            is spurious.
    """

    shared: tuple[str, ...]
    gold_only: tuple[str, ...]
    model_only: tuple[str, ...]

    def to_dict(self) -> dict[str, list[str]]:
        """The three lists, for JSON reports."""
        return {"shared": list(self.shared), "gold_only": list(self.gold_only), "model_only": list(self.model_only)}


def entity_types(tag_sequences: Iterable[Sequence[str]]) -> set[str]:
    """The entity types that occur in some tag sequences."""
    return {entity.type for tags in tag_sequences for entity in chunks(tags)}


def type_coverage(gold_types: Collection[str], model_types: Collection[str]) -> TypeCoverage:
    """Compare the gold data's entity types with those the model can predict (e.g. its label set's types)."""
    gold, model = set(gold_types), set(model_types)
    return TypeCoverage(tuple(sorted(gold & model)), tuple(sorted(gold - model)), tuple(sorted(model - gold)))
