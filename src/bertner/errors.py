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
