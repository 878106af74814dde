"""train.bf16 = "auto": bf16 exactly where the CPU reports native bf16, checked against lscpu's flags."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from bertner import precision
from bertner.cli import main
from bertner.config_files import read_saved_config
from bertner.precision import cpu_flags, resolve_bf16


def test_explicit_settings_stand() -> None:
    assert resolve_bf16(True) is True
    assert resolve_bf16(False) is False
    with pytest.raises(ValueError, match="train.bf16 must be true, false or 'auto', not 'yes'"):
        resolve_bf16("yes")


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (("fpu", "avx2", "avx512f"), False),  # AVX-512 without bf16: emulated, slower
        (("avx2", "avx512f", "avx512_bf16"), True),
        (("avx2", "amx_bf16", "amx_tile"), True),
        ((), False),  # not Linux, or flags unreadable
    ],
)
def test_auto_follows_the_native_bf16_flags(
    monkeypatch: pytest.MonkeyPatch, flags: tuple[str, ...], expected: bool
) -> None:
    monkeypatch.setattr(precision, "cpu_flags", lambda: flags)
    assert resolve_bf16("auto", torch.device("cpu")) is expected


@pytest.mark.skipif(shutil.which("lscpu") is None, reason="lscpu is not installed")
def test_cpu_flags_are_what_lscpu_reports() -> None:
    output = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    line = next((line for line in output.splitlines() if line.startswith("Flags:")), None)
    if line is None:
        pytest.skip("lscpu prints no flags here")
    assert set(cpu_flags()) == set(line.split(":", 1)[1].split())


def test_a_run_records_the_decision_not_auto(tiny_bert: Path, tiny_data: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    argv = ["-q", "train", "--data", str(tiny_data), "--output", str(run), "--encoder", str(tiny_bert)]
    assert main([*argv, "--epochs", "1", "--batch-size", "4", "--bf16", "auto", "--no-test"]) == 0
    assert read_saved_config(run).train.bf16 is resolve_bf16("auto")
