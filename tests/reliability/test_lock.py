"""One output folder, one writer: a live run's lock refuses a second `train`; a dead run's lock is taken over."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from bertner.cli import main
from bertner.layout import LOCK_FILENAME
from bertner.training.lock import RunFolderBusyError, RunLock

HOLD = """
import sys, time
from pathlib import Path
from bertner.training.lock import RunLock
with RunLock(Path(sys.argv[1])):
    print("locked", flush=True)
    sys.stdin.read()  # hold the lock until the test closes our stdin
"""


def test_a_second_train_into_a_folder_in_use_is_refused(
    tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(run_dir)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        argv = ["-q", "train", "--data", str(tiny_data), "--output", str(run_dir), "--encoder", "no-such-encoder"]
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1
        assert f"another training run is writing into this folder (pid {holder.pid} on " in err[0]
        assert not (run_dir / "bertner.toml").exists()  # refused before writing anything
    finally:
        holder.communicate("")
    assert holder.returncode == 0
    assert not (run_dir / LOCK_FILENAME).exists()  # released by its holder


def test_the_lock_of_a_process_that_died_is_taken_over_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    lock_file = tmp_path / LOCK_FILENAME
    lock_file.write_text(json.dumps({"pid": dead_pid, "host": "here", "since": "earlier"}) + "\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="bertner.training.lock"), RunLock(tmp_path):
        assert json.loads(lock_file.read_text(encoding="utf-8"))["pid"] != dead_pid
        with pytest.raises(RunFolderBusyError):  # held now: a second taker in this process is refused too
            RunLock(tmp_path).acquire()
    assert f"taking over a stale lock left by pid {dead_pid} on here" in caplog.text
    assert not lock_file.exists()
