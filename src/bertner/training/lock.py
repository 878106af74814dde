"""One writer per run folder: a lock file that holds the training process's PID.

`bertner train` takes `run_dir/bertner.lock` for as long as it writes into the folder. The lock is an
advisory `flock` on that file, which the kernel releases when the process ends however it ends (kill -9
included), so a lock file left behind by a dead process is recognised as stale by the lock being free,
not by guessing from its PID: such a file is taken over, with a warning naming the dead PID.
A second `train` into a folder whose lock is held is refused with the holder's PID.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from pathlib import Path
from types import TracebackType

from bertner.errors import UserError
from bertner.layout import LOCK_FILENAME

logger = logging.getLogger(__name__)


class RunFolderBusyError(UserError):
    """Another live process is writing into the run folder."""


def _describe(text: str) -> str:
    try:
        holder = json.loads(text)
        return f"pid {holder['pid']} on {holder['host']}, since {holder['since']}"
    except (ValueError, KeyError, TypeError):
        return "an unknown process (the lock file is unreadable)"


class RunLock:
    """`with RunLock(run_dir):` holds the folder's lock; raises RunFolderBusyError if a live process holds it."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / LOCK_FILENAME
        self._descriptor: int | None = None

    def acquire(self) -> None:
        import fcntl  # POSIX only; imported here so that the rest of bertner imports anywhere

        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _describe(os.pread(descriptor, 4096, 0).decode("utf-8", "replace"))
                os.close(descriptor)
                raise RunFolderBusyError(
                    f"{self.path.parent}: another training run is writing into this folder ({holder}; lock file "
                    f"{self.path}); wait for it to finish or choose another --output"
                ) from None
            # The holder we waited on may have deleted the file between our open and our flock: then the lock
            # is on a file nobody else will open, and we must lock the one at the path now.
            try:
                same = os.path.samestat(os.fstat(descriptor), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(descriptor)
        previous = os.pread(descriptor, 4096, 0).decode("utf-8", "replace").strip()
        if previous:
            logger.warning(
                "%s: taking over a stale lock left by %s, which is no longer running", self.path, _describe(previous)
            )
        record = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, (json.dumps(record) + "\n").encode("utf-8"), 0)
        os.fsync(descriptor)
        self._descriptor = descriptor

    def release(self) -> None:
        if self._descriptor is None:
            return
        # Delete before unlocking, so that no one takes the lock on a file that is about to disappear.
        self.path.unlink(missing_ok=True)
        os.close(self._descriptor)
        self._descriptor = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.release()
