"""The `bertner` command: the only place that parses flags, prints, sets up logging and exits."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bertner.config import LOSS_NORMALIZATIONS, load_config

logger = logging.getLogger("bertner")


def _add_train(commands: Any) -> None:
    p = commands.add_parser("train", help="fine-tune an encoder on a CoNLL dataset, then score valid and test")
    p.add_argument("--data", required=True, help="a folder with train/valid/test CoNLL files, or hf:owner/name")
    p.add_argument("--output", required=True, type=Path, help="run folder for checkpoints, metrics and the model")
    p.add_argument("--config", type=Path, help="a TOML file with [data], [model] and [train] tables")
    p.add_argument("--encoder", help="minilm-l6, mpnet-base, a hub id or a local model folder")
    p.add_argument("--encoder-cache", type=Path, help="where mpnet-base is assembled (default ~/.cache/bertner)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--alignment", choices=["first", "all"], help="label the first sub-token or all (B->I)")
    p.add_argument("--case-features", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument(
        "--loss-normalization",
        choices=LOSS_NORMALIZATIONS,
        help="divide a batch's summed loss by the corpus-wide mean count per batch, or average it per batch",
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
    p.add_argument("--limit-train", type=int, help="use only the first N training sentences")
    p.add_argument("--limit-eval", type=int, help="use only the first N valid and test sentences")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --output")
    p.add_argument("--no-test", action="store_true", help="skip scoring the test split after training")
    _add_report_options(p)


def _add_model_options(p: argparse.ArgumentParser) -> None:
    """The paper's experiment options (issue 3); each is also a [model]/[train] key in a config file."""
    on_off = argparse.BooleanOptionalAction
    p.add_argument("--head", choices=["linear", "mlp"], help="linear (the paper's 'softmax') or an MLP head")
    p.add_argument("--head-hidden", type=int, help="hidden size of the MLP head")
    p.add_argument("--head-activation", choices=["tanh", "relu", "gelu"], help="activation of the MLP head")
    p.add_argument("--crf", action=on_off, default=None, help="a linear-chain CRF over words")
    p.add_argument("--crf-lr", type=float, help="learning rate of the CRF transitions (default: --lr)")
    p.add_argument("--freeze-embeddings", action=on_off, default=None)
    p.add_argument("--freeze-layers", type=int, help="freeze the lowest N encoder layers")
    p.add_argument("--lora", action=on_off, default=None, help="train LoRA adapters instead of the encoder")
    p.add_argument("--lora-r", type=int)
    p.add_argument("--lora-alpha", type=int)
    p.add_argument("--lora-dropout", type=float)
    p.add_argument("--lora-targets", help="comma-separated module names (default: per architecture)")


def _add_experiment(commands: Any) -> None:
    p = commands.add_parser("experiment", help="run every variant x seed of an experiment file; write tables")
    p.add_argument("config", type=Path, help="a TOML file: base config, [experiment], [[variants]], [grid]")
    p.add_argument("--data", help="override [experiment] data")
    p.add_argument("--output", type=Path, help="override [experiment] output")
    p.add_argument("--in-process", action="store_true", help="train in this process (no per-run memory peak)")
    p.add_argument("--encoder-cache", type=Path, help="where mpnet-base is assembled (default ~/.cache/bertner)")


def _add_evaluate(commands: Any) -> None:
    p = commands.add_parser("evaluate", help="score a trained model on a CoNLL file with conlleval's rules")
    p.add_argument("--model", required=True, type=Path, help="a run folder written by `bertner train`")
    p.add_argument("--data", required=True, type=Path, help="a CoNLL file, or a folder (see --split)")
    p.add_argument("--split", choices=["valid", "test"], default="test", help="which file of a folder")
    p.add_argument("--output", type=Path, help="folder for metrics.json, predictions.conll and the report")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--map", help="rename gold entity types first, e.g. PERSON=PER,LOCATION=LOC,DATE=O")
    _add_report_options(p)


