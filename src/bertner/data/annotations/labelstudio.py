"""Label Studio: tasks read from its JSON and JSON_MIN exports, and tasks and predictions written for it to import.

JSON export (a list of tasks): `{"id", "data": {"text": ...}, "annotations": [{"id", "result": [{"type": "labels",
"value": {"start", "end", "text", "labels": [...]}}], "was_cancelled", "ground_truth", "created_at", ...}]}`.
A task can carry several annotations (several annotators) and skipped ones (`was_cancelled`). One is chosen:
`ground_truth` (the default) takes the one marked ground truth, else the latest that was not cancelled; `latest`
and `first` take the latest or earliest that was not cancelled. A task with nothing left is dropped and counted.

JSON_MIN: one flat object per annotation, the task's data fields plus one list per labelling control
(`"label": [{"start", "end", "text", "labels"}]`); rows of the same task `id` are chosen among the same way.

Offsets are code points in both directions (label-studio-frontend#308 made the export store code points).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bertner.config import PICK_RULES
from bertner.data.annotations.records import (
    AnnotatedText,
    DroppedRecord,
    Span,
    items_of,
    make_span,
)
from bertner.errors import UserError

_MIN_META = frozenset({"id", "annotator", "annotation_id", "created_at", "updated_at", "lead_time"})


def _when(annotation: dict[str, Any], index: int) -> tuple[str, int, int]:
    stamp = annotation.get("updated_at") or annotation.get("created_at") or ""
    identifier = annotation.get("id", annotation.get("annotation_id"))
    return str(stamp), identifier if isinstance(identifier, int) and not isinstance(identifier, bool) else 0, index


def choose(annotations: Sequence[dict[str, Any]], rule: str) -> int | None:
    """The index of the annotation `rule` chooses among those not cancelled; None when all were cancelled."""
    if rule not in PICK_RULES:
        raise UserError(f"the annotation rule must be one of {', '.join(PICK_RULES)}, not {rule!r}")
    usable = [i for i, a in enumerate(annotations) if not a.get("was_cancelled")]
    if not usable:
        return None
    if rule == "ground_truth":
        marked = [i for i in usable if annotations[i].get("ground_truth")]
        usable = marked or usable
    ordered = sorted(usable, key=lambda i: _when(annotations[i], i))
    return ordered[0] if rule == "first" else ordered[-1]


def _task_text(data: dict[str, Any], results: Sequence[Any], where: str) -> str:
    """`data["text"]`, else the field the results label (their `to_name`), else the task's only string field."""
    if isinstance(data.get("text"), str):
        return data["text"]
    targets = {item.get("to_name") for item in results if isinstance(item, dict)}
    named = [data[name] for name in targets if isinstance(name, str) and isinstance(data.get(name), str)]
    strings = [value for value in data.values() if isinstance(value, str)]
    if len(named) == 1:
        return named[0]
    if len(strings) == 1:
        return strings[0]
    raise UserError(
        f'{where}: cannot tell which field of "data" is the text (fields: {", ".join(sorted(data))}); '
        'name it "text" in the export'
    )


def _result_spans(results: list[Any], where: str, counts: dict[str, int]) -> list[Span]:
    spans: list[Span] = []
    for number, item in enumerate(results):
        here = f"{where}, result {number}"
        if not isinstance(item, dict):
            raise UserError(f"{here}: a result must be an object, not {type(item).__name__}")
        if item.get("type") != "labels":
            counts["results that are not entity labels"] = counts.get("results that are not entity labels", 0) + 1
            continue
        value = item.get("value")
        if not isinstance(value, dict):
            raise UserError(f'{here}: a "labels" result needs a "value" object')
        spans.extend(_value_spans(value, here, "value.", counts))
    return spans


def _value_spans(value: dict[str, Any], where: str, prefix: str, counts: dict[str, int]) -> list[Span]:
    """One span per label of `value` (`{"start", "end", "text", "labels": [...]}`)."""
    labels = items_of(value.get("labels"), where, f"{prefix}labels")
    if not labels:
        counts["regions without a label"] = counts.get("regions without a label", 0) + 1
    names = (f"{prefix}start", f"{prefix}end", f"{prefix}labels")
    return [make_span(value.get("start"), value.get("end"), label, value.get("text"), where, names) for label in labels]


