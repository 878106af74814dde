"""The scores recorded beside a model folder, for the server's `/v1/model`.

A run folder may hold `eval/{valid,test}/metrics.json` (written by `bertner train` and `bertner evaluate`)
and `metrics.jsonl` (one line per epoch); an export folder holds its manifest (`export.json`, with the
parity check's figures) and may hold `eval/` too. Whatever is missing or unreadable is left out: the
scores describe a model; they are not needed to serve it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from bertner.inference.onnx.runtime import read_manifest
from bertner.inference.tagging import TaggingModel
from bertner.layout import EPOCH_METRICS_FILE, EVAL_DIR, EXPORT_MANIFEST, SPLIT_METRICS
from bertner.runs import read_epoch_metrics

logger = logging.getLogger(__name__)


SPLITS = ("valid", "test")
OVERALL = ("precision", "recall", "f1")


def _overall(path: Path) -> dict[str, float] | None:
    try:
        overall = json.loads(path.read_text(encoding="utf-8")).get("overall")
    except (OSError, ValueError, AttributeError) as error:
        logger.warning("%s: not read (%s)", path, error)
        return None
    if not isinstance(overall, dict):
        return None
    return {key: overall[key] for key in OVERALL if isinstance(overall.get(key), int | float)}


def model_scores(model: TaggingModel) -> dict[str, Any]:
    """`{"valid": {"precision", "recall", "f1"}, "test": {...}, "best_valid_f1": x, "export": {...}}`, each
    key present only where its file is; all scores in [0, 1]."""
    folder = Path(model.path)
    if model.kind == "hf" or not folder.is_dir():
        return {}
    scores: dict[str, Any] = {}
    for split in SPLITS:
        path = folder / EVAL_DIR / split / SPLIT_METRICS
        if path.is_file() and (overall := _overall(path)):
            scores[split] = overall
    epochs_path = folder / EPOCH_METRICS_FILE
    if epochs_path.is_file():
        try:
            valid = [record.f1 for record in read_epoch_metrics(epochs_path) if record.f1 is not None]
        except ValueError as error:
            logger.warning("%s: not read (%s)", epochs_path, error)
            valid = []
        if valid:
            scores["best_valid_f1"] = max(valid)
    if (folder / EXPORT_MANIFEST).is_file():
        try:
            scores["export"] = read_manifest(folder)
        except ValueError as error:
            logger.warning("%s", error)
    return scores
