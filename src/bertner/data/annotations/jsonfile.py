"""The records of an annotation file, each with the 1-based line it starts on.

Three shapes are read the same way: a JSON array of objects (Label Studio's JSON and JSON_MIN exports), JSON
lines (doccano, Prodigy), and a single JSON object (one task). Records are decoded one at a time from their
position in the file (`JSONDecoder.raw_decode`), so every record knows its line and every syntax error is
reported as `path:line: ...` where the decoder stopped, whichever shape the file has.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bertner.errors import UserError

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
