"""Reading texts to tag: lines split on \\n only, JSONL records with ids, errors with file:line, lazily."""

from __future__ import annotations

import io
import itertools
import json

import pytest

from bertner.data.textinput import read_records

ODD_BREAKS = ["a\x0bb", "c\x1cd", "e\u2028f", "", "g\x0ch\x85i", "  ", "j\u2029k\rl"]


def test_lines_split_on_newline_only_and_keep_every_other_break_character() -> None:
    data = ("\n".join(ODD_BREAKS) + "\n").encode("utf-8")
    records = list(read_records(io.BytesIO(data), "in.txt"))
    assert [r.text for r in records] == ODD_BREAKS
    assert [r.line for r in records] == list(range(1, len(ODD_BREAKS) + 1))
    assert all(r.id is None for r in records)


def test_crlf_line_ends_are_dropped_and_a_last_line_without_newline_is_read() -> None:
    records = list(read_records(io.BytesIO(b"one\r\ntwo\r\nthree"), "in.txt"))
    assert [r.text for r in records] == ["one", "two", "three"]


def test_jsonl_records_keep_their_ids() -> None:
    lines = [{"id": 7, "text": "Lisbon"}, {"text": "no id"}, {"id": "x-1", "text": ""}]
    data = "\n".join(json.dumps(line) for line in lines).encode("utf-8")
    records = list(read_records(io.BytesIO(data), "in.jsonl", "jsonl"))
    assert [(r.id, r.text) for r in records] == [(7, "Lisbon"), (None, "no id"), ("x-1", "")]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "in.jsonl:2: not valid JSON"),
        ('["text"]', "in.jsonl:2: expected a JSON object"),
        ('{"id": 1}', 'in.jsonl:2: the object has no "text" field'),
        ('{"text": 5}', 'in.jsonl:2: "text" must be a string, not int'),
        ("", "in.jsonl:2: not valid JSON"),
    ],
)
def test_a_bad_jsonl_line_is_an_error_naming_the_file_and_line(line: str, message: str) -> None:
    data = ('{"text": "fine"}\n' + line + "\n").encode("utf-8")
    records = read_records(io.BytesIO(data), "in.jsonl", "jsonl")
    assert next(records).text == "fine"
    with pytest.raises(ValueError, match=message):
        next(records)


def test_invalid_utf8_names_the_line() -> None:
    with pytest.raises(ValueError, match=r"in.txt:2: not valid UTF-8 at byte 1"):
        list(read_records(io.BytesIO(b"ok\nx\xff\n"), "in.txt"))


def test_records_are_read_lazily() -> None:
    class Endless(io.RawIOBase):
        """A stream that never ends: reading it whole would never return."""

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
            chunk = b"Lisbon .\n" * (len(buffer) // 9)
            buffer[: len(chunk)] = chunk
            return len(chunk)

    records = read_records(io.BufferedReader(Endless()), "endless")
    assert [r.text for r in itertools.islice(records, 3)] == ["Lisbon ."] * 3
