"""The `bertner` command: the only place that parses flags, prints, sets up logging and exits.

Each command is a module of this package with `add_parser(commands)` and `run(args) -> exit code`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from types import ModuleType

from bertner.cli import (
    audit,
    calibrate,
    compare,
    convert,
    distill,
    ensemble,
    evaluate,
    experiment,
    export,
    predict,
    pretrain,
    search,
    select,
    serve,
    train,
)
from bertner.cli.options import Parser
from bertner.errors import UserError, missing_extra

logger = logging.getLogger("bertner")

_MODULES: tuple[ModuleType, ...] = (
    train,
    evaluate,
    predict,
    convert,
    compare,
    experiment,
    serve,
    export,
    ensemble,
    search,
    pretrain,
    audit,
    select,
    distill,
    calibrate,
)
COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    module.__name__.rsplit(".", 1)[1]: module.run for module in _MODULES
}


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="bertner", description="Named-entity recognition with BERT-family encoders.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    commands = parser.add_subparsers(dest="command", required=True)
    for module in _MODULES:
        module.add_parser(commands)
    return parser


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
    """Run a command. Exit codes: 0 done; 2 a user error (a UserError: one line on stderr naming the file or
    option); 1 any other error (one line, and the traceback saved to a file whose path it gives: a bug, or an
    OSError of the system's); 130 interrupted."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        try:
            return COMMANDS[args.command](args)
        except ModuleNotFoundError as error:  # torch or onnxruntime, in an install without the extra: say which
            missing = missing_extra(error)
            if missing is None:
                raise
            raise missing from error
    except KeyboardInterrupt:
        print(f"bertner {args.command}: interrupted", file=sys.stderr)
        return 130
    except UserError as error:  # raised where the input is checked (bertner/errors.py): the input's fault
        logger.debug("the error's traceback:", exc_info=True)
        print(f"bertner {args.command}: error: {_one_line(error)}", file=sys.stderr)
        return 2
    except OSError as error:  # the system's: a full disk, a folder it may not write
        saved = _save_traceback(args.command)
        print(
            f"bertner {args.command}: error: {type(error).__name__}: {_one_line(error)} (the traceback is in {saved})",
            file=sys.stderr,
        )
        return 1
    except Exception as error:  # any other, a ValueError or ImportError included: a bug
        saved = _save_traceback(args.command)
        print(
            f"bertner {args.command}: internal error: {type(error).__name__}: {_one_line(error)} "
            f"(a bug in bertner; the traceback is in {saved})",
            file=sys.stderr,
        )
        return 1
