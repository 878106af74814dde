"""What the readers return and the writers take: a text with its entity spans, and where it was read.

Offsets are end-exclusive. As read from a file they are in the file's own unit (code points, UTF-16 code
units or grapheme clusters); offsets.py turns them into code points (Python `str` indices), the unit every
later step works in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bertner.config import OFFSET_UNITS
from bertner.errors import UserError

CODEPOINTS = "codepoints"
UTF16 = "utf16"
GRAPHEMES = "graphemes"
UNITS = OFFSET_UNITS
assert UNITS == (CODEPOINTS, UTF16, GRAPHEMES)
"""How an export counts characters: Python and Label Studio count code points; doccano counts JavaScript's UTF-16
code units (doccano#2290), or grapheme clusters in its grapheme mode."""


@dataclass(frozen=True)
class Span:
    """An entity span `[start, end)` of type `type`. `text` is what the export says the span covers (None when it
    does not say); `score` a prediction's confidence (None for gold spans)."""

    start: int
    end: int
    type: str
    text: str | None = None
    score: float | None = None


@dataclass(frozen=True)
class AnnotatedText:
    """One task or document: its text, its spans, its id in the export (None if it has none), and the file and
    1-based line its record starts on."""

    text: str
    spans: tuple[Span, ...] = ()
    id: Any = None
    source: str = ""
    line: int = 0

    def where(self) -> str:
        return f"{self.source}:{self.line}"

    def describe(self, span: Span) -> str:
        """A span for messages: `[0, 6) ORG 'Google'` (the covered text, or the export's own when out of range)."""
        covered = self.text[span.start : span.end] if span.end <= len(self.text) else span.text
        return f"[{span.start}, {span.end}) {span.type} {covered!r}"


@dataclass(frozen=True)
class DroppedRecord:
    """A record that gives no annotated text: a skipped task, one without annotations, a rejected Prodigy answer."""

    line: int
    id: Any
    reason: str


@dataclass(frozen=True)
class FileRead:
    """What one annotation file holds, offsets still in the file's unit.

    `counts` are the file-level events worth reporting (annotations not chosen among several, result items that
    are not entity labels, ...), by name.
    """

    path: str
    format: str
    records: int
    texts: tuple[AnnotatedText, ...]
    dropped: tuple[DroppedRecord, ...] = ()
    counts: dict[str, int] = field(default_factory=dict)


def offset(value: Any, where: str, name: str) -> int:
    """An offset read from an export: a non-negative integer (not a bool, not a string of digits)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"{where}: {name} must be an integer offset, not {value!r}")
    if value < 0:
        raise UserError(f"{where}: {name} must not be negative, found {value}")
    return value


def entity_type(value: Any, where: str, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise UserError(f"{where}: {name} must be a non-empty string (the entity type), not {value!r}")
    return value


def make_span(start: Any, end: Any, type: Any, text: Any, where: str, names: tuple[str, str, str]) -> Span:
    """A span from an export's fields, checked: integer offsets with start <= end, a type, and a string text or
    None. `names` name the start, end and type fields in messages (`value.start`, `end_offset`, ...)."""
    first, last = offset(start, where, names[0]), offset(end, where, names[1])
    if first > last:
        raise UserError(f"{where}: span start {first} is after its end {last} ({names[0]} > {names[1]})")
    if text is not None and not isinstance(text, str):
        raise UserError(f"{where}: a span's text must be a string, not {text!r}")
    return Span(start=first, end=last, type=entity_type(type, where, names[2]), text=text)


def text_of(record: dict[str, Any], keys: tuple[str, ...], where: str) -> str:
    """The first of `keys` that `record` has, which must hold a string."""
    for key in keys:
        if key in record:
            if not isinstance(record[key], str):
                raise UserError(f"{where}: {key!r} must be a string (the text), not {type(record[key]).__name__}")
            return record[key]
    raise UserError(f"{where}: no text: expected a {' or '.join(repr(k) for k in keys)} field (keys: {sorted(record)})")


def items_of(value: Any, where: str, name: str) -> list[Any]:
    if not isinstance(value, list):
        raise UserError(f"{where}: {name} must be a list, not {type(value).__name__}")
    return value
