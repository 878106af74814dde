"""An annotation file -> annotated texts (offsets in code points) -> sentences with IOB2 tags, and its report.

The steps: the file's records, each with the line it starts on (here), their format (detect.py), each record
read by its format's reader (labelstudio.py, doccano.py, prodigy.py), the file's offset unit (offsets.py), words
and tags (words.py). Every problem stops the read with `path:line: ...` before anything is returned.

Three shapes of file are read the same way: a JSON array of objects (Label Studio's JSON and JSON_MIN exports),
JSON lines (doccano, Prodigy), and a single JSON object (one task). Records are decoded one at a time from their
position in the file (`JSONDecoder.raw_decode`), so every record knows its line and every syntax error is
reported as `path:line: ...` where the decoder stopped, whichever shape the file has.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bertner.config import PICK_RULES
from bertner.data.annotations import doccano, labelstudio, prodigy
from bertner.data.annotations.detect import (
    DOCCANO,
    FORMATS,
    LABEL_STUDIO,
    LABEL_STUDIO_MIN,
    PRODIGY,
    check_record,
    detect_format,
    record_format,
)
from bertner.data.annotations.offsets import AUTO, Offsets, resolve
from bertner.data.annotations.records import AnnotatedText, DroppedRecord, FileRead
from bertner.data.annotations.report import FileReport
from bertner.data.annotations.words import SpanChange, WordPolicy, tag_text
from bertner.data.conll import Sentence
from bertner.errors import UserError

logger = logging.getLogger(__name__)

ANNOTATION_SUFFIXES = (".json", ".jsonl")


_DECODER = json.JSONDecoder()
_SPACE = " \t\r\n"


def _line_of(text: str, position: int) -> int:
    return text.count("\n", 0, position) + 1


def _decode(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError as error:
        raise UserError(f"{path}: file not found") from error
    except OSError as error:
        raise UserError(f"{path}: cannot read: {error.strerror}") from error
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise UserError(f"{path}:{line}: not valid UTF-8 (byte 0x{data[error.start]:02x})") from error


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position] in _SPACE:
        position += 1
    return position


def _value_at(path: Path, text: str, position: int) -> tuple[Any, int]:
    try:
        return _DECODER.raw_decode(text, position)
    except json.JSONDecodeError as error:
        raise UserError(f"{path}:{error.lineno}: not valid JSON ({error.msg} at column {error.colno})") from None


def _array_items(path: Path, text: str, position: int) -> list[tuple[int, Any]]:
    """The items of the array whose `[` is at `position`, decoded one at a time."""
    items: list[tuple[int, Any]] = []
    position = _skip_space(text, position + 1)
    if position < len(text) and text[position] == "]":
        return items
    while True:
        start = position
        value, position = _value_at(path, text, position)
        items.append((_line_of(text, start), value))
        position = _skip_space(text, position)
        if position < len(text) and text[position] == ",":
            position = _skip_space(text, position + 1)
            continue
        if position < len(text) and text[position] == "]":
            break
        found = repr(text[position]) if position < len(text) else "the end of the file"
        raise UserError(f"{path}:{_line_of(text, position)}: not valid JSON (expected ',' or ']', found {found})")
    rest = _skip_space(text, position + 1)
    if rest < len(text):
        raise UserError(f"{path}:{_line_of(text, rest)}: not valid JSON (text after the closing ']')")
    return items


def read_json_records(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """Every record (a JSON object) of `path` with its line. Raises ValueError naming `path:line` for bad UTF-8,
    bad JSON, or a record that is not an object."""
    text = _decode(path)
    position = _skip_space(text, 0)
    if position == len(text):
        raise UserError(f"{path}: empty file: no records")
    if text[position] == "[":
        items = _array_items(path, text, position)
    else:
        items = []
        while position < len(text):
            start = position
            value, position = _value_at(path, text, position)
            items.append((_line_of(text, start), value))
            position = _skip_space(text, position)
    for line, value in items:
        if not isinstance(value, dict):
            raise UserError(f"{path}:{line}: expected a JSON object (one task or record), found {_kind(value)}")
    return items


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "true/false", type(None): "null"}.get(
        type(value), "a number"
    )


@dataclass(frozen=True)
class ReadOptions:
    """How annotation files are read (DataConfig's format, annotation and offsets)."""

    format: str = AUTO
    annotation: str = "ground_truth"
    offsets: str = AUTO

    def __post_init__(self) -> None:
        if self.format != AUTO and self.format not in FORMATS:
            raise UserError(f"the annotation format must be auto or one of {', '.join(FORMATS)}, not {self.format!r}")
        if self.annotation not in PICK_RULES:
            rules = ", ".join(PICK_RULES)
            raise UserError(f"the annotation rule must be one of {rules}, not {self.annotation!r}")


def read_file(path: Path, options: ReadOptions) -> FileRead:
    """The texts of one annotation file with offsets as the file has them, and what was dropped."""
    records = read_json_records(path)
    name = str(path)
    format = detect_format(records, name) if options.format == AUTO else options.format
    for line, record in records:
        check_record(record, format, f"{name}:{line}")
    counts: dict[str, int] = {}
    if format == LABEL_STUDIO_MIN:
        rows = labelstudio.read_min_rows(records, name, options.annotation, counts)
        return FileRead(path=name, format=format, records=len(records), texts=tuple(rows), counts=counts)
    read: list[AnnotatedText | DroppedRecord] = []
    for line, record in records:
        if format == LABEL_STUDIO:
            read.append(labelstudio.read_task(record, name, line, options.annotation, counts))
        elif format == DOCCANO:
            read.append(doccano.read_record(record, name, line))
        else:
            read.append(prodigy.read_record(record, name, line))
    if format != PRODIGY and any(record_format(record) == PRODIGY for _, record in records):
        format = PRODIGY
    texts = tuple(item for item in read if isinstance(item, AnnotatedText))
    dropped = tuple(item for item in read if isinstance(item, DroppedRecord))
    return FileRead(path=name, format=format, records=len(records), texts=texts, dropped=dropped, counts=counts)


def read_texts(path: Path, options: ReadOptions) -> tuple[FileRead, list[AnnotatedText], Offsets]:
    """The file as read, its texts with offsets in code points, and the unit they were read in."""
    read = read_file(path, options)
    texts, offsets = resolve(read.texts, read.path, options.offsets)
    return read, texts, offsets


def tag_texts(texts: Sequence[AnnotatedText], policy: WordPolicy) -> tuple[list[list[Sentence]], list[Any], int]:
    """Each text's sentences (document i for text i), all span changes, and the sentence boundaries removed."""
    documents: list[list[Sentence]] = []
    changes: list[SpanChange] = []
    joined = 0
    for index, item in enumerate(texts):
        tagged = tag_text(item, index, policy)
        documents.append(list(tagged.sentences))
        changes += tagged.changes
        joined += tagged.joined
    return documents, changes, joined


def file_report(
    read: FileRead,
    texts: Sequence[AnnotatedText],
    offsets: Offsets,
    documents: Sequence[Sequence[Sentence]] | None,
    changes: Sequence[SpanChange] = (),
    joined: int = 0,
) -> FileReport:
    """The report of one file: `documents` are its texts' tagged sentences, None where the spans were kept as
    spans (a conversion between span formats changes none)."""
    spans = sum(len(item.spans) for item in texts)
    sentences = [sentence for document in documents or () for sentence in document]
    entities = sum(t.startswith("B-") for s in sentences for t in s.tags) if documents is not None else spans
    report = FileReport(
        path=read.path,
        format=read.format,
        offsets=offsets,
        records=read.records,
        texts=len(texts),
        sentences=len(sentences),
        spans=spans,
        entities=entities,
        changes=tuple(changes),
        dropped_records=read.dropped,
        counts=read.counts,
        joined=joined,
    )
    assert report.entities == report.spans - len(report.dropped), "every span is kept as an entity or listed"
    return report


def read_sentences(path: Path, options: ReadOptions, policy: WordPolicy) -> tuple[list[Sentence], FileReport]:
    """An annotation file as IOB2 sentences, with the report of what was changed or dropped (also logged)."""
    read, texts, offsets = read_texts(path, options)
    documents, changes, joined = tag_texts(texts, policy)
    report = file_report(read, texts, offsets, documents, changes, joined)
    logger.info("%s", report.summary())
    return [sentence for document in documents for sentence in document], report
