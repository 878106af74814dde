"""The `bertner` command: the only place that parses flags, prints, sets up logging and exits."""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import math
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from bertner.config import LOSS_NORMALIZATIONS, load_config

logger = logging.getLogger("bertner")


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad option is one line on stderr (not the usage block), exit code 2."""

    def error(self, message: str) -> Any:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _number_type(convert: Callable[[str], Any], ok: Callable[[Any], bool], what: str) -> Callable[[str], Any]:
    """An argparse type: `convert` the text and check it, or say what was expected."""

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not ok(value):
            raise argparse.ArgumentTypeError(f"expected {what}, not {text!r}")
        return value

    parse.__name__ = what  # argparse names the type in some messages
    return parse


positive_int = _number_type(int, lambda v: v >= 1, "a positive integer")
non_negative_int = _number_type(int, lambda v: v >= 0, "an integer >= 0")
positive_float = _number_type(float, lambda v: math.isfinite(v) and v > 0, "a positive number")
non_negative_float = _number_type(float, lambda v: math.isfinite(v) and v >= 0, "a number >= 0")
probability = _number_type(float, lambda v: 0 <= v < 1, "a number in [0, 1)")


def _add_train(commands: Any) -> None:
    p = commands.add_parser("train", help="fine-tune an encoder on a CoNLL dataset, then score valid and test")
    p.add_argument("--data", required=True, help="a folder with train/valid/test CoNLL files, or hf:owner/name")
    p.add_argument("--output", required=True, type=Path, help="run folder for checkpoints, metrics and the model")
    p.add_argument("--config", type=Path, help="a TOML file with [data], [model] and [train] tables")
    p.add_argument("--encoder", help="minilm-l6, mpnet-base, a hub id or a local model folder")
    p.add_argument("--encoder-cache", type=Path, help="where mpnet-base is assembled (default ~/.cache/bertner)")
    p.add_argument("--epochs", type=positive_int)
    p.add_argument("--lr", type=positive_float)
    p.add_argument("--batch-size", type=positive_int)
    p.add_argument("--weight-decay", type=non_negative_float)
    p.add_argument("--seed", type=non_negative_int)
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
    p.add_argument("--limit-train", type=positive_int, help="use only the first N training sentences")
    p.add_argument("--limit-eval", type=positive_int, help="use only the first N valid and test sentences")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --output")
    p.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="let the encoder run Python code from its folder or hub repository (off: that code runs as you)",
    )
    p.add_argument("--no-test", action="store_true", help="skip scoring the test split after training")
    _add_report_options(p)


def _add_model_options(p: argparse.ArgumentParser) -> None:
    """The paper's experiment options (issue 3); each is also a [model]/[train] key in a config file."""
    on_off = argparse.BooleanOptionalAction
    p.add_argument("--head", choices=["linear", "mlp"], help="linear (the paper's 'softmax') or an MLP head")
    p.add_argument("--head-hidden", type=positive_int, help="hidden size of the MLP head")
    p.add_argument("--head-activation", choices=["tanh", "relu", "gelu"], help="activation of the MLP head")
    p.add_argument("--crf", action=on_off, default=None, help="a linear-chain CRF over words")
    p.add_argument("--crf-lr", type=positive_float, help="learning rate of the CRF transitions (default: --lr)")
    p.add_argument("--freeze-embeddings", action=on_off, default=None)
    p.add_argument("--freeze-layers", type=non_negative_int, help="freeze the lowest N encoder layers")
    p.add_argument("--lora", action=on_off, default=None, help="train LoRA adapters instead of the encoder")
    p.add_argument("--lora-r", type=positive_int)
    p.add_argument("--lora-alpha", type=positive_int)
    p.add_argument("--lora-dropout", type=probability)
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
    p.add_argument("--model", required=True, help="a run folder, an export folder, or an HF token-classification model")
    p.add_argument("--data", required=True, type=Path, help="a CoNLL file, or a folder (see --split)")
    p.add_argument("--split", choices=["valid", "test"], default="test", help="which file of a folder")
    p.add_argument("--output", type=Path, help="folder for metrics.json, predictions.conll and the report")
    p.add_argument("--batch-size", type=positive_int, default=8, help="windows per forward pass")
    p.add_argument("--map", help="rename gold entity types first, e.g. PERSON=PER,LOCATION=LOC,DATE=O")
    _add_backend_options(p)
    _add_report_options(p)


