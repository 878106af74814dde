"""What the commands' parsers share: one-line errors, number types, option groups, score printing and output files."""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any


class Parser(argparse.ArgumentParser):
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
unit_interval = _number_type(float, lambda v: 0 <= v <= 1, "a number in [0, 1]")


def add_report_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--examples", type=non_negative_int, default=20, help="example errors shown per category")
    p.add_argument(
        "--bootstrap-samples", type=positive_int, default=1000, help="resamples for the F1 confidence interval"
    )
    p.add_argument("--bootstrap-seed", type=non_negative_int, default=0)


def add_backend_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--backend",
        choices=["auto", "torch", "onnx"],
        default="auto",
        help="auto: onnxruntime for an export folder, PyTorch otherwise; onnx on a run folder exports it in memory",
    )
    p.add_argument("--threads", type=positive_int, help="intra-op threads of the backend (default: the library's)")


def add_precision_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--bf16",
        choices=["auto", "true", "false"],
        default="auto",
        help="bfloat16 autocast for a run folder on PyTorch: auto (default) keeps the run's training precision where "
        "this machine has native bf16 and is fp32 elsewhere; an export or an HF model runs in fp32",
    )


def bf16_option(text: str) -> bool | str:
    """A `--bf16 auto|true|false` value as the config and the loaders take it: True, False or "auto"."""
    return {"true": True, "false": False}.get(text, text)


def print_scores(name: str, metrics: dict[str, Any]) -> None:
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


def report_options(args: argparse.Namespace) -> dict[str, Any]:
    from bertner.evaluation.report.write import BootstrapSettings

    return {"examples": args.examples, "bootstrap": BootstrapSettings(args.bootstrap_samples, args.bootstrap_seed)}


@contextlib.contextmanager
def output_file(path: Path | None) -> Iterator[IO[str]]:
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


def _split_ratios(text: str) -> tuple[float, ...]:
    from bertner.data.annotations.split import parse_ratios

    try:
        return parse_ratios(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_annotation_options(p: argparse.ArgumentParser, split: bool = True) -> None:
    """How `--data` files that are annotation exports are read (issue 21); each is also a [data] key."""
    from bertner.config import DATA_FORMATS, MISALIGNED_POLICIES, OFFSET_UNITS, OVERLAP_POLICIES, PICK_RULES

    group = p.add_argument_group("annotation exports (Label Studio, doccano, Prodigy, {text, spans} JSONL)")
    group.add_argument(
        "--format",
        dest="data_format",
        choices=DATA_FORMATS,
        help="what the --data files are (default auto: *.json and *.jsonl are exports whose keys tell the tool)",
    )
    group.add_argument(
        "--annotation",
        choices=PICK_RULES,
        help="which of several annotations of a Label Studio task is used (default ground_truth, else latest)",
    )
    group.add_argument(
        "--offsets",
        choices=["auto", *OFFSET_UNITS],
        help="the unit of the export's offsets (default auto: checked against span texts or word boundaries)",
    )
    group.add_argument(
        "--words",
        choices=["segment", "whitespace"],
        help="words as `predict` finds them in raw text (default), or whitespace-separated with a sentence per line",
    )
    group.add_argument(
        "--misaligned",
        choices=MISALIGNED_POLICIES,
        help="a span that cuts through a word: error (default), expand or contract it to words, or skip it",
    )
    group.add_argument(
        "--overlaps", choices=OVERLAP_POLICIES, help="spans sharing words: error (default), keep the longest or first"
    )
    if split:
        group.add_argument(
            "--split",
            type=_split_ratios,
            metavar="TRAIN,VALID,TEST",
            help="--data is one file: deal its documents (tasks) out at these shares, e.g. 0.8,0.1,0.1",
        )
        group.add_argument("--split-seed", type=non_negative_int, help="seed of the --split shuffle (default 0)")


def annotation_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The [data] keys that add_annotation_options' flags set (None where a flag was not given)."""
    return {
        "format": args.data_format,
        "annotation": args.annotation,
        "offsets": args.offsets,
        "words": args.words,
        "misaligned": args.misaligned,
        "overlaps": args.overlaps,
        "split": getattr(args, "split", None),
        "split_seed": getattr(args, "split_seed", None),
    }
