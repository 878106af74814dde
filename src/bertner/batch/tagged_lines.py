"""`bertner predict`'s output: one JSON line per input record, `{"id"?, "text", "entities": [...]}`.

The one place that turns records into tagged lines, so that plain `predict` and the Ray engine
(batch/ray_engine.py) write the same bytes for the same input: the same chunks of `chunk_size` texts go
through the same `Predictor.predict`, and an int8 export, which quantizes its activations per batch, sees
the same batches either way.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator, Sequence

from bertner.data.textinput import TextRecord
from bertner.inference.predictor import Predictor, TextEntity


def tagged_line(record: TextRecord, entities: Sequence[TextEntity]) -> str:
    """The output line of one record, newline included; the id comes first, and only when the input had one."""
    line: dict[str, object] = {"text": record.text, "entities": [e.to_dict() for e in entities]}
    if record.id is not None:
        line = {"id": record.id, **line}
    return json.dumps(line, ensure_ascii=False) + "\n"


def tag_records(predictor: Predictor, records: Iterable[TextRecord]) -> Iterator[list[str]]:
    """The output lines of `records`, in input order, a chunk (`predictor.chunk_size` records) at a time.

    Records are pulled lazily, one chunk ahead, as `Predictor.predict_stream` does.
    """
    iterator = iter(records)
    while chunk := list(itertools.islice(iterator, predictor.chunk_size)):
        found = predictor.predict([record.text for record in chunk])
        yield [tagged_line(record, entities) for record, entities in zip(chunk, found, strict=True)]
