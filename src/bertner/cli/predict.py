"""`bertner predict`: entities in raw text, one JSON line per input line, streamed a chunk at a time."""

from __future__ import annotations

import argparse
import gc
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bertner.cli.options import add_backend_options, output_file, positive_int


def add_parser(commands: Any) -> None:
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
    add_backend_options(p)


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


def run(args: argparse.Namespace) -> int:
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

    with output_file(args.output) as out, _progress(args) as bar:
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
