"""`bertner distill`: train a student on the gold labels and a teacher's word distributions, then score it."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from bertner.cli.options import non_negative_float, positive_float, unit_interval
from bertner.cli.train import add_train_arguments, evaluate_run, train_overrides

logger = logging.getLogger("bertner")


def add_parser(commands: Any) -> None:
    from bertner.distill_config import UNLABELED_FORMATS

    p = commands.add_parser(
        "distill",
        help="train a student on the gold labels and a teacher's word distributions",
        description=(
            "Knowledge distillation: the student (default minilm-l6 with bertner's default setting) learns the gold\n"
            "labels and, word by word, the teacher's label distributions (a CRF teacher's forward-backward\n"
            "marginals, an ensemble's averaged ones), so teacher and student may use different tokenizers.\n"
            "loss = alpha * gold loss + (1 - alpha) * T^2 * KL(teacher_T || student_T); a CRF student is matched\n"
            "through its own marginals. The teacher's scores are cached (--teacher-cache) with fingerprints of\n"
            "the teacher's files and of the sentences, reused while both are unchanged. The student is an ordinary\n"
            "run folder: evaluate, export, serve and ensemble take it."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    group = p.add_argument_group("distillation")
    group.add_argument(
        "--teacher", required=True, help="a run, export or ensemble folder, or an HF token-classification model"
    )
    group.add_argument("--temperature", type=positive_float, help="T, softening teacher and student (default 2)")
    group.add_argument(
        "--alpha", type=unit_interval, help="weight of the gold loss, in [0, 1]; the KL gets 1 - alpha (0.5)"
    )
    group.add_argument(
        "--unlabeled",
        type=Path,
        nargs="+",
        metavar="FILE",
        help="text, JSONL or CoNLL files the teacher tags; trained on with its targets only (no gold loss)",
    )
    group.add_argument(
        "--unlabeled-format", choices=UNLABELED_FORMATS, help="how --unlabeled files are read (default auto)"
    )
    group.add_argument(
        "--transfer-copies",
        type=non_negative_float,
        metavar="R",
        help=(
            "augmented copies of each training sentence (mention + token replacement) that the teacher tags, "
            "trained on with its targets only (default 1: one each; 0: none)"
        ),
    )
    group.add_argument(
        "--teacher-cache",
        type=Path,
        help="folder of the teacher's cached scores (default $BERTNER_CACHE/teacher-targets, ~/.cache/bertner/...)",
    )
    group.add_argument(
        "--teacher-backend",
        choices=["auto", "torch", "onnx"],
        default="auto",
        help="how the teacher runs (auto: an export on onnxruntime, anything else on PyTorch)",
    )
    add_train_arguments(p)


def distill_overrides(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """train's overrides and the [distill] keys the flags set (None where a flag was not given)."""
    return {
        **train_overrides(args),
        "distill": {
            "temperature": args.temperature,
            "alpha": args.alpha,
            "unlabeled": [str(path) for path in args.unlabeled] if args.unlabeled else None,
            "unlabeled_format": args.unlabeled_format,
            "transfer_copies": args.transfer_copies,
        },
    }


def run(args: argparse.Namespace) -> int:
    from bertner.config_files import load_config
    from bertner.data.corpus import load_corpus
    from bertner.distillation.run import distill

    config = load_config(args.config, distill_overrides(args))
    corpus = load_corpus(args.data, config.data)
    logger.info("train %d, valid %d, test %d sentences", len(corpus.train), len(corpus.valid), len(corpus.test))
    result = distill(
        config,
        corpus,
        args.teacher,
        args.output,
        cache_dir=args.teacher_cache,
        resume=args.resume,
        progress=not args.quiet,
        encoder_cache=args.encoder_cache,
        trust_remote_code=args.trust_remote_code,
        backend=args.teacher_backend,
    )
    caches = ", ".join(f"{name} {outcome.value}" for name, outcome in result.caches.items())
    print(f"teacher targets for {result.soft_sentences:,} sentences ({caches}; {result.teacher_seconds:.1f} s scoring)")
    trained = result.train
    print(
        f"trained in {trained.train_seconds / 60:.1f} min; best valid F1 {trained.best_valid_f1 * 100:.2f}; "
        f"{trained.trainable_parameters:,} of {trained.total_parameters:,} parameters trained"
    )
    evaluate_run(args, corpus)
    return 0
