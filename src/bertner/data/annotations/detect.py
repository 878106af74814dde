"""Which tool wrote an annotation file, told from the keys of its records.

A record decides the format when it has a key only that format uses; a record with a text and nothing else
(a task nobody has labelled) fits several formats and decides nothing. The file's format is that of its first
deciding record, and every record is then read by that format's reader, which names the line of any record
that does not fit. A record whose keys fit no format stops the read, naming its keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bertner.config import ANNOTATION_FORMATS
from bertner.errors import UserError

LABEL_STUDIO = "labelstudio"
LABEL_STUDIO_MIN = "labelstudio-min"
DOCCANO = "doccano"
PRODIGY = "prodigy"
SPANS = "spans"
FORMATS = ANNOTATION_FORMATS
assert FORMATS == (LABEL_STUDIO, LABEL_STUDIO_MIN, DOCCANO, PRODIGY, SPANS)
"""The annotation formats read; `spans` is the generic `{"text", "spans"|"entities": [{"start", "end", "label"}]}`
that many scripts write (and that `bertner predict` and `convert --to spans-jsonl` write)."""

_PRODIGY_KEYS = ("answer", "_input_hash", "_task_hash")
_DOCCANO_KEYS = ("label", "labels")
# Keys that may hold lists without being annotations (doccano's relations, comments; metadata).
_NOT_SPANS = frozenset({"relations", "comments", "cats", "meta", "metadata", "tokens", "options", "accept"})


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else None


def _is_min_result(value: Any) -> bool:
    """A JSON_MIN control's list: `[{"start", "end", "text", "labels": [...]}, ...]`."""
    item = _first(value)
    return isinstance(item, dict) and "labels" in item and "start" in item


def record_format(record: dict[str, Any]) -> str | None:
    """The format `record`'s keys name, or None when they name none in particular (a bare text)."""
    if "annotations" in record or isinstance(record.get("data"), dict):
        return LABEL_STUDIO
    if any(key in record for key in _PRODIGY_KEYS):
        return PRODIGY
    if any(_is_min_result(value) for value in record.values()):
        return LABEL_STUDIO_MIN
    if any(isinstance(record.get(key), list) for key in _DOCCANO_KEYS) or isinstance(record.get("data"), str):
        return DOCCANO
    entities = _first(record.get("entities"))
    if isinstance(entities, list) or (isinstance(entities, dict) and "start_offset" in entities):
        return DOCCANO
    if isinstance(record.get("spans"), list) or isinstance(entities, dict):
        return SPANS
    return None


def _check_bare(record: dict[str, Any], where: str) -> None:
    """A record that decides nothing must at least be a text, and hold no list we would silently ignore."""
    unknown = [k for k, v in record.items() if isinstance(v, list) and v and k not in _NOT_SPANS and k != "entities"]
    if "text" not in record or unknown:
        raise UserError(
            f"{where}: unknown key layout (keys: {', '.join(sorted(record)) or 'none'}); expected a Label Studio "
            'task ("data", "annotations"), Label Studio JSON_MIN, doccano ("text", "label"), Prodigy ("text", '
            '"spans", "answer") or {"text", "spans"|"entities"}; name the format with --format if it is one of these'
        )


def check_record(record: dict[str, Any], format: str, where: str) -> None:
    """Refuse a record that the reader of `format` would misread: one whose keys name another format, or fit none.

    Prodigy and the generic spans layout share a reader, so either may follow the other."""
    found = record_format(record)
    if found is None:
        _check_bare(record, where)
    elif found != format and {found, format} != {PRODIGY, SPANS}:
        raise UserError(
            f"{where}: the keys of this record ({', '.join(sorted(record))}) are {found}'s, but the file is read as "
            f"{format} (named by --format or by its first records)"
        )


def detect_format(records: Sequence[tuple[int, dict[str, Any]]], path: str) -> str:
    """The format of a file's records: that of the first record that decides one (`spans` when none does)."""
    for line, record in records:
        found = record_format(record)
        if found is not None:
            return found
        _check_bare(record, f"{path}:{line}")
    return SPANS
