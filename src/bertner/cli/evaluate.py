"""`bertner evaluate`: score a trained model on a CoNLL file with conlleval's rules, and write the report."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from bertner.cli.options import (
    add_annotation_options,
    add_backend_options,
    add_precision_option,
    add_report_options,
    annotation_overrides,
    bf16_option,
    positive_int,
    print_scores,
    report_options,
)
from bertner.errors import UserError

logger = logging.getLogger("bertner")


def add_parser(commands: Any) -> None:
    p = commands.add_parser("evaluate", help="score a trained model on a CoNLL file with conlleval's rules")
    p.add_argument(
        "--model", required=True, help="a run, export or ensemble folder, or an HF token-classification model"
    )
    p.add_argument(
        "--data", required=True, type=Path, help="a CoNLL file or annotation export, or a folder (see --split)"
    )
    p.add_argument("--split", choices=["valid", "test"], default="test", help="which file of a folder")
    p.add_argument("--output", type=Path, help="folder for metrics.json, predictions.conll and the report")
    p.add_argument("--batch-size", type=positive_int, default=8, help="windows per forward pass")
    p.add_argument("--map", help="rename gold entity types first, e.g. PERSON=PER,LOCATION=LOC,DATE=O")
    add_backend_options(p)
    add_precision_option(p)
    add_report_options(p)
    # An export is read as the model's run read its data (words, misaligned, ...), unless these say otherwise;
    # its format is told afresh (auto), since the file is not the run's.
    add_annotation_options(p, split=False)


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from bertner.data.annotations.report import AnnotationsReport
    from bertner.data.corpus import annotation_settings, find_split, read_file
    from bertner.evaluation.predictions import map_sentences, parse_type_map
    from bertner.inference.ensemble.folder import load_tagging_model
    from bertner.inference.evaluate import evaluate_sentences, write_evaluation
    from bertner.layout import ANNOTATIONS_REPORT

    model = load_tagging_model(args.model, args.backend, args.threads, bf16_option(args.bf16))
    given = {key: value for key, value in annotation_overrides(args).items() if value is not None}
    data = replace(model.config.data, **({"format": "auto"} | given))
    sentences, report = read_file(find_split(args.data, args.split) if args.data.is_dir() else args.data, data)
    if args.map:
        sentences = list(map_sentences(sentences, parse_type_map(args.map)))
    evaluation = evaluate_sentences(model, sentences, args.batch_size, progress=not args.quiet)
    gold_only = sorted({t[2:] for s in sentences for t in s.tags if t != "O"} - set(evaluation.model_types))
    if gold_only:
        logger.warning("gold types the model cannot predict (all counted as missed): %s", ", ".join(gold_only))
    local = Path(args.model) if Path(args.model).is_dir() else None
    if args.output is None and local is None:
        raise UserError(f"{args.model} is not a local folder: say where the report goes with --output")
    output = args.output or Path(args.model) / "eval" / (args.data.stem if args.data.is_file() else args.split)
    extra = {}
    if report is not None:  # what reading the export changed or dropped, beside the scores it gave
        extra[ANNOTATIONS_REPORT] = AnnotationsReport((report,), annotation_settings(data)).to_json().encode("utf-8")
    run_dir = local if model.kind == "run" else None
    files = write_evaluation(evaluation, output, run_dir, **report_options(args), extra_files=extra)
    print_scores(str(args.data), evaluation.scores.to_dict())
    print(f"wrote {files.metrics}, {output / 'predictions.conll'} and the report {files.html}")
    return 0
