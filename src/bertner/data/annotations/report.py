"""What reading annotation files did: per file its format, offset unit, counts, and every span changed or dropped.

Written beside a run as `annotations.json` (layout.ANNOTATIONS_REPORT), summed up in one line per file on stderr.
For every file, `entities` (the entities on the words) equals `spans` (the spans of the texts kept) minus the
spans listed under `dropped`; the spans listed under `changed` are kept with new offsets.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bertner.data.annotations.offsets import Offsets
from bertner.data.annotations.records import DroppedRecord
from bertner.data.annotations.split import SplitRecord
from bertner.data.annotations.words import SpanChange


@dataclass(frozen=True)
class FileReport:
    path: str
    format: str
    offsets: Offsets
    records: int
    texts: int
    sentences: int
    spans: int
    entities: int
    changes: tuple[SpanChange, ...] = ()
    dropped_records: tuple[DroppedRecord, ...] = ()
    counts: dict[str, int] = field(default_factory=dict)
    joined: int = 0
    """Sentence boundaries removed because a span crossed them."""

    @property
    def dropped(self) -> list[SpanChange]:
        return [c for c in self.changes if c.kept is None]

    @property
    def changed(self) -> list[SpanChange]:
        return [c for c in self.changes if c.kept is not None]

    def to_dict(self) -> dict[str, Any]:
        records = [{"line": d.line, "id": d.id, "reason": d.reason} for d in self.dropped_records]
        return {
            "path": self.path,
            "format": self.format,
            "offsets": {"unit": self.offsets.unit, "how": self.offsets.how},
            "records": self.records,
            "texts": self.texts,
            "dropped_records": {"by_reason": dict(Counter(d.reason for d in self.dropped_records)), "list": records},
            "other": self.counts,
            "sentences": self.sentences,
            "sentence_boundaries_removed": self.joined,
            "spans": self.spans,
            "entities": self.entities,
            "changed": {"by_action": _by_action(self.changed), "list": [c.to_dict() for c in self.changed]},
            "dropped": {"by_action": _by_action(self.dropped), "list": [c.to_dict() for c in self.dropped]},
        }

    def summary(self) -> str:
        """One line for stderr."""
        parts = [f"{self.path}: {self.format}, offsets in {self.offsets.unit} ({self.offsets.how})"]
        records = Counter(d.reason for d in self.dropped_records)
        parts.append(f"{self.texts} of {self.records} records used" + _listing(records))
        parts.append(f"{self.spans} spans -> {self.entities} entities")
        parts.append(f"{len(self.changed)} spans changed" + _listing(_by_action(self.changed)))
        parts.append(f"{len(self.dropped)} dropped" + _listing(_by_action(self.dropped)))
        parts += [f"{count} {name}" for name, count in self.counts.items()]
        return "; ".join(parts)


def _by_action(changes: Sequence[SpanChange]) -> dict[str, int]:
    return dict(Counter(", ".join(c.actions) for c in changes))


def _listing(counts: dict[str, int] | Counter[str]) -> str:
    return f" ({', '.join(f'{n} {what}' for what, n in counts.items())})" if counts else ""


@dataclass(frozen=True)
class AnnotationsReport:
    """The reports of a corpus's annotation files, the settings they were read with, and the split, if any."""

    files: tuple[FileReport, ...]
    settings: dict[str, Any]
    split: SplitRecord | None = None

    def to_dict(self) -> dict[str, Any]:
        made: dict[str, Any] = {"settings": self.settings, "files": [f.to_dict() for f in self.files]}
        return made | ({"split": self.split.to_dict()} if self.split else {})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=1) + "\n"
