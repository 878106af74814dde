"""`bertner compare`: config differences, scores, times and curves of several runs; a paired significance test."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bertner.cli.options import non_negative_int, positive_int
from bertner.errors import UserError


def add_parser(commands: Any) -> None:
    p = commands.add_parser("compare", help="compare runs: config differences, valid/test F1, time, curves")
    p.add_argument("runs", nargs="+", type=Path, help="run folders written by `bertner train`")
    p.add_argument("--plot", type=Path, help="write the overlaid valid-F1-per-epoch curves to this PNG")
    p.add_argument(
        "--significance",
        action="store_true",
        help="paired bootstrap test between two runs' predictions on the same file",
    )
    p.add_argument("--split", choices=["valid", "test"], default="test", help="whose predictions to test")
    p.add_argument("--samples", type=positive_int, default=1000)
    p.add_argument("--seed", type=non_negative_int, default=0)


def run(args: argparse.Namespace) -> int:
    from bertner.evaluation.compare import compare_runs, paired_significance
    from bertner.evaluation.predictions import read_predictions

    comparison = compare_runs(args.runs)
    print(comparison.to_markdown())
    if args.plot:
        from bertner.files import write_bytes_atomic

        write_bytes_atomic(args.plot, comparison.overlay_png())
        print(f"wrote {args.plot}")
    if args.significance:
        if len(args.runs) != 2:
            raise UserError(f"--significance compares exactly two runs, got {len(args.runs)}")
        a, b = (read_predictions(run / "eval" / args.split / "predictions.conll") for run in args.runs)
        test = paired_significance(a, b, args.samples, args.seed)
        print(
            f"paired bootstrap on {args.split} ({test.samples} samples): F1 {test.f1_a * 100:.2f} vs "
            f"{test.f1_b * 100:.2f}, delta {test.delta * 100:+.2f}, {test.p_text()}"
        )
    return 0
