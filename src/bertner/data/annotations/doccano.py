"""doccano's sequence-labelling JSONL: records read from its exports, and records written for it to import.

All four spellings its versions have used are read: `label` or `labels` as `[[start, end, "TYPE"], ...]`, and
`entities` as such lists or as `{"start_offset", "end_offset", "label"}` objects (relation projects); the text is
under `text`, or `data` in some 1.x versions (FORMATS.md 1.1). doccano exports no span texts, so its offsets can
only be checked against word boundaries (offsets.py).

doccano counts offsets in JavaScript's UTF-16 code units (doccano#2290), so records written for it do too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bertner.data.annotations.offsets import from_codepoints
from bertner.data.annotations.records import UTF16, AnnotatedText, Span, items_of, make_span, text_of
from bertner.errors import UserError

_SPAN_KEYS = ("label", "labels", "entities")


def _item_span(item: Any, where: str) -> Span:
    if isinstance(item, list):
        if len(item) != 3:
            raise UserError(f'{where}: expected [start, end, "TYPE"], found {len(item)} values: {item!r}')
        return make_span(item[0], item[1], item[2], None, where, ("start", "end", "type"))
    if isinstance(item, dict):
        names = ("start_offset", "end_offset", "label")
        return make_span(item.get(names[0]), item.get(names[1]), item.get(names[2]), None, where, names)
    if isinstance(item, str):
        raise UserError(f"{where}: {item!r} is a label without offsets (a text-classification export?)")
    raise UserError(f'{where}: expected [start, end, "TYPE"] or an object, not {item!r}')


def read_record(record: dict[str, Any], path: str, line: int) -> AnnotatedText:
    where = f"{path}:{line}"
    text = text_of(record, ("text", "data"), where)
    present = [key for key in _SPAN_KEYS if record.get(key)]
    if len(present) > 1:
        raise UserError(f"{where}: spans under both {present[0]!r} and {present[1]!r}; expected one of them")
    spans: list[Span] = []
    if present:
        items = items_of(record[present[0]], where, repr(present[0]))
        spans = [_item_span(item, f"{where}: {present[0]}[{n}]") for n, item in enumerate(items)]
    return AnnotatedText(text=text, spans=tuple(spans), id=record.get("id"), source=path, line=line)


def write_record(text: str, spans: Sequence[Span], id: Any = None) -> dict[str, Any]:
    """A record doccano imports: `{"id"?, "text", "label": [[start, end, "TYPE"]]}`, offsets in UTF-16 units."""
    made: dict[str, Any] = {} if id is None else {"id": id}
    made["text"] = text
    made["label"] = [[*from_codepoints(text, span.start, span.end, UTF16), span.type] for span in spans]
    return made