def _add_report_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--examples", type=non_negative_int, default=20, help="example errors shown per category")
    p.add_argument(
        "--bootstrap-samples", type=positive_int, default=1000, help="resamples for the F1 confidence interval"
    )
    p.add_argument("--bootstrap-seed", type=non_negative_int, default=0)


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
    p.add_argument("--samples", type=positive_int, default=1000)
    p.add_argument("--seed", type=non_negative_int, default=0)


def _add_backend_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--backend",
        choices=["auto", "torch", "onnx"],
        default="auto",
        help="auto: onnxruntime for an export folder, PyTorch otherwise; onnx on a run folder exports it in memory",
    )
    p.add_argument("--threads", type=positive_int, help="intra-op threads of the backend (default: the library's)")


def _add_predict(commands: Any) -> None:
    p = commands.add_parser(
        "predict",
        help="find entities in raw text; one JSON line per input line, streamed",
        description="Tags texts a chunk at a time: output line N is input line N (lines split on \\n only), "
        "and results appear as soon as each chunk is tagged. Long texts are split into sentences.",
    )
    source = p.add_mutually_exclusive_group()
    source.add_argument("--text", help="one text to tag")
    source.add_argument("--input", type=Path, help="a UTF-8 file with one text per line, or JSONL (default: stdin)")
    p.add_argument(
        "--format",
        choices=["auto", "text", "jsonl"],
        default="auto",
        help='input lines are texts, or JSON objects {"id": ..., "text": ...}; auto: jsonl for *.jsonl files',
    )
    p.add_argument("--model", required=True, help="a run folder, an export folder, or an HF token-classification model")
    p.add_argument("--output", type=Path, help="write the JSON lines to this file (atomically) instead of stdout")
    p.add_argument(
        "--batch-size",
        type=positive_int,
        default=8,
        help="windows per forward pass, length-sorted (8-32 were fastest for MiniLM on 2 cores, and an int8 "
        "export scores best in small batches: docs/results.md)",
    )
    p.add_argument("--chunk-size", type=positive_int, default=512, help="texts read and tagged at a time")
    _add_backend_options(p)


def _add_serve(commands: Any) -> None:
    from bertner.inference.serve import ServeSettings

    default = ServeSettings()
    p = commands.add_parser(
        "serve",
        help="serve a model over HTTP: POST /v1/ner, a web page at /, OpenAPI docs at /docs",
        description="A FastAPI app on uvicorn (pip install 'bertner[serve]'). Requests that arrive together are "
        "tagged in one batch. Limits answer 413 (body size, texts per request); a malformed request gets 422.",
    )
    p.add_argument("--model", required=True, help="a run folder, an export folder, or an HF token-classification model")
    p.add_argument("--host", default=default.host, help="address to listen on (default: loopback only)")
    p.add_argument("--port", type=int, default=default.port)
    p.add_argument("--workers", type=int, default=default.workers, help="processes, each with its own model")
    p.add_argument("--backend", choices=["auto", "torch", "onnx"], default=default.backend)
    p.add_argument("--threads", type=int, help="intra-op threads of the backend, per worker (default: the library's)")
    p.add_argument("--max-body-bytes", type=int, default=default.max_body_bytes, help="a larger body gets 413")
    p.add_argument("--max-texts", type=int, default=default.max_texts, help="more texts in one request get 413")
    p.add_argument(
        "--batch-wait-ms",
        type=float,
        default=default.batch_wait_ms,
        help="how long a request waits for others to join its batch",
    )
    p.add_argument("--max-batch-texts", type=int, default=default.max_batch_texts, help="the most texts in a batch")
    p.add_argument("--batch-size", type=int, default=default.batch_size, help="windows per forward pass")
    p.add_argument("--access-log", action="store_true", help="log every request (off by default: it costs time)")


