"""The unlabelled pool that active learning chooses from: texts, each with where it was read.

Read by the file's suffix:

- `.json` / `.jsonl`: records (a JSON array or JSON lines, data/annotations/read.py): a Label Studio task
  (`{"data": {"text": ...}}`), or any record with a string `text` (plain `{"id", "text"}` JSONL, doccano,
  Prodigy, `{text, spans}`). A record that is already labelled (a Label Studio task with an annotation that
  was not cancelled, or a record with a non-empty `spans`, `label`, `labels` or `entities` list) is left out
  of the pool and counted: it needs no annotator;
- anything else: a text file, one text per line (data/textinput.py).

Texts with no words (blank lines) are left out and counted.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bertner.data.annotations.read import read_json_records
from bertner.data.textinput import read_records
from bertner.errors import UserError

JSON_SUFFIXES = (".json", ".jsonl")
_LABEL_KEYS = ("spans", "label", "labels", "entities")


@dataclass(frozen=True)
class PoolText:
    """One text of the pool: its id in the input (None for a text line), its file and 1-based line."""

    text: str
    id: Any = None
    source: str = ""
    line: int = 0

    def where(self) -> str:
        return f"{self.source}:{self.line}"


@dataclass(frozen=True)
class Pool:
    texts: tuple[PoolText, ...]
    skipped: dict[str, int] = field(default_factory=dict)
    """Records left out, by reason."""


def _task_text(record: dict[str, Any], where: str) -> str:
    data = record["data"]
    if isinstance(data.get("text"), str):
        return str(data["text"])
    strings = [value for value in data.values() if isinstance(value, str)]
    if len(strings) == 1:
        return strings[0]
    raise UserError(f'{where}: cannot tell which field of "data" is the text (fields: {", ".join(sorted(data))})')


def _labelled(record: dict[str, Any]) -> bool:
    annotations = record.get("annotations")
    if isinstance(annotations, list) and any(isinstance(a, dict) and not a.get("was_cancelled") for a in annotations):
        return True
    return any(isinstance(record.get(key), list) and record[key] for key in _LABEL_KEYS)


def _json_texts(path: Path, skipped: dict[str, int]) -> Iterator[PoolText]:
    for line, record in read_json_records(path):
        where = f"{path}:{line}"
        if _labelled(record):
            skipped["already labelled"] = skipped.get("already labelled", 0) + 1
            continue
        if isinstance(record.get("data"), dict):
            text = _task_text(record, where)
        elif isinstance(record.get("text"), str):
            text = record["text"]
        else:
            raise UserError(
                f'{where}: no text: expected a Label Studio task ({{"data": {{"text": ...}}}}) or a "text" string '
                f"(keys: {', '.join(sorted(record)) or 'none'})"
            )
        yield PoolText(text=text, id=record.get("id"), source=str(path), line=line)


def read_pool(path: Path) -> Pool:
    """The texts of `path` that need labelling, in file order. Raises UserError naming `path:line`."""
    if not path.is_file():
        raise UserError(f"{path}: no such file (the pool is one file of texts, JSONL records or tasks)")
    skipped: dict[str, int] = {}
    if path.suffix.lower() in JSON_SUFFIXES:
        found = list(_json_texts(path, skipped))
    else:
        with path.open("rb") as stream:
            found = [PoolText(text=r.text, source=str(path), line=r.line) for r in read_records(stream, str(path))]
    texts = []
    for item in found:
        if item.text.strip():
            texts.append(item)
        else:
            skipped["empty texts"] = skipped.get("empty texts", 0) + 1
    if not texts:
        raise UserError(f"{path}: no texts to choose from ({', '.join(f'{v} {k}' for k, v in skipped.items())})")
    return Pool(tuple(texts), skipped)
