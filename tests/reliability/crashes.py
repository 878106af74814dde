"""A stand-in for `os.replace` that fails at a chosen call: the crash points of a staged write, one at a time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class CrashingReplace:
    """Calls `real` for the first `limit` renames, then raises OSError; `count` is the renames that went through."""

    real: Callable[[Any, Any], None]
    limit: int
    count: int = 0

    def __call__(self, source: Any, target: Any) -> None:
        if self.count == self.limit:
            raise OSError("simulated crash")
        self.count += 1
        self.real(source, target)
