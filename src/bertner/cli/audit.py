"""`bertner audit`: rank the sentences of a labelled file by how likely their gold labels are wrong (issue 22)."""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path
from typing import Any

from bertner.cli.options import (
    add_annotation_options,
    add_backend_options,
    annotation_overrides,
    non_negative_int,
    positive_int,
)

logger = logging.getLogger("bertner")

_DESCRIPTION = """\
Ranks the sentences of a labelled file (CoNLL or an annotation export) by how likely their gold labels are
wrong, with cleanlab's token_classification on each word's label distribution: the CRF's forward-backward
marginals for a CRF model, the members' mean for an ensemble. Writes audit.jsonl (every sentence, worst
first, with its suspect words and the model's tags), suggestions.conll (the file with the model's tags as one
more column) and audit.html / audit.md (the worst sentences in their document context).

A model scores its own training data with the labels it learned; to audit training data, --folds K trains K
models on K-1 folds each with the run's config (picking epochs on --train-data's valid split) and uses the
probabilities of the model that did not see the sentence. It says what that costs before it starts."""


def add_parser(commands: Any) -> None:
    from bertner.audit.rank import TOKEN_SCORE_METHODS

    p = commands.add_parser(
        "audit",
        help="rank a labelled file's sentences by how likely their labels are wrong (cleanlab)",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", required=True, help="a run, export or ensemble folder (with --folds: a run folder)")
    p.add_argument("--data", required=True, type=Path, help="the labelled file: CoNLL or an annotation export")
    p.add_argument("--output", required=True, type=Path, help="folder for audit.jsonl, suggestions.conll, audit.html")
    p.add_argument("--folds", type=positive_int, help="audit training data: K fold models, out-of-fold probabilities")
    p.add_argument(
        "--train-data", type=Path, help="with --folds: a corpus folder whose valid split picks each fold model's epoch"
    )
    p.add_argument("--fold-seed", type=non_negative_int, default=0, help="seed of the fold assignment (default 0)")
    p.add_argument("--epochs", type=positive_int, help="with --folds: epochs of each fold model (default: the run's)")
    p.add_argument("--dry-run", action="store_true", help="with --folds: print the cost and stop")
    p.add_argument(
        "--token-score", choices=TOKEN_SCORE_METHODS, default="self_confidence", help="cleanlab's word score"
    )
    p.add_argument("--show", type=positive_int, default=100, help="sentences shown in audit.html (default 100)")
    p.add_argument("--batch-size", type=positive_int, default=8, help="windows per forward pass")
    add_backend_options(p)
    add_annotation_options(p, split=False)


def _read(args: argparse.Namespace, data_config: Any) -> tuple[list[Any], str | None]:
    """The audited sentences, and the file's text when it is a CoNLL file (suggestions.conll keeps its lines)."""
    from bertner.data.corpus import is_annotation_file, read_file
    from bertner.errors import UserError

    if not args.data.is_file():
        raise UserError(f"{args.data}: no such file (--data is one labelled file)")
    overrides = {k: v for k, v in annotation_overrides(args).items() if v is not None and k not in ("split",)}
    config = dataclasses.replace(data_config, **overrides, split=())
    sentences, _ = read_file(args.data, config)
    if not sentences:
        raise UserError(f"{args.data}: no sentences to audit")
    conll = None if is_annotation_file(args.data, config) else args.data.read_text(encoding="utf-8")
    return sentences, conll.removeprefix("\ufeff") if conll is not None else None


def run(args: argparse.Namespace) -> int:
    from bertner.audit.run import audit_with_model
    from bertner.errors import UserError

    if args.folds is None and (args.train_data is not None or args.epochs is not None or args.dry_run):
        raise UserError("--train-data, --epochs and --dry-run go with --folds")
    if args.folds is not None:
        return _run_folds(args)
    from bertner.inference.ensemble.folder import load_tagging_model

    model = load_tagging_model(args.model, args.backend, args.threads)
    sentences, conll = _read(args, model.config.data)
    result = audit_with_model(model, sentences, str(args.data), args.token_score, args.batch_size, not args.quiet)
    return _finish(result, args, conll)


def _run_folds(args: argparse.Namespace) -> int:
    from bertner.audit.folds import FOLDS_DIR, assign_folds, estimate_cost, fold_config, train_folds
    from bertner.audit.run import audit_with_folds
    from bertner.config_files import read_saved_config
    from bertner.data.corpus import read_split
    from bertner.errors import UserError
    from bertner.inference.ensemble.folder import is_ensemble
    from bertner.layout import CONFIG_FILENAME

    run_dir = Path(args.model)
    if is_ensemble(run_dir) or not (run_dir / CONFIG_FILENAME).is_file():
        raise UserError(f"{run_dir}: --folds trains new models with a run's recorded config: give a run folder")
    if args.train_data is None:
        raise UserError("--folds needs --train-data DIR: a corpus folder whose valid split picks each fold's epoch")
    config = fold_config(read_saved_config(run_dir), args.epochs, None)
    sentences, conll = _read(args, config.data)
    plan = assign_folds(sentences, args.folds, args.fold_seed)
    valid = read_split(args.train_data, "valid", config.data)
    print(estimate_cost(plan, len(sentences), config, run_dir).describe(), flush=True)
    if args.dry_run:
        return 0
    folders = train_folds(config, sentences, plan, valid, args.output, progress=not args.quiet)
    result = audit_with_folds(
        folders,
        plan,
        sentences,
        str(args.data),
        args.token_score,
        args.batch_size,
        not args.quiet,
        args.backend,
        args.threads,
    )
    print(f"fold models in {args.output / FOLDS_DIR}")
    return _finish(result, args, conll)


def _finish(result: Any, args: argparse.Namespace, conll: str | None) -> int:
    from bertner.audit.write import write_audit

    files = write_audit(result, args.output, conll, args.show)
    print(
        f"{len(result.sentences)} sentences audited, {result.flagged} flagged by confident learning; worst first in "
        f"{files.audit}, suggestions in {files.suggestions}, the page {files.html}"
    )
    return 0
