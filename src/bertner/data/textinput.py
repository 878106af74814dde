"""Texts to tag, read lazily from a byte stream: one text per line, or JSONL records with an id.

Lines are split on `\\n` only, so that output line N is always input line N. `str.splitlines` would also
split on `\\r`, `\\x0b`, `\\x0c`, `\\x1c`-`\\x1e`, `\\x85`, U+2028 and U+2029, which occur inside real texts
(see data/conll.py's `_LINE_BREAK`). A `\\r` before the `\\n` (a CRLF file) is dropped with it.
The stream is read a line at a time, so a file of any size is never in memory whole.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from bertner.errors import UserError

FORMATS = ("text", "jsonl")


@dataclass(frozen=True)
class TextRecord:
    """One text to tag: its 1-based input line, and the id a JSONL record carried (None for plain text)."""

    line: int
    text: str
    id: Any = None


def _lines(stream: IO[bytes], name: str) -> Iterator[tuple[int, str]]:
    # Iterating a binary stream splits on b"\n" only, whatever other line-break characters the text holds.
    for number, raw in enumerate(stream, start=1):
        raw = raw[:-1] if raw.endswith(b"\n") else raw
        raw = raw[:-1] if raw.endswith(b"\r") else raw
        try:
            yield number, raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise UserError(f"{name}:{number}: not valid UTF-8 at byte {error.start} of the line") from error


def _record(number: int, line: str, name: str) -> TextRecord:
    where = f"{name}:{number}"
    try:
        value = json.loads(line)
    except json.JSONDecodeError as error:
        raise UserError(f"{where}: not valid JSON ({error.msg} at column {error.colno})") from error
    if not isinstance(value, dict):
        raise UserError(f'{where}: expected a JSON object like {{"id": ..., "text": "..."}}')
    if "text" not in value:
        raise UserError(f'{where}: the object has no "text" field')
    if not isinstance(value["text"], str):
        raise UserError(f'{where}: "text" must be a string, not {type(value["text"]).__name__}')
    return TextRecord(number, value["text"], value.get("id"))


def read_records(stream: IO[bytes], name: str, format: str = "text") -> Iterator[TextRecord]:
    """The texts of `stream` in order, lazily. `name` names the stream in errors (`name:line: what`).

    format `text`: every line is a text (an empty line is an empty text). `jsonl`: every line is an object
    with a string `text` and an optional `id`, which the output keeps.
    """
    if format not in FORMATS:
        raise ValueError(f"input format must be one of {', '.join(FORMATS)}, not {format!r}")
    for number, line in _lines(stream, name):
        yield TextRecord(number, line) if format == "text" else _record(number, line, name)
