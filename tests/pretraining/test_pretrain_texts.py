"""Reading pretraining texts: how each file's format is decided, what each format yields, and located errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from bertner.errors import UserError
from bertner.pretraining.texts import read_texts
from tiny_models import TINY_DATA


def _write(folder: Path, name: str, content: str) -> Path:
    path = folder / name
    path.write_text(content, encoding="utf-8")
    return path


def test_one_text_per_line_without_inner_blank_lines(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.txt", "first text\nsecond text\n\n")
    texts, inputs = read_texts([path])
    assert [(t.text, t.line) for t in texts] == [("first text", 1), ("second text", 2)]
    assert inputs[0].format == "lines" and inputs[0].texts == 2
    assert inputs[0].sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_blank_line_between_texts_makes_blocks(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.txt", "\n\none a\none b\n\n\ntwo a\n\n")
    texts, inputs = read_texts([path])
    assert [(t.text, t.line) for t in texts] == [("one a\none b", 3), ("two a", 7)]
    assert inputs[0].format == "blocks"
    forced, _ = read_texts([path], "lines")
    assert [t.text for t in forced] == ["one a", "one b", "two a"]


def test_jsonl_texts_skip_blank_ones(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.jsonl", '{"text": "one", "id": 1}\n{"text": "  "}\n{"text": "three"}\n')
    texts, inputs = read_texts([path])
    assert [(t.text, t.line) for t in texts] == [("one", 1), ("three", 3)]
    assert inputs[0].format == "jsonl"


def test_a_conll_file_gives_one_text_per_document(tmp_path: Path) -> None:
    conll = "-DOCSTART- O\n\nA O\nb O\n\nc B-PER\n\n-DOCSTART- O\n\nd O\n"
    by_content = _write(tmp_path, "train.txt", conll)  # CoNLL-2003's own name: found by its -DOCSTART- line
    by_suffix = _write(tmp_path, "x.conll", "A O\nb O\n\nc B-PER\n")  # no -DOCSTART-: one document
    texts, inputs = read_texts([by_content, by_suffix])
    assert [(t.text, t.source, t.line) for t in texts] == [
        ("A b c", str(by_content), 3),
        ("d", str(by_content), 10),
        ("A b c", str(by_suffix), 1),
    ]
    assert [i.format for i in inputs] == ["conll", "conll"]


def test_the_tiny_conll_split_reads_as_its_documents() -> None:
    texts, inputs = read_texts([TINY_DATA / "train.conll"])
    documents = (TINY_DATA / "train.conll").read_text(encoding="utf-8").count("-DOCSTART-")
    assert inputs[0].format == "conll" and len(texts) == documents
    assert texts[0].text.startswith("Maria Okafor flew to Lisbon on Tuesday . The")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.txt", "", "empty.txt: no text found"),
        ("blank.txt", "\n  \n\n", "blank.txt: no text found"),
        ("no-text.jsonl", '{"text": "a"}\n{"body": "b"}\n', 'no-text.jsonl:2: the object has no "text" field'),
        ("bad.jsonl", '{"text": "a"}\n{"text": \n', "bad.jsonl:2: not valid JSON"),
        ("bad.conll", "a O\nb X-PER\n", "bad.conll:2: 'X-PER' is not a valid tag"),
    ],
)
def test_bad_input_is_a_located_error(tmp_path: Path, name: str, content: str, message: str) -> None:
    path = _write(tmp_path, name, content)
    with pytest.raises(UserError, match=f"^{tmp_path}/{message}"):
        read_texts([path])


def test_a_missing_file_and_an_unknown_format_are_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="nothing.txt: file not found"):
        read_texts([tmp_path / "nothing.txt"])
    with pytest.raises(UserError, match="format must be one of"):
        read_texts([_write(tmp_path, "a.txt", "a\n")], "csv")
