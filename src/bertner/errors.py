"""What the CLI reports as the user's fault: raise UserError (or a subclass), never a bare ValueError, for bad input.

`bertner` (cli/main.py) prints a UserError as one line on stderr and exits 2. Any other exception, a ValueError,
OSError or ImportError included, is reported as an internal error: exit 1, with its traceback saved to a file.
So a check of what the user gave (a file's content, an option value, a model or run folder, a missing extra)
raises UserError with a message that says what and where (`path:line: expected 4 columns, found 3`), and an
internal invariant raises ValueError or asserts. An OSError from opening a file the user named is caught where
the file is opened and raised again as a UserError naming the path.

This module imports nothing from bertner, so every layer may use it.
"""

from __future__ import annotations


class UserError(ValueError):
    """Bad input, named in the message. A ValueError, so that `except ValueError` around a reader still catches it."""


class MissingExtraError(UserError, ImportError):
    """An optional dependency is not installed; the message names the extra to install (`pip install 'bertner[X]'`)."""


EXTRAS = {
    "torch": "train",
    "transformers": "train",
    "accelerate": "train",
    "datasets": "train",
    "safetensors": "train",
    "tensorboard": "train",
    "onnxruntime": "runtime",
}
"""The extra that installs each package a command may import late: the base install has neither torch nor
onnxruntime (pyproject.toml), so a command that needs one names the extra to install."""


def missing_extra(error: ModuleNotFoundError) -> MissingExtraError | None:
    """The MissingExtraError to report for `error` when the missing module is one an extra installs, else None."""
    package = (error.name or "").split(".")[0]
    extra = EXTRAS.get(package)
    if extra is None:
        return None
    what = "PyTorch and transformers" if extra == "train" else "onnxruntime"
    hint = "; an ONNX export (bertner export) predicts, evaluates and serves without it" if extra == "train" else ""
    return MissingExtraError(f"this needs {what} ({package} is not installed): pip install 'bertner[{extra}]'{hint}")
