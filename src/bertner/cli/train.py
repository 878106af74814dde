"""`bertner train`: fine-tune an encoder on a CoNLL dataset, then score valid and test."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bertner.cli.options import (
    add_annotation_options,
    add_report_options,
    annotation_overrides,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    print_scores,
    probability,
    report_options,
)
from bertner.config import AUGMENT_METHODS, LOSS_NORMALIZATIONS
from bertner.config_files import load_config

if TYPE_CHECKING:
    from bertner.data.corpus import Corpus
    from bertner.training.distributed import Processes

logger = logging.getLogger("bertner")

_DATA_PARALLEL = """\
data-parallel training (DDP through the HF Trainer: gloo on CPU, NCCL on GPUs):
  one node, N processes (one per GPU, or N CPU processes):
    torchrun --standalone --nproc_per_node N -m bertner train --data DIR --output RUN ...
    accelerate launch --multi_gpu --num_processes N -m bertner train --data DIR --output RUN ...
  (--multi_gpu also runs N CPU processes where there is no GPU; Accelerate's --cpu runs 1 without MPI)
  M nodes: the same command on every node, RUN on a file system that all of them see:
    torchrun --nnodes M --nproc_per_node N --rdzv-backend c10d --rdzv-endpoint HOST:29500 --rdzv-id JOB \\
        -m bertner train --data DIR --output RUN ...
  --batch-size is per process: the global batch is batch-size x processes (bertner multiplies, it does
  not divide). 2 processes with --batch-size 8 train with the batch of 1 process with --batch-size 16.
  Rank 0 writes RUN (lock, checkpoints, metrics.jsonl, the model), scores valid and test and prints; the
  other processes print nothing. --resume works the same way.
"""


def add_parser(commands: Any) -> None:
    p = commands.add_parser(
        "train",
        help="fine-tune an encoder on a CoNLL dataset, then score valid and test",
        description=(
            "Fine-tune an encoder on a CoNLL dataset, then score valid and test.\n"
            "Without --config: bertner's best measured setting (a CRF, word-shape features, lr 1e-4, 10% warmup,\n"
            "weight decay 0.01, 3 epochs, bf16 where native); --config configs/paper.toml trains the paper's."
        ),
        epilog=_DATA_PARALLEL,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_train_arguments(p)


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    """train's options: `bertner distill` takes them too."""
    p.add_argument(
        "--data",
        required=True,
        help="a folder with train/valid/test CoNLL files or annotation exports, one such file with --split, "
        "or hf:owner/name",
    )
    p.add_argument("--output", required=True, type=Path, help="run folder for checkpoints, metrics and the model")
    p.add_argument("--config", type=Path, help="a TOML file with [data], [model] and [train] tables")
    p.add_argument("--encoder", help="minilm-l6, mpnet-base, a hub id or a local model folder")
    p.add_argument("--encoder-cache", type=Path, help="where mpnet-base is assembled (default ~/.cache/bertner)")
    p.add_argument("--epochs", type=positive_int)
    p.add_argument("--lr", type=positive_float)
    p.add_argument(
        "--batch-size", type=positive_int, help="sentences per training batch per process (global: x processes)"
    )
    p.add_argument("--weight-decay", type=non_negative_float)
    p.add_argument("--seed", type=non_negative_int)
    p.add_argument("--alignment", choices=["first", "all"], help="label the first sub-token or all (B->I)")
    p.add_argument(
        "--context",
        type=non_negative_int,
        help="document context: up to N sub-tokens of the neighbouring sentences on each side (0: none)",
    )
    p.add_argument(
        "--case-features",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="word-shape features for uncased encoders (default: on)",
    )
    p.add_argument(
        "--loss-normalization",
        choices=LOSS_NORMALIZATIONS,
        help="divide a batch's summed loss by the corpus-wide mean count per batch, or average it per batch",
    )
    p.add_argument(
        "--bf16",
        choices=["auto", "true", "false"],
        help="bfloat16 autocast: auto (where the CPU or GPU has native bf16; the run records which), true or false",
    )
    p.add_argument(
        "--packing",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run each training batch on packed rows instead of padding it (default: on)",
    )
    p.add_argument(
        "--group-by-length",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="batch sentences of similar length together instead of at random (default: off)",
    )
    _add_model_options(p)
    _add_augment_options(p)
    add_annotation_options(p)
    p.add_argument("--limit-train", type=positive_int, help="use only the first N training sentences")
    p.add_argument("--limit-eval", type=positive_int, help="use only the first N valid and test sentences")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --output")
    p.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="let the encoder run Python code from its folder or hub repository (off: that code runs as you)",
    )
    p.add_argument("--no-test", action="store_true", help="skip scoring the test split after training")
    add_report_options(p)


def _add_model_options(p: argparse.ArgumentParser) -> None:
    """The paper's experiment options (issue 3); each is also a [model]/[train] key in a config file."""
    on_off = argparse.BooleanOptionalAction
    p.add_argument("--head", choices=["linear", "mlp"], help="linear (the paper's 'softmax') or an MLP head")
    p.add_argument("--head-hidden", type=positive_int, help="hidden size of the MLP head")
    p.add_argument("--head-activation", choices=["tanh", "relu", "gelu"], help="activation of the MLP head")
    p.add_argument("--crf", action=on_off, default=None, help="a linear-chain CRF over words (default: on)")
    p.add_argument("--crf-lr", type=positive_float, help="learning rate of the CRF transitions (default: 1e-3)")
    p.add_argument("--freeze-embeddings", action=on_off, default=None)
    p.add_argument("--freeze-layers", type=non_negative_int, help="freeze the lowest N encoder layers")
    p.add_argument("--lora", action=on_off, default=None, help="train LoRA adapters instead of the encoder")
    p.add_argument("--lora-r", type=positive_int)
    p.add_argument("--lora-alpha", type=positive_int)
    p.add_argument("--lora-dropout", type=probability)
    p.add_argument("--lora-targets", help="comma-separated module names (default: per architecture)")


