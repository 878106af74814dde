"""`bertner ensemble`: an ensemble folder that evaluate, predict and serve take like a run folder."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_parser(commands: Any) -> None:
    p = commands.add_parser(
        "ensemble",
        help="make an ensemble of models that evaluate, predict and serve take like a run folder",
        description="Members (run folders, export folders, HF token-classification models) must have the same "
        "labels and may differ in encoder and tokenizer: their per-word label probabilities are averaged; with a "
        "CRF member, their per-word scores and CRF scores are, and Viterbi decodes legal IOB2. The folder references "
        "its members by absolute path, or holds copies of them with --copy.",
    )
    p.add_argument("members", nargs="+", help="two or more run folders, export folders or HF models")
    p.add_argument("--output", required=True, type=Path, help="the ensemble folder (new, empty, or an earlier one)")
    p.add_argument("--copy", action="store_true", help="copy the members' model files into the folder")


def run(args: argparse.Namespace) -> int:
    from bertner.inference.ensemble.write import make_ensemble

    written = make_ensemble(args.members, args.output, copy=args.copy)
    manifest = written.manifest
    how = "copied into it" if manifest.copied else "referenced by absolute path"
    decoding = "mean emissions and CRF scores, Viterbi" if written.viterbi else "mean word probabilities"
    print(
        f"wrote {written.output}: {len(manifest.members)} members ({how}; {written.backend}), "
        f"{len(manifest.labels)} labels, {decoding}"
    )
    # The members' own temperatures do not carry over to the ensemble's combined scores (issue 23).
    print(f"its entity scores are at T = 1 until calibrated: bertner calibrate {written.output} --data DATA")
    return 0