def _add_export(commands: Any) -> None:
    p = commands.add_parser(
        "export",
        help="export a model to ONNX (optionally int8) if it scores what the PyTorch model scores",
        description="Writes model.onnx, the tokenizer, labels, config (and a CRF's scores) to --output, after a "
        "parity check: the export's entity F1 on a labelled file "
        "may be at most --max-drop points below the PyTorch model's, or nothing is written.",
    )
    p.add_argument("--model", required=True, help="a run folder, or an HF token-classification model (folder or id)")
    p.add_argument("--output", required=True, type=Path, help="the export folder (new, empty, or an earlier export)")
    p.add_argument("--quantize", choices=["int8"], help="dynamic int8 quantization of the weights")
    p.add_argument("--check", type=Path, help="a labelled CoNLL file for the parity check (default: --data's valid)")
    p.add_argument("--data", type=Path, help="a CoNLL folder whose valid split is the parity check")
    p.add_argument("--max-drop", type=float, default=0.3, help="the most F1 points the export may lose (default 0.3)")
    p.add_argument(
        "--optimize",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="fuse attention, LayerNorm and GELU with onnxruntime's transformer optimizer (default: off; it was "
        "slower than onnxruntime's own load-time optimizations on MiniLM-L6, docs/results.md)",
    )
    p.add_argument(
        "--batch-size",
        type=positive_int,
        default=8,
        help="windows per forward pass in the parity check (predict's default: int8 scores depend on it)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="bertner", description="Named-entity recognition with BERT-family encoders.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    commands = parser.add_subparsers(dest="command", required=True)
    _add_train(commands)
    _add_evaluate(commands)
    _add_predict(commands)
    _add_compare(commands)
    _add_experiment(commands)
    _add_serve(commands)
    _add_export(commands)
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
        config,
        corpus,
        args.output,
        resume=args.resume,
        progress=not args.quiet,
        encoder_cache=args.encoder_cache,
        trust_remote_code=args.trust_remote_code,
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
    from bertner.inference.loading import load_inference_model

    model = load_inference_model(args.model, args.backend, args.threads)
    sentences = read_split(args.data, args.split, model.config.data)
    if args.map:
        sentences = list(map_sentences(sentences, parse_type_map(args.map)))
    evaluation = evaluate_sentences(model, sentences, args.batch_size, progress=not args.quiet)
    gold_only = sorted({t[2:] for s in sentences for t in s.tags if t != "O"} - set(evaluation.model_types))
    if gold_only:
        logger.warning("gold types the model cannot predict (all counted as missed): %s", ", ".join(gold_only))
    local = Path(args.model) if Path(args.model).is_dir() else None
    if args.output is None and local is None:
        raise ValueError(f"{args.model} is not a local folder: say where the report goes with --output")
    output = args.output or Path(args.model) / "eval" / (args.data.stem if args.data.is_file() else args.split)
    files = write_evaluation(evaluation, output, local if model.kind == "run" else None, **_report_options(args))
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


def _records(args: argparse.Namespace) -> Iterator[Any]:
    from bertner.data.textinput import TextRecord, read_records

    if args.text is not None:
        yield TextRecord(1, args.text)
        return
    jsonl = args.format == "jsonl" or (args.format == "auto" and args.input and args.input.suffix == ".jsonl")
    if args.input is None:
        yield from read_records(sys.stdin.buffer, "<stdin>", "jsonl" if jsonl else "text")
        return
    try:
        stream = args.input.open("rb")
    except OSError as error:
        raise ValueError(f"{args.input}: cannot read: {error.strerror}") from error
    with stream:
        yield from read_records(stream, str(args.input), "jsonl" if jsonl else "text")


def _progress(args: argparse.Namespace) -> Any:
    from tqdm.auto import tqdm

    return tqdm(desc="predicting", unit=" texts", disable=args.quiet, file=sys.stderr, mininterval=1.0)


def run_predict(args: argparse.Namespace) -> int:
    from collections import deque

    from bertner.inference.predictor import Predictor

    predictor = Predictor.load(args.model, args.backend, args.threads, args.batch_size, args.chunk_size)
    # Loaded objects live until the end: out of the collector's generations, so full collections stay cheap.
    gc.collect()
    gc.freeze()
    pending: deque[Any] = deque()

    def texts() -> Iterator[str]:
        for record in _records(args):
            pending.append(record)
            yield record.text

    with _output(args.output) as out, _progress(args) as bar:
        for entities in predictor.predict_stream(texts()):
            record = pending.popleft()
            line = {"text": record.text, "entities": [e.to_dict() for e in entities]}
            if record.id is not None:
                line = {"id": record.id, **line}
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
            bar.update()
            if not pending:
                out.flush()
    return 0


@contextlib.contextmanager
def _output(path: Path | None) -> Iterator[IO[str]]:
    """stdout, or a temporary file beside `path` renamed over it only when everything was written."""
    if path is None:
        yield sys.stdout
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            yield stream
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)


