"""`bertner pretrain`: continued masked-LM pretraining of an encoder on unlabelled text (TAPT/DAPT)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bertner.cli.options import non_negative_int, positive_float, positive_int

_EPILOG = """\
inputs (--format auto decides per file, and the log says how it read each):
  .jsonl                  one JSON object per line with a string "text"
  .conll, or a file whose first line is -DOCSTART-  a labelled CoNLL file: each document's words, joined by spaces
  anything else           plain text: blank-line-separated blocks if a blank line separates two texts,
                          else one text per line (--format lines|blocks forces either)
output: an encoder folder (config.json, model.safetensors, tokenizer files) without the MLM head, pretrain.json
  (how it was made) and checkpoints/ (what --resume continues; delete it once you no longer need it). Use it with:
    bertner train --encoder OUTPUT --data DIR --output RUN
"""


def add_parser(commands: Any) -> None:
    p = commands.add_parser(
        "pretrain",
        help="continue an encoder's masked-LM pretraining on unlabelled text (task- or domain-adaptive)",
        description=(
            "Continue an encoder's masked-LM pretraining on unlabelled text (Gururangan et al. 2020: TAPT on\n"
            "the task's own text, DAPT on domain text), and save the encoder for `bertner train --encoder`.\n"
            "Where the checkpoint has no MLM head (both named encoders), a fresh one is made."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--text", required=True, nargs="+", type=Path, help="text, JSONL or CoNLL files")
    p.add_argument("--output", required=True, type=Path, help="the encoder folder to write")
    p.add_argument("--encoder", default="minilm-l6", help="minilm-l6, mpnet-base, a hub id or a local model folder")
    p.add_argument("--encoder-cache", type=Path, help="where mpnet-base is assembled (default ~/.cache/bertner)")
    p.add_argument("--format", choices=["auto", "lines", "blocks", "jsonl", "conll"], default="auto")
    p.add_argument(
        "--masking",
        choices=["token", "word"],
        default="token",
        help="mask sub-tokens independently (80%% mask, 10%% random, 10%% kept), or whole words (all mask)",
    )
    p.add_argument("--mlm-probability", type=positive_float, default=0.15, help="share of sub-tokens or words")
    p.add_argument("--max-length", type=positive_int, default=128, help="sub-tokens per window; longer texts split")
    p.add_argument("--epochs", type=positive_float, default=1.0)
    p.add_argument("--max-steps", type=positive_int, help="stop after N steps (overrides --epochs)")
    p.add_argument("--lr", type=positive_float, default=1e-4, help="peak learning rate (1e-4, Gururangan et al.)")
    p.add_argument("--batch-size", type=positive_int, default=32)
    p.add_argument("--warmup-ratio", type=float, default=0.06, help="share of the steps with a rising lr")
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--seed", type=non_negative_int, default=42, help="the head's initial weights, order and masks")
    p.add_argument("--bf16", choices=["auto", "true", "false"], default="auto", help="bfloat16 autocast")
    p.add_argument("--logging-steps", type=positive_int, default=50, help="record the MLM loss every N steps")
    p.add_argument("--save-steps", type=positive_int, default=500, help="checkpoint every N steps (and at the end)")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --output")
    p.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="let the encoder run Python code from its folder or hub repository (off: that code runs as you)",
    )


def run(args: argparse.Namespace) -> int:
    from bertner.pretraining.record import PretrainSettings
    from bertner.pretraining.run import pretrain

    settings = PretrainSettings(
        encoder=args.encoder,
        format=args.format,
        masking=args.masking,
        mlm_probability=args.mlm_probability,
        max_length=args.max_length,
        lr=args.lr,
        batch_size=args.batch_size,
        epochs=args.epochs,
        max_steps=args.max_steps,
        warmup_ratio=args.warmup_ratio,
        weight_decay=args.weight_decay,
        seed=args.seed,
        bf16={"true": True, "false": False}.get(args.bf16, args.bf16),
        logging_steps=args.logging_steps,
        save_steps=args.save_steps,
    )
    result = pretrain(
        settings,
        args.text,
        args.output,
        resume=args.resume,
        progress=not args.quiet,
        encoder_cache=args.encoder_cache,
        trust_remote_code=args.trust_remote_code,
    )
    final = f"{result.final_loss:.4f}" if result.final_loss is not None else "not logged"
    print(f"pretrained {result.steps} steps in {result.seconds / 60:.1f} min; final MLM loss {final}")
    print(f"  encoder: {result.output} (bertner train --encoder {result.output} ...)")
    return 0