def _add_report_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--examples", type=int, default=20, help="example errors shown per category")
    p.add_argument("--bootstrap-samples", type=int, default=1000, help="resamples for the F1 confidence interval")
    p.add_argument("--bootstrap-seed", type=int, default=0)


def _add_compare(commands: Any) -> None:
    p = commands.add_parser("compare", help="compare runs: config differences, valid/test F1, time, curves")
    p.add_argument("runs", nargs="+", type=Path, help="run folders written by `bertner train`")
    p.add_argument("--plot", type=Path, help="write the overlaid valid-F1-per-epoch curves to this PNG")
    p.add_argument(
        "--significance",
        action="store_true",
        help="paired bootstrap test between two runs' predictions on the same file",
    )
    p.add_argument("--split", choices=["valid", "test"], default="test", help="whose predictions to test")
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)


def _add_predict(commands: Any) -> None:
    p = commands.add_parser("predict", help="find entities in raw text; one JSON line per input text")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--text", help="one text to tag")
    source.add_argument("--input", type=Path, help="a UTF-8 file with one text per line")
    p.add_argument("--model", required=True, type=Path, help="a run folder written by `bertner train`")
    p.add_argument("--batch-size", type=int, default=64)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bertner", description="Named-entity recognition with BERT-family encoders.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    commands = parser.add_subparsers(dest="command", required=True)
    _add_train(commands)
    _add_evaluate(commands)
    _add_predict(commands)
    _add_compare(commands)
    _add_experiment(commands)
    return parser


def _train_overrides(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    return {
        "data": {"limit_train": args.limit_train, "limit_eval": args.limit_eval, "alignment": args.alignment},
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
        },
    }


def _print_scores(name: str, metrics: dict[str, Any]) -> None:
    overall = metrics["overall"]
    print(
        f"{name}: precision {overall['precision'] * 100:.2f}  recall {overall['recall'] * 100:.2f}  "
        f"F1 {overall['f1'] * 100:.2f}  accuracy {overall['accuracy'] * 100:.2f}"
    )
    for entity_type, row in metrics["per_type"].items():
        print(
            f"  {entity_type:>6}: P {row['precision'] * 100:6.2f}  "
            f"R {row['recall'] * 100:6.2f}  F1 {row['f1'] * 100:6.2f}"
        )


def run_train(args: argparse.Namespace) -> int:
    from bertner.data.corpus import load_corpus
    from bertner.inference.evaluate import evaluate_sentences, write_evaluation
    from bertner.model.build import load_model
    from bertner.training.trainer import train_model

    config = load_config(args.config, _train_overrides(args))
    corpus = load_corpus(args.data, config.data)
    logger.info(
        "train %d, valid %d, test %d sentences; labels %s",
        len(corpus.train),
        len(corpus.valid),
        len(corpus.test),
        ", ".join(corpus.label_set.labels),
    )
    result = train_model(
        config, corpus, args.output, resume=args.resume, progress=not args.quiet, encoder_cache=args.encoder_cache
    )
    print(
        f"trained in {result.train_seconds / 60:.1f} min; best valid F1 {result.best_valid_f1 * 100:.2f}; "
        f"{result.trainable_parameters:,} of {result.total_parameters:,} parameters trained"
    )
    model = load_model(args.output)
    splits = {"valid": corpus.valid} if args.no_test else {"valid": corpus.valid, "test": corpus.test}
    for split, sentences in splits.items():
        evaluation = evaluate_sentences(model, sentences, progress=not args.quiet)
        files = write_evaluation(evaluation, args.output / "eval" / split, args.output, **_report_options(args))
        _print_scores(split, evaluation.scores.to_dict())
        print(f"  report: {files.html}")
    return 0


def _report_options(args: argparse.Namespace) -> dict[str, Any]:
    from bertner.evaluation.report import BootstrapSettings

    return {"examples": args.examples, "bootstrap": BootstrapSettings(args.bootstrap_samples, args.bootstrap_seed)}


