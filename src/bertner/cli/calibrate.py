"""`bertner calibrate`: fit the temperature that makes a model's entity scores probabilities, and save it with it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bertner.cli.options import add_backend_options, positive_int
from bertner.errors import UserError


def add_parser(commands: Any) -> None:
    p = commands.add_parser(
        "calibrate",
        help="fit the temperature of a run, export or ensemble on labelled data, saved as calibration.json",
        description="Scores the labelled sentences once, fits the temperature (and per-type temperatures where "
        "held-out evidence says they help) that makes the predicted entities' scores probabilities, and writes "
        "calibration.json into the model's folder, replacing an earlier one; predict, evaluate, serve and the "
        "page use it from then on. bertner train does this on the valid split by itself; this is for older runs, "
        "exports (which copy their run's, fitted on PyTorch scores) and ensembles (whose combined scores need "
        "their own).",
    )
    p.add_argument("model", help="a run, export or ensemble folder")
    p.add_argument(
        "--data", required=True, type=Path, help="a labelled CoNLL file or annotation export, or a folder (--split)"
    )
    p.add_argument("--split", choices=["valid", "test", "train"], default="valid", help="which file of a folder")
    p.add_argument(
        "--per-type",
        choices=["auto", "yes", "no"],
        default="auto",
        help="one temperature per entity type: auto keeps them when they lower the held-out log loss (two halves "
        "of the data, each fitted on the other)",
    )
    p.add_argument(
        "--isotonic",
        nargs="?",
        const="yes",
        choices=["auto", "yes", "no"],
        default="auto",
        help="after the temperature, a monotone map of entity scores (isotonic regression, needs scikit-learn) that "
        "can bend where a temperature only sharpens or softens: auto (the default) keeps it when it lowers the "
        "held-out ECE (two halves, each fitted on the other) with at least 1000 predicted entities; --isotonic "
        "alone: yes",
    )
    p.add_argument("--batch-size", type=positive_int, default=8, help="windows per forward pass")
    add_backend_options(p)


def run(args: argparse.Namespace) -> int:
    from bertner.data.corpus import find_split, read_file
    from bertner.inference.calibrate import fit_model, model_folder, save_calibration
    from bertner.inference.ensemble.folder import load_tagging_model

    model = load_tagging_model(args.model, args.backend, args.threads)
    model_folder(model)  # refuse a hub id before scoring anything
    path = find_split(args.data, args.split) if args.data.is_dir() else args.data
    sentences, _ = read_file(path, model.config.data)
    if not sentences:
        raise UserError(f"{path}: no sentences to calibrate on")
    fitted = fit_model(
        model, sentences, str(path), args.per_type, args.batch_size, progress=not args.quiet, isotonic=args.isotonic
    )
    written = save_calibration(model, fitted.calibration)
    print(f"calibrated {args.model} ({model.kind} on {model.backend}): {fitted.summary()}")
    print(f"wrote {written}")
    return 0
