"""An experiment's result files: results.md, results.csv, results.json and (with matplotlib) results.png."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from bertner.experiments.plot import experiment_png
from bertner.experiments.results import RESULT_FILES, ExperimentResults
from bertner.files import write_bytes_atomic, write_text_atomic

logger = logging.getLogger(__name__)


def write_results(results: ExperimentResults, output: Path) -> list[Path]:
    """results.md, results.csv, results.json and (with matplotlib) results.png in `output`; returns the paths."""
    md, csv_path, json_path, png = (output / name for name in RESULT_FILES)
    try:
        image: bytes | None = experiment_png(results)
    except ImportError as error:
        logger.warning("%s; results.png not drawn", error)
        image = None
    write_text_atomic(md, results.to_markdown(png.name if image else None))
    write_text_atomic(csv_path, results.to_csv())
    write_text_atomic(json_path, json.dumps(results.to_dict(), indent=2) + "\n")
    written = [md, csv_path, json_path]
    if image is not None:
        write_bytes_atomic(png, image)
        written.append(png)
    return written
