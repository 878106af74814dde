"""The files of a corpus to tag, and the output file of each: what `bertner predict --engine ray` works through.

The input is a folder (every file under it, hidden ones excluded), a glob (`corpus/**/*.txt`) or one file.
Each input file gets one output file of JSON lines: its path relative to the input's root, under the output
folder, with the suffix `.jsonl` (`corpus/news/a.txt` -> `out/news/a.jsonl`). An output file is written
atomically (a temporary file renamed over it), so an output file that exists is complete, and a rerun tags
only the files without one (`pending`).
"""

from __future__ import annotations

import glob
import itertools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bertner.data.textinput import FORMATS
from bertner.errors import UserError

OUTPUT_SUFFIX = ".jsonl"


@dataclass(frozen=True)
class CorpusFile:
    """One input file (absolute), the output file it is tagged into, and its format (`text` or `jsonl`)."""

    source: Path
    output: Path
    format: str


def _root_of_glob(pattern: str) -> Path:
    """The folder a glob's matches are named relative to: its leading folders without wildcards."""
    fixed = itertools.takewhile(lambda part: not glob.has_magic(part), Path(pattern).parts[:-1])
    return Path(*fixed)


def _absolute(path: Path) -> Path:
    # abspath, not resolve: a symlinked file keeps its place in the tree, and so its output's name.
    return Path(os.path.abspath(path))


def _is_hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _matches(pattern: str) -> tuple[Path, list[Path]]:
    """The input's root folder and its files, sorted."""
    path = Path(pattern)
    if path.is_dir():
        root = path
        files = [p for p in path.rglob("*") if p.is_file() and not _is_hidden(p, root)]
    elif glob.has_magic(pattern):
        root = _root_of_glob(pattern)
        files = [Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file()]
    elif path.is_file():
        root, files = path.parent, [path]
    else:
        raise UserError(f"{pattern}: no such file or folder")
    return _absolute(root), sorted(_absolute(p) for p in files)


def input_format(path: Path, format: str) -> str:
    """A file's format: `format` itself, or for `auto` jsonl for a *.jsonl file and text otherwise."""
    if format == "auto":
        return "jsonl" if path.suffix == ".jsonl" else "text"
    if format not in FORMATS:
        raise ValueError(f"input format must be auto or one of {', '.join(FORMATS)}, not {format!r}")
    return format


def corpus_files(pattern: str, output_dir: Path, format: str = "auto") -> list[CorpusFile]:
    """The files `pattern` (a folder, a glob or a file) names, each with its output file under `output_dir`.

    Files already under `output_dir` are outputs of an earlier run, not inputs, and are left out.
    Raises UserError when nothing matches, when the output folder is the input folder or holds it, or when
    two inputs would share an output file (`a.txt` and `a.jsonl`).
    """
    root, files = _matches(pattern)
    output_dir = _absolute(output_dir)
    if root == output_dir or output_dir in root.parents:
        raise UserError(f"{output_dir}: the output folder must not hold the input {pattern}; choose another")
    found: dict[Path, CorpusFile] = {}
    for source in files:
        if output_dir in source.parents:
            continue
        output = (output_dir / source.relative_to(root)).with_suffix(OUTPUT_SUFFIX)
        if output in found:
            raise UserError(f"{found[output].source} and {source} would both be tagged into {output}; rename one")
        found[output] = CorpusFile(source, output, input_format(source, format))
    if not found:
        raise UserError(f"{pattern}: matches no files")
    return list(found.values())


def pending(files: Sequence[CorpusFile]) -> list[CorpusFile]:
    """The files whose output does not exist yet (an existing output is complete: it was renamed into place)."""
    return [file for file in files if not os.path.exists(file.output)]