def run_evaluate(args: argparse.Namespace) -> int:
    from bertner.data.corpus import read_split
    from bertner.evaluation.predictions import map_sentences, parse_type_map
    from bertner.inference.evaluate import evaluate_sentences, write_evaluation
    from bertner.model.build import load_model

    model = load_model(args.model)
    sentences = read_split(args.data, args.split, model.config.data)
    if args.map:
        sentences = list(map_sentences(sentences, parse_type_map(args.map)))
    evaluation = evaluate_sentences(model, sentences, args.batch_size, progress=not args.quiet)
    gold_only = sorted({t[2:] for s in sentences for t in s.tags if t != "O"} - set(evaluation.model_types))
    if gold_only:
        logger.warning("gold types the model cannot predict (all counted as missed): %s", ", ".join(gold_only))
    output = args.output or args.model / "eval" / (args.data.stem if args.data.is_file() else args.split)
    files = write_evaluation(evaluation, output, args.model, **_report_options(args))
    _print_scores(str(args.data), evaluation.scores.to_dict())
    print(f"wrote {files.metrics}, {output / 'predictions.conll'} and the report {files.html}")
    return 0


def run_compare(args: argparse.Namespace) -> int:
    from bertner.evaluation.compare import compare_runs, paired_significance
    from bertner.evaluation.predictions import read_predictions

    comparison = compare_runs(args.runs)
    print(comparison.to_markdown())
    if args.plot:
        from bertner.data.files import write_bytes_atomic

        write_bytes_atomic(args.plot, comparison.overlay_png())
        print(f"wrote {args.plot}")
    if args.significance:
        if len(args.runs) != 2:
            raise ValueError(f"--significance compares exactly two runs, got {len(args.runs)}")
        a, b = (read_predictions(run / "eval" / args.split / "predictions.conll") for run in args.runs)
        test = paired_significance(a, b, args.samples, args.seed)
        print(
            f"paired bootstrap on {args.split} ({test.samples} samples): F1 {test.f1_a * 100:.2f} vs "
            f"{test.f1_b * 100:.2f}, delta {test.delta * 100:+.2f}, {test.p_text()}"
        )
    return 0


def _texts(args: argparse.Namespace) -> list[str]:
    if args.text is not None:
        return [args.text]
    if args.input is not None:
        try:
            return args.input.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError as error:
            raise ValueError(f"{args.input}: not valid UTF-8 at byte {error.start}") from error
        except OSError as error:
            raise ValueError(f"{args.input}: cannot read: {error.strerror}") from error
    return sys.stdin.read().splitlines()


def run_predict(args: argparse.Namespace) -> int:
    from bertner.inference.predictor import Predictor

    predictor = Predictor.load(args.model, batch_size=args.batch_size)
    texts = _texts(args)
    for text, entities in zip(texts, predictor.predict(texts, progress=not args.quiet), strict=True):
        print(json.dumps({"text": text, "entities": [e.to_dict() for e in entities]}, ensure_ascii=False))
    return 0


def run_experiment(args: argparse.Namespace) -> int:
    from bertner.experiments.runner import run_experiment as run
    from bertner.experiments.spec import load_experiment

    experiment = load_experiment(args.config, args.data, args.output)
    results = run(experiment, progress=not args.quiet, isolate=not args.in_process, encoder_cache=args.encoder_cache)
    print(results.to_markdown())
    return 0


COMMANDS = {
    "train": run_train,
    "evaluate": run_evaluate,
    "predict": run_predict,
    "compare": run_compare,
    "experiment": run_experiment,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return COMMANDS[args.command](args)
    # OSError: transformers reports a missing or unknown encoder or model folder as OSError.
    # ImportError: an optional extra (plots, lora) is missing; its message names the extra.
    except (ValueError, OSError, RuntimeError, ImportError) as error:
        print(f"bertner {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
