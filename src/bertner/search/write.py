"""A search's result files: trials.md, trials.csv, trials.png (with matplotlib) and best.toml, the best
trial's config as a file `bertner train --config` takes."""

from __future__ import annotations

import logging
from pathlib import Path

import tomli_w

from bertner.files import write_bytes_atomic, write_text_atomic
from bertner.search.plot import search_png
from bertner.search.results import BEST_CONFIG, RESULT_FILES, SearchSummary, format_value, percent
from bertner.search.space import SearchSpace

logger = logging.getLogger(__name__)


def best_toml(summary: SearchSummary, space: SearchSpace) -> str:
    """The base config with the best trial's values, as a config file, with a header saying where it came from."""
    best = summary.best
    assert best is not None, "best_toml needs a complete trial"
    config = space.best_config(best.params)
    budget = ", ".join(f"{name} = {format_value(value)}" for name, value in space.budget.items())
    header = [
        f"# bertner search: trial {best.number} of study {summary.study_name!r}, the best of "
        f"{summary.count('complete')} complete trials (valid F1 {percent(best.value)}).",
        f"# The base config of {space.where} with the trial's values of {', '.join(space.names)}.",
    ]
    if budget:
        header.append(f"# The trials ran with {budget} (the search's budget, not written here).")
    return "\n".join(header) + "\n" + tomli_w.dumps(config.to_dict())


def write_outputs(summary: SearchSummary, space: SearchSpace, output: Path) -> list[Path]:
    """trials.md, trials.csv, trials.png (with matplotlib) and best.toml (once a trial is complete)."""
    md, csv_path, png = (output / name for name in RESULT_FILES)
    try:
        image: bytes | None = search_png(summary)
    except ImportError as error:
        logger.warning("%s; %s not drawn", error, png.name)
        image = None
    write_text_atomic(md, summary.to_markdown(png.name if image else None))
    write_text_atomic(csv_path, summary.to_csv())
    written = [md, csv_path]
    if image is not None:
        write_bytes_atomic(png, image)
        written.append(png)
    if summary.best is None:
        logger.warning("no trial is complete yet, so there is no %s", BEST_CONFIG)
    else:
        write_text_atomic(output / BEST_CONFIG, best_toml(summary, space))
        written.append(output / BEST_CONFIG)
    return written
