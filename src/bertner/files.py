"""Reading JSON files with errors that name them, and writing output files so that a failure never leaves a
partial or corrupt file behind."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from bertner.errors import UserError


def write_text_atomic(path: Path, text: str) -> None:
    """Write `text` to a temporary file beside `path`, then rename it over `path` in one step."""
    write_bytes_atomic(path, text.encode("utf-8"))


def _umask() -> int:
    """The process's umask, read without changing it (os.umask sets it, which races with other threads)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    return 0o022


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `path`, then rename it over `path` in one step.

    The file gets the permissions a plain `open(path, "w")` would give it (0666 less the umask), not
    mkstemp's private 0600, so that other tools and users can read what bertner writes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(handle, 0o666 & ~_umask())
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def replace_folder(staging: Path, output: Path) -> None:
    """Rename the finished folder `staging` to `output` (beside it), replacing what `output` held, if anything.

    The old folder is renamed aside first and deleted only once `staging` is in place (put back on failure),
    so `output` is at every moment either the old folder or the new one, never a mix."""
    if not output.exists():
        staging.rename(output)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{output.name}.old-", dir=output.parent))
    old.rmdir()
    output.rename(old)
    try:
        staging.rename(output)
    except BaseException:
        old.rename(output)
        raise
    shutil.rmtree(old)


def read_json(path: Path, what: str) -> Any:
    """The JSON value in `path`; an unreadable, non-UTF-8 or invalid file is a UserError naming it and `what`."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserError(f"{path}: cannot read {what}: {error}") from error
