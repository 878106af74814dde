"""`bertner select`: active learning, the texts of an unlabelled pool most worth annotating next (issue 22)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bertner.cli.options import add_backend_options, non_negative_int, positive_int

_DESCRIPTION = """\
Scores every text of an unlabelled pool by the model's uncertainty about its words (from their marginals:
the CRF's forward-backward marginals for a CRF model, the members' mean for an ensemble):
  entropy           mean over words of the entropy of the word's tag distribution
  margin            mean over words of 1 - (best - second best tag probability)
  least-confidence  1 - geometric mean over words of the best tag probability
  total-entropy     sum over words of the entropy (not length-normalised: for a budget counted in texts)
  random            a seeded shuffle (the baseline)
drops near-duplicates (equal normalised text, or Jaccard >= 0.8 over word 3-shingles, against texts already
chosen), and writes the BUDGET most informative to OUT/tasks.json (Label Studio tasks with the model's
entities as predictions), OUT/selected.jsonl, and OUT/selection.json (how they were chosen).

The pool: a text file (one text per line), JSONL or JSON records with a "text", or an annotation export
(Label Studio tasks, doccano, Prodigy); records that are already labelled are left out."""


def add_parser(commands: Any) -> None:
    from bertner.selection.uncertainty import STRATEGIES

    p = commands.add_parser(
        "select",
        help="active learning: choose the pool texts the model is least sure of, as Label Studio tasks",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--model", required=True, help="a run, export or ensemble folder, or an HF token-classification model"
    )
    p.add_argument("--input", required=True, type=Path, help="the pool: a text, JSONL or annotation-export file")
    p.add_argument("--budget", required=True, type=positive_int, help="how many texts to choose")
    p.add_argument("--output", required=True, type=Path, help="folder for tasks.json, selected.jsonl, selection.json")
    p.add_argument("--strategy", choices=STRATEGIES, default="entropy", help="how texts are ranked (default entropy)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of the random strategy (default 0)")
    p.add_argument(
        "--duplicate-threshold",
        type=_jaccard,
        default=None,
        help="Jaccard similarity of word 3-shingles from which a text repeats one chosen before (default 0.8)",
    )
    p.add_argument("--from-name", default="label", help="Label Studio: the <Labels> control's name (default label)")
    p.add_argument("--to-name", default="text", help="Label Studio: the <Text> object's name (default text)")
    p.add_argument("--batch-size", type=positive_int, default=8, help="windows per forward pass")
    add_backend_options(p)


def _jaccard(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], not {text!r}")
    return value


def run(args: argparse.Namespace) -> int:
    from bertner.data.annotations.write import ToolNames
    from bertner.inference.ensemble.folder import load_tagging_model
    from bertner.selection.dedup import THRESHOLD
    from bertner.selection.pool import read_pool
    from bertner.selection.select import select_texts
    from bertner.selection.write import write_selection

    pool = read_pool(args.input)  # bad input is reported before the model is loaded
    model = load_tagging_model(args.model, args.backend, args.threads)
    threshold = THRESHOLD if args.duplicate_threshold is None else args.duplicate_threshold
    selection = select_texts(
        model, pool, args.budget, args.strategy, args.seed, args.batch_size, not args.quiet, threshold
    )
    names = ToolNames(args.from_name, args.to_name, f"bertner {Path(model.path).name}")
    files = write_selection(selection, args.output, names)
    skipped = "".join(f", {count} {reason} left out" for reason, count in pool.skipped.items())
    print(
        f"chose {len(selection.chosen)} of {selection.pool} texts by {selection.strategy} "
        f"({len(selection.duplicates)} near-duplicates passed over{skipped}): {files.tasks}, {files.selected}"
    )
    return 0
