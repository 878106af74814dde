"""Read and write CoNLL column files.

A file is one word per line, columns separated by spaces or tabs, a blank line between sentences.
`-DOCSTART-` lines open a document and are not sentences; document boundaries are kept because
document context matters for NER (Devlin et al. 2019 used it for their 92.4).

Every problem is reported as `path:line: what was expected`, before anything is returned.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bertner.errors import UserError
from bertner.labels import OUTSIDE, Scheme, detect_scheme, first_illegal, split_tag, to_iob2

DOCSTART = "-DOCSTART-"
_SEPARATOR = re.compile(r"[ \t]+")
# Only these end a line. str.splitlines() also breaks at \x0b, \x0c, \x1c-\x1e, \x85, U+2028 and U+2029,
# which then split a word in two and shift every later line number.
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# What each scheme allows, for the message of an illegal sequence.
_RULES = {
    Scheme.IOB1: "B-X may only follow I-X or B-X (IOB1 opens entities with I-)",
    Scheme.IOB2: "I-X may only follow B-X or I-X",
    Scheme.BIOES: "I-X and E-X may only follow B-X or I-X; B-, S- and O may not follow B- or I-",
}


class ConllFormatError(UserError):
    """A CoNLL file that cannot be read; the message starts with `path:line:`."""


@dataclass(frozen=True)
class Sentence:
    """One sentence: its words, their IOB2 tags, and where it came from.

    Word `i` was read from line `line + i` of `source`; with `word_lines` false (a sentence of an annotated text,
    data/annotations/) the whole text's record starts on line `line`.
    """

    words: tuple[str, ...]
    tags: tuple[str, ...]
    document: int = 0
    starts_document: bool = False
    source: str = ""
    line: int = 0
    word_lines: bool = True

    def __post_init__(self) -> None:
        if len(self.words) != len(self.tags):
            raise ValueError(f"{self.where()}: {len(self.words)} words but {len(self.tags)} tags")

    def where(self, index: int = 0) -> str:
        if not self.word_lines:
            return f"{self.source}:{self.line}" + (f" (word {index + 1}: {self.words[index]!r})" if index else "")
        return f"{self.source}:{self.line + index}"


@dataclass(frozen=True)
class _RawLine:
    number: int
    fields: list[str]


def _decode(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError as error:
        raise ConllFormatError(f"{path}: file not found") from error
    except OSError as error:
        raise ConllFormatError(f"{path}: cannot read: {error.strerror}") from error
    try:
        # Editors on Windows often start UTF-8 files with a byte-order mark; it is not part of the first word.
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        lines = _LINE_BREAK.split(data[: error.start].decode("utf-8"))
        bad = data[error.start : error.start + 1].hex()
        raise ConllFormatError(
            f"{path}:{len(lines)}: not valid UTF-8 (byte 0x{bad} at column {len(lines[-1]) + 1})"
        ) from error


def _blocks(path: Path, text: str) -> Iterable[list[_RawLine] | None]:
    """Yield each sentence's lines; None marks a -DOCSTART- line."""
    block: list[_RawLine] = []
    for number, line in enumerate(_LINE_BREAK.split(text), start=1):
        stripped = line.rstrip()
        if not stripped.strip():
            if block:
                yield block
                block = []
            continue
        fields = _SEPARATOR.split(stripped)
        if fields[0] == DOCSTART:
            if block:
                yield block
                block = []
            yield None
            continue
        if fields[0] == "":
            raise ConllFormatError(f"{path}:{number}: empty word (the line starts with a separator)")
        block.append(_RawLine(number, fields))
    if block:
        yield block


def _check_columns(path: Path, line: _RawLine, expected: int, tag_column: int) -> str:
    if len(line.fields) != expected:
        raise ConllFormatError(f"{path}:{line.number}: expected {expected} columns, found {len(line.fields)}")
    tag = line.fields[tag_column]
    try:
        split_tag(tag)
    except ValueError:
        raise ConllFormatError(
            f"{path}:{line.number}: {tag!r} is not a valid tag (expected O or B-/I-/E-/S- and a type)"
        ) from None
    return tag


