"""`bertner convert`: annotation exports and CoNLL files into each other's formats (issue 21)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from bertner.cli.options import add_annotation_options, annotation_overrides

logger = logging.getLogger("bertner")

_SUFFIXES = {"conll": ".conll", "labelstudio": ".json", "doccano": ".jsonl", "spans-jsonl": ".jsonl"}


def add_parser(commands: Any) -> None:
    p = commands.add_parser(
        "convert",
        help="convert between CoNLL and annotation-tool files (Label Studio, doccano, Prodigy, spans JSONL)",
        description="Reads a CoNLL file or an annotation export (its format told by its keys, or --format) and "
        "writes it as --to says. CoNLL -> spans: each document one text, sentences on lines, words joined by "
        "single spaces; read back with --words whitespace it gives the same words and tags. Offsets are written "
        "in the unit the tool reads: code points, UTF-16 code units for doccano.",
    )
    p.add_argument("input", type=Path, help="a CoNLL file or an annotation export (.json, .jsonl)")
    p.add_argument(
        "output", type=Path, help="the file to write (atomically); with --split a folder for train/valid/test"
    )
    p.add_argument("--to", required=True, choices=list(_SUFFIXES), help="the format to write")
    p.add_argument("--from-name", default="label", help="Label Studio: the <Labels> control's name (default label)")
    p.add_argument("--to-name", default="text", help="Label Studio: the <Text> object's name (default text)")
    p.add_argument("--report", type=Path, help="write what was changed or dropped, as JSON, to this file")
    add_annotation_options(p)


def run(args: argparse.Namespace) -> int:
    from bertner.config_files import load_config
    from bertner.data.annotations.report import AnnotationsReport
    from bertner.data.annotations.write import ToolNames, convert
    from bertner.data.corpus import annotation_settings, is_annotation_file
    from bertner.errors import UserError
    from bertner.files import write_text_atomic

    config = load_config(None, {"data": annotation_overrides(args)}).data
    if not args.input.is_file():
        raise UserError(f"{args.input}: no such file")
    if config.split and args.output.is_file():
        raise UserError(f"{args.output}: --split writes a folder of train, valid and test files, and this is a file")
    conll = not is_annotation_file(args.input, config)
    converted = convert(args.input, args.to, config, conll, ToolNames(args.from_name, args.to_name))
    logger.info("%s", converted.report.summary())
    if config.split:
        for name, lines in converted.parts.items():
            write_text_atomic(args.output / f"{name}{_SUFFIXES[args.to]}", "".join(lines))
    else:
        write_text_atomic(args.output, "".join(converted.parts["all"]))
    if args.report is not None:
        report = AnnotationsReport((converted.report,), annotation_settings(config), converted.split)
        write_text_atomic(args.report, report.to_json())
    where = f"{args.output}/{{train,valid,test}}{_SUFFIXES[args.to]}" if config.split else str(args.output)
    counts = (
        "" if converted.split is None else f" ({', '.join(f'{k} {len(v)}' for k, v in converted.split.lines.items())})"
    )
    print(f"wrote {converted.report.texts} texts{counts} with {converted.report.entities} entities to {where}")
    return 0
