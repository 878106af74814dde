"""What `bertner select` writes into its output folder:

- `tasks.json`: the chosen texts as Label Studio tasks to import, most informative first, each with the model's
  entities as a prediction (`predictions: [{model_version, score, result}]`, data/annotations/labelstudio.py) and
  `meta` holding its rank, uncertainty, strategy, input id and `file:line`;
- `selected.jsonl`: the same, one `{"rank", "id", "source", "line", "text", "uncertainty", "strategy",
  "entities": [{"start", "end", "text", "type", "score"}]}` per line;
- `selection.json`: how they were chosen (model, strategy, seed, pool size, texts skipped) and every text passed
  over as a near-duplicate, with the chosen text it repeats.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bertner.data.annotations import labelstudio
from bertner.data.annotations.write import ToolNames, record_lines
from bertner.files import write_text_atomic
from bertner.selection.dedup import SHINGLE_WORDS
from bertner.selection.select import SelectedText, Selection

TASKS_FILE = "tasks.json"
SELECTED_FILE = "selected.jsonl"
SUMMARY_FILE = "selection.json"


@dataclass(frozen=True)
class SelectionFiles:
    tasks: Path
    selected: Path
    summary: Path


def _meta(item: SelectedText, strategy: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"rank": item.rank, "strategy": strategy, "where": item.text.where()}
    if item.score is not None:
        meta["uncertainty"] = round(item.score, 6)
    if item.text.id is not None:
        meta["id"] = item.text.id
    return meta


def task(item: SelectedText, strategy: str, names: ToolNames) -> dict[str, Any]:
    """One Label Studio task: the text, the model's entities as a prediction, and where it came from."""
    made = labelstudio.prediction(item.text.text, item.entities, names.model_version, names.from_name, names.to_name)
    return labelstudio.task(item.text.text, predictions=[made], meta=_meta(item, strategy))


def selected_record(item: SelectedText, strategy: str) -> dict[str, Any]:
    return {
        "rank": item.rank,
        "id": item.text.id,
        "source": item.text.source,
        "line": item.text.line,
        "text": item.text.text,
        "uncertainty": None if item.score is None else round(item.score, 6),
        "strategy": strategy,
        "entities": [
            {"start": s.start, "end": s.end, "text": s.text, "type": s.type, "score": s.score} for s in item.entities
        ],
    }


def summary(selection: Selection) -> dict[str, Any]:
    return {
        "model": selection.model,
        "strategy": selection.strategy,
        "seed": selection.seed,
        "pool": selection.pool,
        "chosen": len(selection.chosen),
        "skipped": selection.skipped,
        "near_duplicates": {
            "rule": f"equal normalised text, or Jaccard >= {selection.threshold} over word {SHINGLE_WORDS}-shingles",
            "dropped": [{"text": d.where(), "repeats": kept.where()} for d, kept in selection.duplicates],
        },
    }


def write_selection(selection: Selection, output: Path, names: ToolNames | None = None) -> SelectionFiles:
    """Write the three files into `output`, each atomically, all made in memory first."""
    names = names or ToolNames(model_version=f"bertner {Path(selection.model).name}")
    tasks = "".join(record_lines((task(item, selection.strategy, names) for item in selection.chosen), "labelstudio"))
    selected = "".join(
        json.dumps(selected_record(item, selection.strategy), ensure_ascii=False) + "\n" for item in selection.chosen
    )
    about = json.dumps(summary(selection), indent=1, ensure_ascii=False) + "\n"
    files = SelectionFiles(output / TASKS_FILE, output / SELECTED_FILE, output / SUMMARY_FILE)
    for path, text in ((files.tasks, tasks), (files.selected, selected), (files.summary, about)):
        write_text_atomic(path, text)
    return files
