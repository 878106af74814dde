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
    from bertner.evaluation.report import BootstrapSettings

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
