"""Prodigy's JSONL and the generic `{"text", "spans"|"entities": [{"start", "end", "label"}]}` layout: read, and
the generic layout written (`spans-jsonl`).

Prodigy (`ner.manual`, `db-out`): `{"text", "tokens", "spans": [{"start", "end", "label", "text"?, "token_start",
"token_end"}], "answer"}`; only `answer == "accept"` records are annotations, the others are dropped and counted.
A record without `answer` (the generic layout) is kept. A span's type is under `label`, or `type` as `bertner
predict` writes it, so predict's own output reads back. Offsets are code points (Prodigy is Python).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bertner.data.annotations.records import AnnotatedText, DroppedRecord, Span, items_of, make_span, text_of
from bertner.errors import UserError


def _span(item: Any, where: str) -> Span:
    if not isinstance(item, dict):
        raise UserError(f'{where}: expected a span object {{"start", "end", "label"}}, not {item!r}')
    key = "label" if "label" in item else "type"
    return make_span(item.get("start"), item.get("end"), item.get(key), item.get("text"), where, ("start", "end", key))


def read_record(record: dict[str, Any], path: str, line: int) -> AnnotatedText | DroppedRecord:
    where = f"{path}:{line}"
    identifier = record.get("id", record.get("_task_hash"))
    answer = record.get("answer")
    if answer is not None and answer != "accept":
        return DroppedRecord(line=line, id=identifier, reason=f"answer {answer!r}")
    text = text_of(record, ("text",), where)
    key = "spans" if "spans" in record else "entities"
    items = items_of(record.get(key, []), where, repr(key))
    spans = [_span(item, f"{where}: {key}[{n}]") for n, item in enumerate(items)]
    return AnnotatedText(text=text, spans=tuple(spans), id=identifier, source=path, line=line)


def write_record(text: str, spans: Sequence[Span], id: Any = None) -> dict[str, Any]:
    """`{"id"?, "text", "spans": [{"start", "end", "label", "text", "score"?}]}`, offsets in code points."""
    made: dict[str, Any] = {} if id is None else {"id": id}
    made["text"] = text
    made["spans"] = [
        {"start": s.start, "end": s.end, "label": s.type, "text": text[s.start : s.end]}
        | ({} if s.score is None else {"score": s.score})
        for s in spans
    ]
    return made
