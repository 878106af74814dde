"""`bertner search`: an Optuna hyperparameter search over a space file; tables, a plot and best.toml."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bertner.cli.options import non_negative_int, positive_float, positive_int
from bertner.errors import MissingExtraError

_PRUNERS = ("median", "hyperband", "none")  # search/run.py PRUNERS; not imported, to keep optuna lazy


def add_parser(commands: Any) -> None:
    p = commands.add_parser(
        "search",
        help="search hyperparameters with Optuna (TPE, pruning); resumable, shareable by several processes",
    )
    p.add_argument("space", type=Path, help="a TOML file: a base config and a [search] table of settings to search")
    p.add_argument("--data", required=True, help="a folder with train/valid/test CoNLL files, or hf:owner/name")
    p.add_argument("--output", required=True, type=Path, help="folder for the trials, the tables and best.toml")
    p.add_argument(
        "--trials", required=True, type=positive_int, help="complete or pruned trials the study should hold in all"
    )
    p.add_argument("--storage", help="an Optuna RDB URL (default: sqlite in --output); share it to share the study")
    p.add_argument("--study-name", help="the study's name in the storage (default: the space file's name)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of the TPE sampler (default 0)")
    p.add_argument("--pruner", choices=_PRUNERS, default="median", help="stops trials early by valid F1 per epoch")
    p.add_argument("--timeout", type=positive_float, help="seconds after which this process starts no new trial")
    p.add_argument("--epochs", type=positive_int, help="train every trial for this many epochs (the budget)")
    p.add_argument("--limit-train", type=positive_int, help="train every trial on the first N sentences only")
    p.add_argument("--limit-eval", type=positive_int, help="score every trial on the first N valid sentences only")
    p.add_argument("--encoder-cache", type=Path, help="where mpnet-base is assembled (default ~/.cache/bertner)")


def run(args: argparse.Namespace) -> int:
    try:
        from bertner.search.run import SearchSettings, run_search
    except ModuleNotFoundError as error:
        if error.name != "optuna":
            raise
        raise MissingExtraError("bertner search needs optuna: pip install 'bertner[search]'") from error
    from bertner.search.space import load_space

    budget = {"train.epochs": args.epochs, "data.limit_train": args.limit_train, "data.limit_eval": args.limit_eval}
    space = load_space(args.space, {name: value for name, value in budget.items() if value is not None})
    settings = SearchSettings(
        data=args.data,
        output=args.output,
        trials=args.trials,
        study_name=args.study_name or args.space.stem,
        storage=args.storage,
        seed=args.seed,
        pruner=args.pruner,
        timeout=args.timeout,
        progress=not args.quiet,
        encoder_cache=args.encoder_cache,
    )
    summary = run_search(space, settings)
    print(summary.to_markdown(plot=None), end="")
    return 0
