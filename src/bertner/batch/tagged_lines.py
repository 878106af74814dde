"""`bertner predict`'s output: one JSON line per input record, `{"id"?, "text", "entities": [...]}`, or (issue 21)
one record per input record in a format an annotation tool imports as pre-annotations (`Output`): a Label Studio
task with `predictions: [{model_version, score, result}]` (a JSON array, a task per line), a doccano record
(offsets in UTF-16 code units), or a `{"text", "spans"}` record (data/annotations/write.py).

The one place that turns records into tagged lines, so that plain `predict` and the Ray engine
(batch/ray_engine.py) write the same bytes for the same input: the same chunks of `chunk_size` texts go
through the same `Predictor.predict`, and an int8 export, which quantizes its activations per batch, sees
the same batches either way.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from bertner.data.annotations.records import Span
from bertner.data.annotations.write import SPAN_TARGETS, ToolNames, record
from bertner.data.textinput import TextRecord
from bertner.inference.predictor import Predictor, TextEntity

OUTPUT_FORMATS = ("jsonl", *SPAN_TARGETS)


def tagged_line(record: TextRecord, entities: Sequence[TextEntity]) -> str:
    """The output line of one record, newline included; the id comes first, and only when the input had one."""
    line: dict[str, object] = {"text": record.text, "entities": [e.to_dict() for e in entities]}
    if record.id is not None:
        line = {"id": record.id, **line}
    return json.dumps(line, ensure_ascii=False) + "\n"


@dataclass(frozen=True)
class Output:
    """What each record is written as: `jsonl` (predict's own lines) or an annotation tool's format, whose records
    carry the entities as predictions (Label Studio: named as `names` says)."""

    to: str = "jsonl"
    names: ToolNames = field(default_factory=ToolNames)

    def __post_init__(self) -> None:
        if self.to not in OUTPUT_FORMATS:
            raise ValueError(f"output format must be one of {', '.join(OUTPUT_FORMATS)}, not {self.to!r}")

    def opening(self) -> str:
        """What comes before the first record: Label Studio imports a JSON array of tasks."""
        return "[" if self.to == "labelstudio" else ""

    def closing(self) -> str:
        return "\n]\n" if self.to == "labelstudio" else ""

    def line(self, item: TextRecord, entities: Sequence[TextEntity], first: bool) -> str:
        """One record's text in the file; in a Label Studio array each record after the first opens with a comma."""
        if self.to == "jsonl":
            return tagged_line(item, entities)
        spans = [Span(start=e.start, end=e.end, type=e.type, text=e.text, score=e.score) for e in entities]
        made = json.dumps(record(item.text, spans, self.to, item.id, self.names, predicted=True), ensure_ascii=False)
        if self.to == "labelstudio":
            return ("\n" if first else ",\n") + made
        return made + "\n"


def tag_records(
    predictor: Predictor, records: Iterable[TextRecord], output: Output | None = None
) -> Iterator[list[str]]:
    """The output of `records`, one string per record, in input order, a chunk (`predictor.chunk_size` records)
    at a time; `output.opening()` and `output.closing()` frame them.

    Records are pulled lazily, one chunk ahead, as `Predictor.predict_stream` does.
    """
    output = output or Output()
    iterator = iter(records)
    first = True
    while chunk := list(itertools.islice(iterator, predictor.chunk_size)):
        found = predictor.predict([item.text for item in chunk])
        lines = []
        for item, entities in zip(chunk, found, strict=True):
            lines.append(output.line(item, entities, first))
            first = False
        yield lines
