"""Annotated texts -> files that annotation tools import, with offsets in the unit each tool reads.

- `labelstudio`: a JSON array of tasks, one per line; spans as an annotation, or predictions
  (`predictions: [{model_version, score, result}]`) for pre-annotation; code points.
- `doccano`: JSONL `{"text", "label": [[start, end, "TYPE"]]}`; UTF-16 code units (doccano#2290).
- `spans-jsonl`: JSONL `{"text", "spans": [{"start", "end", "label", "text", "score"?}]}`; code points.
- `conll`: `word tag` lines, the words of words.py, a `-DOCSTART- O` line before each text.

`convert` reads any file `bertner convert` takes (an export, or CoNLL through conll_text.py) into those lines.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bertner.config import DataConfig
from bertner.data.annotations import doccano, labelstudio, prodigy
from bertner.data.annotations.conll_text import conll_lines, texts_from_sentences
from bertner.data.annotations.offsets import AUTO, Offsets
from bertner.data.annotations.read import ReadOptions, file_report, read_texts, tag_texts
from bertner.data.annotations.records import CODEPOINTS, AnnotatedText, FileRead, Span
from bertner.data.annotations.report import FileReport
from bertner.data.annotations.split import SplitRecord, deal
from bertner.data.annotations.words import WordPolicy
from bertner.data.conll import read_conll
from bertner.errors import UserError

TARGETS = ("conll", "labelstudio", "doccano", "spans-jsonl")
SPAN_TARGETS = TARGETS[1:]


@dataclass(frozen=True)
class ToolNames:
    """What a Label Studio project calls its labelling control and the text it labels (its label config's
    `<Labels name=...>` and `<Text name=...>`), and the version a prediction is marked with."""

    from_name: str = "label"
    to_name: str = "text"
    model_version: str = "bertner"


def record(
    text: str, spans: Sequence[Span], to: str, id: Any = None, names: ToolNames | None = None, predicted: bool = False
) -> dict[str, Any]:
    """One record of `to` (a span target) for `text`: its spans as the annotation, or as a prediction."""
    if to == "labelstudio":
        names = names or ToolNames()
        meta = None if id is None else {"id": id}
        if predicted:
            made = labelstudio.prediction(text, spans, names.model_version, names.from_name, names.to_name)
            return labelstudio.task(text, predictions=[made], meta=meta)
        return labelstudio.task(text, spans, meta=meta, from_name=names.from_name, to_name=names.to_name)
    if to == "doccano":
        return doccano.write_record(text, spans, id)
    if to == "spans-jsonl":
        return prodigy.write_record(text, spans, id)
    raise UserError(f"cannot write records as {to!r}; expected one of {', '.join(SPAN_TARGETS)}")


def record_lines(records: Iterable[dict[str, Any]], to: str) -> Iterator[str]:
    """The lines of a file of `records`, lazily: a JSON array with one record per line for Label Studio (it
    imports a list of tasks), JSON lines otherwise."""
    if to != "labelstudio":
        yield from (json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        return
    yield "["
    separator = "\n"
    for item in records:
        yield separator + json.dumps(item, ensure_ascii=False)
        separator = ",\n"
    yield "\n]\n"


def span_lines(texts: Iterable[AnnotatedText], to: str, names: ToolNames | None = None) -> Iterator[str]:
    """The lines of a `to` file (a span target) holding `texts` with their spans as annotations."""
    return record_lines((record(t.text, t.spans, to, t.id, names) for t in texts), to)


@dataclass(frozen=True)
class Converted:
    """A converted file: its lines per part (`all`, or train/valid/test when split), and its report."""

    parts: dict[str, list[str]]
    report: FileReport
    split: SplitRecord | None = None


def _read(path: Path, config: DataConfig, conll: bool) -> tuple[FileRead, list[AnnotatedText], Offsets]:
    if not conll:
        options = ReadOptions(config.format if config.format != "conll" else AUTO, config.annotation, config.offsets)
        return read_texts(path, options)
    texts = texts_from_sentences(read_conll(path, config.tag_column, config.scheme))
    read = FileRead(path=str(path), format="conll", records=len(texts), texts=tuple(texts))
    return read, texts, Offsets(CODEPOINTS, "CoNLL words joined by spaces, a sentence per line")


def convert(path: Path, to: str, config: DataConfig, conll: bool, names: ToolNames | None = None) -> Converted:
    """`path` (an annotation export, or a CoNLL file when `conll`) as the lines of a `to` file, split into
    train/valid/test by text when `config.split` says so. Nothing is written; every error is raised first."""
    if to not in TARGETS:
        raise UserError(f"cannot convert to {to!r}; expected one of {', '.join(TARGETS)}")
    read, texts, offsets = _read(path, config, conll)
    groups = {"all": list(range(len(texts)))}
    split = None
    if config.split:
        groups = deal(len(texts), config.split, config.split_seed, "text", str(path))
        lines = {name: [texts[i].line for i in indices] for name, indices in groups.items()}
        split = SplitRecord(tuple(config.split), config.split_seed, "text", lines)
    if to != "conll":
        parts = {name: list(span_lines([texts[i] for i in indices], to, names)) for name, indices in groups.items()}
        return Converted(parts, file_report(read, texts, offsets, None), split)
    documents, changes, joined = tag_texts(texts, WordPolicy(config.words, config.misaligned, config.overlaps))
    parts = {name: list(conll_lines([documents[i] for i in indices])) for name, indices in groups.items()}
    return Converted(parts, file_report(read, texts, offsets, documents, changes, joined), split)