def read_conll(path: Path | str, tag_column: int = -1, scheme: str = "auto") -> list[Sentence]:
    """Read a labelled CoNLL file into IOB2 sentences; raise ConllFormatError on any bad input."""
    path = Path(path)
    text = _decode(path)
    expected_columns: int | None = None
    raw: list[tuple[list[_RawLine], list[str], int, bool]] = []
    document, new_document = 0, False
    seen_docstart = False
    for block in _blocks(path, text):
        if block is None:
            # Sentences before the first -DOCSTART- form a document of their own.
            document += 1 if seen_docstart or raw else 0
            seen_docstart, new_document = True, True
            continue
        if expected_columns is None:
            expected_columns = len(block[0].fields)
            if expected_columns < 2 or not -expected_columns <= tag_column < expected_columns:
                raise ConllFormatError(
                    f"{path}:{block[0].number}: found {expected_columns} column(s); need a word and a tag "
                    f"column (tag column {tag_column})"
                )
        tags = [_check_columns(path, line, expected_columns, tag_column) for line in block]
        raw.append((block, tags, document, new_document))
        new_document = False
    if not raw:
        raise ConllFormatError(f"{path}: empty file: no sentences found")

    resolved = detect_scheme(tags for _, tags, _, _ in raw) if scheme == "auto" else Scheme(scheme)
    sentences = []
    for block, tags, doc, starts in raw:
        bad = first_illegal(tags, resolved)
        if bad is not None:
            raise ConllFormatError(f"{path}:{block[bad].number}: {_explain_illegal(tags, bad, resolved)}")
        words = tuple(line.fields[0] for line in block)
        sentences.append(Sentence(words, tuple(to_iob2(tags, resolved)), doc, starts, str(path), block[0].number))
    return sentences


def _explain_illegal(tags: Sequence[str], bad: int, scheme: Scheme) -> str:
    """Why `tags[bad]` is illegal: a forbidden transition, or (BIOES) an entity left open at the sentence end."""
    prefix, entity_type = split_tag(tags[bad])
    # Closing the entity makes the sequence legal exactly when the only fault is that it is still open.
    unclosed = (
        scheme is Scheme.BIOES
        and bad == len(tags) - 1
        and prefix in ("B", "I")
        and first_illegal([*tags, f"E-{entity_type}"], scheme) is None
    )
    if unclosed:
        return f"illegal BIOES sequence: {tags[bad]!r} leaves an entity open at the sentence end (expected E- or S-)"
    before = tags[bad - 1] if bad > 0 else "the sentence start"
    return f"illegal {scheme.value} sequence: {tags[bad]!r} after {before!r} ({_RULES[scheme]})"


def check_known_tags(sentences: Sequence[Sentence], known: Iterable[str]) -> None:
    """Raise if a sentence uses a tag outside `known` (the labels learned from the training data)."""
    allowed = set(known)
    for sentence in sentences:
        for index, tag in enumerate(sentence.tags):
            if tag not in allowed:
                raise ConllFormatError(
                    f"{sentence.where(index)}: tag {tag!r} does not occur in the training data "
                    f"(known types: {', '.join(sorted({split_tag(t)[1] for t in allowed if t != OUTSIDE}))})"
                )


def format_predictions(sentences: Sequence[Sentence], predicted: Sequence[Sequence[str]]) -> str:
    """`word gold pred` per line, a blank line after each sentence, `-DOCSTART-` lines kept."""
    lines: list[str] = []
    for sentence, tags in zip(sentences, predicted, strict=True):
        if sentence.starts_document:
            lines += [f"{DOCSTART} O O", ""]
        lines += [f"{w} {g} {p}" for w, g, p in zip(sentence.words, sentence.tags, tags, strict=True)]
        lines.append("")
    return "\n".join(lines) + "\n"