def _augment_methods(text: str) -> list[str]:
    """`mention,token` -> ["mention", "token"]; `none` -> [] (turns off what a config file asks for)."""
    if text.strip() == "none":
        return []
    methods = [method.strip() for method in text.split(",")]
    unknown = [method for method in methods if method not in AUGMENT_METHODS]
    if unknown or len(set(methods)) != len(methods):
        raise argparse.ArgumentTypeError(
            f"expected a comma-separated list of {', '.join(AUGMENT_METHODS)} (each once), or none; not {text!r}"
        )
    return methods


def _add_augment_options(p: argparse.ArgumentParser) -> None:
    """Training-data augmentation (issue 11), made afresh each epoch; each is also a [train] key."""
    p.add_argument(
        "--augment",
        type=_augment_methods,
        metavar="mention,token|none",
        help="augment the training data each epoch: mention replacement, label-wise token replacement",
    )
    p.add_argument("--augment-ratio", type=positive_float, help="augmented sentences per training sentence (1)")
    p.add_argument(
        "--augment-probability",
        type=positive_float,
        help="chance that each mention or word of a copy is replaced, in (0, 1] (0.3)",
    )
    p.add_argument("--augment-seed", type=non_negative_int, help="seed of the augmentation (default: --seed)")


def train_overrides(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    return {
        "data": {
            "limit_train": args.limit_train,
            "limit_eval": args.limit_eval,
            "alignment": args.alignment,
            "context": args.context,
            **annotation_overrides(args),
        },
        "model": {
            "encoder": args.encoder,
            "case_features": args.case_features,
            "head": args.head,
            "head_hidden": args.head_hidden,
            "head_activation": args.head_activation,
            "crf": args.crf,
            "freeze_embeddings": args.freeze_embeddings,
            "freeze_layers": args.freeze_layers,
            "lora": args.lora,
            "lora_r": args.lora_r,
            "lora_alpha": args.lora_alpha,
            "lora_dropout": args.lora_dropout,
            "lora_targets": args.lora_targets.split(",") if args.lora_targets else None,
        },
        "train": {
            "epochs": args.epochs,
            "lr": args.lr,
            "batch_size": args.batch_size,
            "weight_decay": args.weight_decay,
            "seed": args.seed,
            "crf_lr": args.crf_lr,
            "loss_normalization": args.loss_normalization,
            "packing": args.packing,
            "group_by_length": args.group_by_length,
            "bf16": {"true": True, "false": False}.get(args.bf16, args.bf16),
            "augment": args.augment,
            "augment_ratio": args.augment_ratio,
            "augment_probability": args.augment_probability,
            "augment_seed": args.augment_seed,
        },
    }


def run(args: argparse.Namespace) -> int:
    from bertner.training.distributed import current_processes, leave

    processes = current_processes()
    try:
        return _run(args, processes)
    finally:
        leave(processes)


def _run(args: argparse.Namespace, processes: Processes) -> int:
    from bertner.data.corpus import load_corpus
    from bertner.training.trainer import train_model

    if not processes.is_main:  # under torchrun: rank 0 logs and prints for the run
        logger.setLevel(logging.WARNING)
    config = load_config(args.config, train_overrides(args))
    corpus = load_corpus(args.data, config.data)
    logger.info(
        "train %d, valid %d, test %d sentences; labels %s",
        len(corpus.train),
        len(corpus.valid),
        len(corpus.test),
        ", ".join(corpus.label_set.labels),
    )
    result = train_model(
        config,
        corpus,
        args.output,
        resume=args.resume,
        progress=not args.quiet,
        encoder_cache=args.encoder_cache,
        trust_remote_code=args.trust_remote_code,
    )
    if not processes.is_main:
        return 0
    print(
        f"trained in {result.train_seconds / 60:.1f} min; best valid F1 {result.best_valid_f1 * 100:.2f}; "
        f"{result.trainable_parameters:,} of {result.total_parameters:,} parameters trained"
    )
    evaluate_run(args, corpus)
    return 0


def evaluate_run(args: argparse.Namespace, corpus: Corpus) -> None:
    """Fit the temperature of the run saved in `args.output` on valid and save it there (issue 23), then score
    the run on valid (and test, unless --no-test), writing its reports."""
    from bertner.inference.calibrate import calibrate_run
    from bertner.inference.evaluate import evaluate_sentences, write_evaluation
    from bertner.inference.model import InferenceModel
    from bertner.model.store import load_model

    model = InferenceModel.from_loaded(load_model(args.output), str(args.output))
    # One scoring pass over valid: the temperature is fitted on it and the valid report reuses it.
    model, valid_scores = calibrate_run(model, corpus.valid, progress=not args.quiet)
    splits = {"valid": corpus.valid} if args.no_test else {"valid": corpus.valid, "test": corpus.test}
    for split, sentences in splits.items():
        scores = valid_scores if split == "valid" else None
        evaluation = evaluate_sentences(model, sentences, progress=not args.quiet, word_scores=scores)
        files = write_evaluation(evaluation, args.output / "eval" / split, args.output, **report_options(args))
        print_scores(split, evaluation.scores.to_dict())
        print(f"  report: {files.html}")