def run_experiment(args: argparse.Namespace) -> int:
    from bertner.experiments.runner import run_experiment as run
    from bertner.experiments.spec import load_experiment

    experiment = load_experiment(args.config, args.data, args.output)
    results = run(experiment, progress=not args.quiet, isolate=not args.in_process, encoder_cache=args.encoder_cache)
    print(results.to_markdown())
    return 0


def run_serve(args: argparse.Namespace) -> int:
    from bertner.inference.serve import ServeSettings, serve

    settings = ServeSettings(
        model=str(args.model),
        host=args.host,
        port=args.port,
        workers=args.workers,
        backend=args.backend,
        threads=args.threads,
        max_body_bytes=args.max_body_bytes,
        max_texts=args.max_texts,
        batch_wait_ms=args.batch_wait_ms,
        max_batch_texts=args.max_batch_texts,
        batch_size=args.batch_size,
        access_log=args.access_log,
    )
    serve(settings)
    return 0


def run_export(args: argparse.Namespace) -> int:
    from bertner.data.corpus import find_split, read_split
    from bertner.inference.export import export_onnx
    from bertner.inference.loading import load_inference_model

    if args.check is None and args.data is None:
        raise ValueError("the parity check needs labelled sentences: --data FOLDER (its valid split) or --check FILE")
    check = args.check if args.check is not None else args.data
    check = find_split(check, "valid") if check.is_dir() else check
    model = load_inference_model(args.model, backend="torch")
    sentences = read_split(check, "valid", model.config.data)
    report = export_onnx(
        model,
        args.output,
        sentences,
        quantize=args.quantize,
        max_drop=args.max_drop,
        optimize=args.optimize,
        check_name=str(check),
        batch_size=args.batch_size,
        progress=not args.quiet,
    )
    graph = report.graph
    print(
        f"parity on {check} ({report.sentences} sentences): PyTorch F1 {report.torch_f1 * 100:.2f}, "
        f"ONNX {graph.quantization or 'fp32'} F1 {report.onnx_f1 * 100:.2f} ({-report.drop:+.2f})"
    )
    fused = ", ".join(f"{op} {n}" for op, n in graph.fused.items()) if graph.optimized else graph.optimization_note
    print(f"wrote {report.output} ({graph.onnx_bytes / 1e6:.1f} MB; fused: {fused})")
    return 0


COMMANDS = {
    "train": run_train,
    "evaluate": run_evaluate,
    "predict": run_predict,
    "compare": run_compare,
    "experiment": run_experiment,
    "serve": run_serve,
    "export": run_export,
}


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors that are the input's fault: a bad file, option, folder or missing extra. Anything else is a bug."""
    from bertner.model.encoders import EncoderNotInstalledError
    from bertner.training.lock import RunFolderBusyError

    # OSError: transformers reports a missing or unknown encoder or model folder as OSError.
    # ImportError: an optional extra (plots, lora) is missing; its message names the extra.
    return (ValueError, OSError, ImportError, EncoderNotInstalledError, RunFolderBusyError)


def _one_line(error: BaseException) -> str:
    return " ".join(line.strip() for line in str(error).splitlines() if line.strip()) or type(error).__name__


def _save_traceback(command: str) -> str:
    """Write the current exception's traceback to a file in the temp folder; return its path."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    handle, path = tempfile.mkstemp(prefix=f"bertner-{command}-{stamp}-", suffix=".log")
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        stream.write(traceback.format_exc())
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command. Exit codes: 0 done; 2 a user error (one line on stderr naming the file or option);
    1 an internal error (one line, and the traceback saved to a file whose path it gives); 130 interrupted."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print(f"bertner {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if isinstance(error, _user_errors()):
            logger.debug("the error's traceback:", exc_info=True)
            print(f"bertner {args.command}: error: {_one_line(error)}", file=sys.stderr)
            return 2
        saved = _save_traceback(args.command)
        print(
            f"bertner {args.command}: internal error: {type(error).__name__}: {_one_line(error)} "
            f"(a bug in bertner; the traceback is in {saved})",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
