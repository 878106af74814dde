"""`bertner predict`: entities in raw text, one JSON line per input line, streamed a chunk at a time.

`--engine ray` tags a corpus of files on a Ray cluster instead (batch/ray_engine.py): one output file
per input file, the same lines as plain predict writes for it.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bertner.cli.options import (
    add_backend_options,
    add_precision_option,
    bf16_option,
    output_file,
    positive_int,
    unit_interval,
)
from bertner.errors import UserError


def add_parser(commands: Any) -> None:
    p = commands.add_parser(
        "predict",
        help="find entities in raw text; one JSON line per input line, streamed",
        description="Tags texts a chunk at a time: output line N is input line N (lines split on \\n only), "
        "and results appear as soon as each chunk is tagged. Long texts are split into sentences.",
    )
    source = p.add_mutually_exclusive_group()
    source.add_argument("--text", help="one text to tag")
    source.add_argument(
        "--input",
        type=Path,
        help="a UTF-8 file with one text per line, or JSONL (default: stdin); with --engine ray a folder, a "
        "glob (quoted: 'corpus/**/*.txt') or a file",
    )
    p.add_argument(
        "--format",
        choices=["auto", "text", "jsonl"],
        default="auto",
        help='input lines are texts, or JSON objects {"id": ..., "text": ...}; auto: jsonl for *.jsonl files',
    )
    p.add_argument(
        "--model", required=True, help="a run, export or ensemble folder, or an HF token-classification model"
    )
    p.add_argument(
        "--output",
        type=Path,
        help="write the JSON lines to this file (atomically) instead of stdout; with --engine ray the folder "
        "that gets one FILE.jsonl per input file (a rerun tags only the files without one)",
    )
    p.add_argument(
        "--batch-size",
        type=positive_int,
        default=8,
        help="windows per forward pass, length-sorted (8-32 were fastest for MiniLM on 2 cores, and an int8 "
        "export scores best in small batches: docs/results.md)",
    )
    p.add_argument("--chunk-size", type=positive_int, default=512, help="texts read and tagged at a time")
    p.add_argument(
        "--min-score",
        type=unit_interval,
        default=0.0,
        help="leave out entities whose score (their probability, calibrated where the model is) is below this",
    )
    _add_output_options(p)
    add_backend_options(p)
    add_precision_option(p)
    ray = p.add_argument_group("corpus-scale batch inference on Ray (extra: pip install 'bertner[ray]')")
    ray.add_argument(
        "--engine",
        choices=["local", "ray"],
        default="local",
        help="local: this process; ray: Ray Data over the files of --input, a model loaded once per actor",
    )
    ray.add_argument(
        "--actors",
        type=positive_int,
        help="a fixed pool of N actors, each with --threads CPUs and threads, 1 when not given; default: Ray's "
        "autoscaling pool, as many actors as the cluster's CPUs hold",
    )
    ray.add_argument(
        "--address",
        help="join this Ray cluster (host:port, or auto: the one `ray start` started here) instead of starting "
        "a local one for the run",
    )


def _add_output_options(p: argparse.ArgumentParser) -> None:
    """Predictions for an annotation tool to import as pre-annotations (issue 21)."""
    tools = p.add_argument_group("pre-annotations for an annotation tool")
    tools.add_argument(
        "--to",
        choices=["jsonl", "labelstudio", "doccano", "spans-jsonl"],
        default="jsonl",
        help="jsonl: predict's lines; labelstudio: a JSON array of tasks with predictions; doccano: JSONL with "
        'UTF-16 offsets; spans-jsonl: {"text", "spans"} lines (code points)',
    )
    tools.add_argument("--from-name", default="label", help="Label Studio: the <Labels> control's name (label)")
    tools.add_argument("--to-name", default="text", help="Label Studio: the <Text> object's name (text)")
    tools.add_argument(
        "--model-version", help="Label Studio: the predictions' model_version (default: the model folder's name)"
    )


def _output(args: argparse.Namespace) -> Any:
    from bertner.batch.tagged_lines import Output
    from bertner.data.annotations.write import ToolNames

    version = args.model_version or Path(args.model).name or str(args.model)
    return Output(args.to, ToolNames(args.from_name, args.to_name, version))


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
        raise UserError(f"{args.input}: cannot read: {error.strerror}") from error
    with stream:
        yield from read_records(stream, str(args.input), "jsonl" if jsonl else "text")


def _progress(args: argparse.Namespace) -> Any:
    from tqdm.auto import tqdm

    return tqdm(desc="predicting", unit=" texts", disable=args.quiet, file=sys.stderr, mininterval=1.0)


def _check_engine_options(args: argparse.Namespace) -> None:
    if args.engine == "local":
        given = [flag for flag, value in (("--actors", args.actors), ("--address", args.address)) if value]
        if given:
            raise UserError(f"{' and '.join(given)} go with --engine ray")
        return
    if args.to != "jsonl":
        raise UserError(f"--to {args.to} goes with --engine local; the Ray engine writes predict's JSON lines")
    if args.input is None or args.output is None:
        raise UserError("--engine ray needs --input (a folder, glob or file) and --output (a folder)")
    if args.output.is_file():
        raise UserError(f"{args.output}: --engine ray writes a folder of files, and this is a file")


def _run_ray(args: argparse.Namespace) -> int:
    from bertner.batch.corpus_files import corpus_files, pending
    from bertner.batch.ray_engine import PredictorOptions, ray_cluster, tag_corpus

    files = corpus_files(str(args.input), args.output, args.format)
    todo = pending(files)
    options = PredictorOptions(
        args.model,
        args.backend,
        args.threads,
        args.batch_size,
        args.chunk_size,
        args.min_score,
        bf16=bf16_option(args.bf16),
    )
    if not todo:
        print(f"nothing to tag: all {len(files)} files have their output in {args.output}")
        return 0
    start, texts, workers = time.perf_counter(), 0, set[str]()
    with ray_cluster(args.address):
        for done in tag_corpus(todo, options, args.actors, progress=not args.quiet):
            texts, workers = texts + done.texts, workers | {done.worker}
    actors = f"{len(workers)} actor" + ("s" if len(workers) > 1 else "")
    print(
        f"tagged {len(todo)} files ({texts} texts) with {actors} in {time.perf_counter() - start:.1f} s "
        f"into {args.output}; {len(files) - len(todo)} skipped, their output was complete"
    )
    return 0


def run(args: argparse.Namespace) -> int:
    from bertner.batch.tagged_lines import tag_records
    from bertner.inference.predictor import Predictor

    _check_engine_options(args)
    if args.engine == "ray":
        return _run_ray(args)
    predictor = Predictor.load(
        args.model,
        args.backend,
        args.threads,
        args.batch_size,
        args.chunk_size,
        args.min_score,
        bf16=bf16_option(args.bf16),
    )
    # Loaded objects live until the end: out of the collector's generations, so full collections stay cheap.
    gc.collect()
    gc.freeze()
    output = _output(args)
    with output_file(args.output) as out, _progress(args) as bar:
        out.write(output.opening())
        for lines in tag_records(predictor, _records(args), output):
            out.writelines(lines)
            out.flush()
            bar.update(len(lines))
        out.write(output.closing())
    return 0
