"""The texts to pretrain on, read from plain text, JSONL and CoNLL files.

A file's format is given or decided from the file (`auto`), in this order:
- `.jsonl` / `.ndjson`: one JSON object per line with a string `text` (data/textinput.py reads it);
- `.conll`, `.iob`, `.iob2`, `.bio`, `.bioes`, or any file whose first non-blank line starts with `-DOCSTART-`
  (CoNLL-2003's own files are named `train.txt`): a labelled CoNLL file (data/conll.py reads it); each document
  is one text, its sentences' words joined by spaces (a file without `-DOCSTART-` is one document);
- anything else is plain text: `blocks` (blank-line-separated blocks, a block's lines joined by newlines) when
  a blank line stands between two non-blank lines, else `lines` (one text per line). A file of one text per line
  with a stray blank line is read as blocks: the log names the format chosen for each file, and `lines` or
  `blocks` can be given to override it.

Blank texts are skipped; a file with no text at all is an error. Every error names the file (and line).
"""

from __future__ import annotations

import hashlib
import io
import itertools
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from bertner.data.conll import DOCSTART, read_conll
from bertner.data.textinput import TextRecord, read_records
from bertner.errors import UserError

logger = logging.getLogger(__name__)

FORMATS = ("auto", "lines", "blocks", "jsonl", "conll")
_JSONL_SUFFIXES = (".jsonl", ".ndjson")
_CONLL_SUFFIXES = (".conll", ".iob", ".iob2", ".bio", ".bioes")


@dataclass(frozen=True)
class Text:
    """One text (a document) to pretrain on, and the file and 1-based line it starts at."""

    text: str
    source: str
    line: int


@dataclass(frozen=True)
class InputFile:
    """An input file as a pretraining record names it: the format it was read as, its sha256 and its text count."""

    path: str
    format: str
    sha256: str
    texts: int


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as error:
        raise UserError(f"{path}: file not found") from error
    except OSError as error:
        raise UserError(f"{path}: cannot read: {error.strerror}") from error


def _lines(data: bytes, name: str) -> list[TextRecord]:
    return list(read_records(io.BytesIO(data), name, "text"))


def _has_inner_blank_line(lines: Sequence[TextRecord]) -> bool:
    blank = [not record.text.strip() for record in lines]
    filled = [index for index, is_blank in enumerate(blank) if not is_blank]
    return bool(filled) and any(blank[filled[0] : filled[-1]])


def detect_format(path: Path, data: bytes) -> str:
    """The format `auto` reads `path` as (see the module's docstring); `data` is the file's content."""
    suffix = path.suffix.lower()
    if suffix in _JSONL_SUFFIXES:
        return "jsonl"
    if suffix in _CONLL_SUFFIXES:
        return "conll"
    lines = _lines(data, str(path))
    first = next((record.text for record in lines if record.text.strip()), "")
    if first.lstrip("\ufeff").split(maxsplit=1)[:1] == [DOCSTART]:
        return "conll"
    return "blocks" if _has_inner_blank_line(lines) else "lines"


def _blocks(lines: Iterable[TextRecord], name: str) -> Iterator[Text]:
    """Each run of non-blank lines as one text, its lines joined by newlines."""
    for is_blank, group in itertools.groupby(lines, key=lambda record: not record.text.strip()):
        if not is_blank:
            block = list(group)
            yield Text("\n".join(record.text for record in block), name, block[0].line)


def _conll_documents(path: Path) -> Iterator[Text]:
    """Each document of a labelled CoNLL file as one text: its words joined by spaces."""
    sentences = read_conll(path)
    for _, group in itertools.groupby(sentences, key=lambda sentence: sentence.document):
        document = list(group)
        words = [word for sentence in document for word in sentence.words]
        yield Text(" ".join(words), str(path), document[0].line)


def _texts(path: Path, data: bytes, format: str) -> list[Text]:
    name = str(path)
    if format == "conll":
        found: Iterable[Text] = _conll_documents(path)
    elif format == "jsonl":
        found = (Text(record.text, name, record.line) for record in read_records(io.BytesIO(data), name, "jsonl"))
    elif format == "blocks":
        found = _blocks(_lines(data, name), name)
    else:
        found = (Text(record.text, name, record.line) for record in _lines(data, name))
    return [text for text in found if text.text.strip()]


def read_texts(paths: Sequence[Path], format: str = "auto") -> tuple[list[Text], list[InputFile]]:
    """Every text of `paths` in order, and what was read from each file.

    Raises:
        UserError: an unknown format, a file that cannot be read or holds no text, a bad JSONL line or CoNLL
            file (`path:line: what`).
    """
    if format not in FORMATS:
        raise UserError(f"the text format must be one of {', '.join(FORMATS)}, not {format!r}")
    if not paths:
        raise UserError("no text files given")
    texts: list[Text] = []
    inputs: list[InputFile] = []
    for path in paths:
        data = _read_bytes(path)
        chosen = detect_format(path, data) if format == "auto" else format
        found = _texts(path, data, chosen)
        if not found:
            raise UserError(f"{path}: no text found (an empty file, or only blank lines), read as {chosen}")
        logger.info("%s: %d texts, read as %s", path, len(found), chosen)
        texts += found
        inputs.append(InputFile(str(path), chosen, hashlib.sha256(data).hexdigest(), len(found)))
    return texts, inputs
