"""The teacher's raw scores of a set of sentences, kept on disk so that it runs once for many students.

One `.npz` file per set of sentences (the training split, the unlabelled text) holds every member's per-word
scores (`logits_<i>`, float32, (all words, num_labels)), the sentences' word offsets, and a JSON record: the
teacher's labels and CRFs (decoding/chain.py's dict), the teacher's fingerprint and the data's
(distillation/fingerprint.py). The temperature is not in it: targets are made from the scores at any T.

A file is used only when both fingerprints are the ones it records. Otherwise the scores are computed again
and the file replaced, and the log says why: the teacher's files changed (naming them), or the sentences did
(another `--limit-train`, other data or unlabelled text). A file that cannot be read as a cache (cut short, of
another format) is recomputed the same way. Writes are atomic (files.py), so a killed run leaves the old file
or the new one.
"""

from __future__ import annotations

import io
import json
import logging
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from bertner.decoding.chain import LinearChain
from bertner.decoding.words import WordScores
from bertner.distillation.fingerprint import TeacherFingerprint
from bertner.distillation.teacher import TeacherScores
from bertner.files import write_bytes_atomic

logger = logging.getLogger(__name__)

CACHE_FORMAT = 1


class CacheOutcome(str, Enum):
    """What became of a cache file."""

    REUSED = "reused"
    NEW = "computed"
    TEACHER_CHANGED = "recomputed: the teacher changed"
    DATA_CHANGED = "recomputed: the sentences changed"
    UNREADABLE = "recomputed: the cache could not be read"


@dataclass(frozen=True)
class CachedScores:
    """The teacher's scores of some sentences, whether they came from the cache, and the seconds scoring took
    (0 when reused)."""

    scores: TeacherScores
    outcome: CacheOutcome
    seconds: float


def cached_scores(
    path: Path, teacher: TeacherFingerprint, data: str, compute: Callable[[], TeacherScores]
) -> CachedScores:
    """The scores in `path` if it records `teacher` and `data` (the data's fingerprint), else `compute()`'s,
    written to `path`."""
    outcome = CacheOutcome.NEW
    if path.exists():
        found = _read(path)
        if found is None:
            outcome = CacheOutcome.UNREADABLE
        else:
            before, before_data, scores = found
            if before.digest != teacher.digest:
                changed = teacher.changes(before)
                outcome = CacheOutcome.TEACHER_CHANGED
                logger.info("%s: the teacher changed (%s); scoring again", path, ", ".join(changed[:5]))
            elif before_data != data:
                outcome = CacheOutcome.DATA_CHANGED
                logger.info("%s: the sentences changed since it was written; scoring again", path)
            else:
                logger.info("%s: the teacher's scores of %d sentences, reused", path, scores.num_sentences)
                return CachedScores(scores, CacheOutcome.REUSED, 0.0)
    started = time.monotonic()
    scores = compute()
    seconds = time.monotonic() - started
    _write(path, scores, teacher, data)
    logger.info(
        "%s: the teacher scored %d sentences in %.1f s (%.1f s per 1,000)",
        path,
        scores.num_sentences,
        seconds,
        1000 * seconds / max(scores.num_sentences, 1),
    )
    return CachedScores(scores, outcome, seconds)


def _write(path: Path, scores: TeacherScores, teacher: TeacherFingerprint, data: str) -> None:
    record = {
        "format": CACHE_FORMAT,
        "labels": list(scores.labels),
        "crf": [None if member.crf is None else member.crf.to_dict() for member in scores.members],
        "teacher": [list(entry) for entry in teacher.files],
        "data": data,
    }
    arrays: dict[str, Any] = {f"logits_{index}": member.logits for index, member in enumerate(scores.members)}
    arrays.update(record=np.array(json.dumps(record)), offsets=scores.members[0].offsets)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_bytes_atomic(path, buffer.getvalue())


def _read(path: Path) -> tuple[TeacherFingerprint, str, TeacherScores] | None:
    """The teacher's and the data's fingerprints `path` records and its scores, or None (logged) when it is not a
    cache this bertner wrote."""
    try:
        with np.load(path, allow_pickle=False) as arrays:
            record = json.loads(str(arrays["record"]))
            if record.get("format") != CACHE_FORMAT:
                raise ValueError(f"format {record.get('format')!r}, expected {CACHE_FORMAT}")
            offsets = arrays["offsets"]
            members = tuple(
                WordScores(
                    arrays[f"logits_{index}"],
                    offsets,
                    None if chain is None else LinearChain.from_dict(chain, f"{path}: crf[{index}]"),
                )
                for index, chain in enumerate(record["crf"])
            )
            teacher = TeacherFingerprint(files=tuple((str(name), str(digest)) for name, digest in record["teacher"]))
        return teacher, str(record["data"]), TeacherScores(members=members, labels=tuple(record["labels"]))
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as error:
        logger.warning("%s: not a readable cache of teacher scores (%s); scoring again", path, error)
        return None
