"""`bertner experiment`: every variant x seed of an experiment file, then the tables."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_parser(commands: Any) -> None:
    p = commands.add_parser("experiment", help="run every variant x seed of an experiment file; write tables")
    p.add_argument("config", type=Path, help="a TOML file: base config, [experiment], [[variants]], [grid]")
    p.add_argument("--data", help="override [experiment] data")
    p.add_argument("--output", type=Path, help="override [experiment] output")
    p.add_argument("--in-process", action="store_true", help="train in this process (no per-run memory peak)")
    p.add_argument("--encoder-cache", type=Path, help="where mpnet-base is assembled (default ~/.cache/bertner)")


def run(args: argparse.Namespace) -> int:
    from bertner.experiments.runner import run_experiment as run
    from bertner.experiments.spec import load_experiment

    experiment = load_experiment(args.config, args.data, args.output)
    results = run(experiment, progress=not args.quiet, isolate=not args.in_process, encoder_cache=args.encoder_cache)
    print(results.to_markdown())
    return 0