def read_task(
    record: dict[str, Any], path: str, line: int, rule: str, counts: dict[str, int]
) -> AnnotatedText | DroppedRecord:
    """One task of a JSON export: the chosen annotation's spans, or why the task is dropped."""
    where = f"{path}:{line}"
    data = record.get("data")
    if not isinstance(data, dict):
        raise UserError(f'{where}: a Label Studio task needs a "data" object holding its text')
    annotations = items_of(record.get("annotations", []), where, '"annotations"')
    if not all(isinstance(a, dict) for a in annotations):
        raise UserError(f'{where}: every item of "annotations" must be an object')
    chosen = choose(annotations, rule)
    if chosen is None:
        return DroppedRecord(line=line, id=record.get("id"), reason="skipped" if annotations else "not annotated")
    cancelled = sum(bool(a.get("was_cancelled")) for a in annotations)
    for name, count in (
        ("annotations not chosen", len(annotations) - cancelled - 1),
        ("cancelled annotations", cancelled),
    ):
        if count:
            counts[name] = counts.get(name, 0) + count
    annotation = annotations[chosen]
    results = items_of(annotation.get("result", []), f"{where}, annotation {chosen}", '"result"')
    text = _task_text(data, results, where)
    spans = _result_spans(results, f"{where}: annotation {annotation.get('id', chosen)}", counts)
    return AnnotatedText(text=text, spans=tuple(spans), id=record.get("id"), source=path, line=line)


def _min_row(record: dict[str, Any], where: str, counts: dict[str, int]) -> tuple[str, list[Span]]:
    spans: list[Span] = []
    strings = {k: v for k, v in record.items() if isinstance(v, str) and k not in _MIN_META}
    for key, value in record.items():
        if isinstance(value, list) and value and isinstance(value[0], dict) and "labels" in value[0]:
            for number, item in enumerate(value):
                if not isinstance(item, dict):
                    raise UserError(f"{where}: {key}[{number}] must be an object")
                spans.extend(_value_spans(item, f"{where}: {key}[{number}]", "", counts))
    if isinstance(record.get("text"), str):
        return record["text"], spans
    if len(strings) == 1:
        return next(iter(strings.values())), spans
    fields = ", ".join(sorted(strings))
    raise UserError(f'{where}: cannot tell which field is the text (fields: {fields}); name it "text"')


def read_min_rows(
    rows: Sequence[tuple[int, dict[str, Any]]], path: str, rule: str, counts: dict[str, int]
) -> list[AnnotatedText]:
    """The tasks of a JSON_MIN export: one text per task `id`, from the row `rule` chooses (rows without an id
    are tasks of their own)."""
    groups: dict[Any, list[tuple[int, dict[str, Any]]]] = {}
    for line, row in rows:
        key = row.get("id", ("line", line))
        groups.setdefault(key if not isinstance(key, list | dict) else ("line", line), []).append((line, row))
    texts = []
    for group in groups.values():
        chosen = choose([row for _, row in group], "latest" if rule == "ground_truth" else rule)
        assert chosen is not None  # JSON_MIN rows are never cancelled
        counts["annotations not chosen"] = counts.get("annotations not chosen", 0) + len(group) - 1
        line, row = group[chosen]
        text, spans = _min_row(row, f"{path}:{line}", counts)
        texts.append(AnnotatedText(text=text, spans=tuple(spans), id=row.get("id"), source=path, line=line))
    return sorted(texts, key=lambda t: t.line)


def result_items(
    text: str, spans: Sequence[Span], from_name: str = "label", to_name: str = "text"
) -> list[dict[str, Any]]:
    """Label Studio result items for `spans` of `text` (code points), each with its score when it has one."""
    items = []
    for index, span in enumerate(spans):
        value = {"start": span.start, "end": span.end, "text": text[span.start : span.end], "labels": [span.type]}
        item: dict[str, Any] = {"id": f"e{index}", "from_name": from_name, "to_name": to_name, "type": "labels"}
        item["value"] = value
        if span.score is not None:
            item["score"] = span.score
        items.append(item)
    return items


def prediction(
    text: str, spans: Sequence[Span], model_version: str, from_name: str = "label", to_name: str = "text"
) -> dict[str, Any]:
    """A Label Studio prediction (`{"model_version", "score", "result"}`), as an imported task's `predictions`
    item or an ML backend's answer for one task. Its score is the lowest entity score, so that sorting tasks by
    it puts first those holding the entity the model is least sure of; a prediction without entities has none."""
    made: dict[str, Any] = {"model_version": model_version}
    scores = [span.score for span in spans if span.score is not None]
    if scores:
        made["score"] = min(scores)
    made["result"] = result_items(text, spans, from_name, to_name)
    return made


def task(
    text: str,
    annotation: Sequence[Span] | None = None,
    predictions: Sequence[dict[str, Any]] = (),
    meta: dict[str, Any] | None = None,
    from_name: str = "label",
    to_name: str = "text",
) -> dict[str, Any]:
    """A task to import: `{"data": {"text"}, "annotations"?, "predictions"?, "meta"?}`.

    `annotation` spans become one annotation (`result` items), `predictions` go in as they are; `meta` carries
    what Label Studio should keep without showing (the id a JSONL input had)."""
    made: dict[str, Any] = {"data": {"text": text}}
    if annotation is not None:
        made["annotations"] = [{"result": result_items(text, annotation, from_name, to_name)}]
    if predictions:
        made["predictions"] = list(predictions)
    if meta:
        made["meta"] = meta
    return made
