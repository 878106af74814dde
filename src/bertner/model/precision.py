"""Whether to run under bfloat16 autocast: `train.bf16 = "auto"` asks the hardware.

On a CPU, bf16 autocast pays only where the CPU has native bf16 arithmetic (the `avx512_bf16` or `amx_bf16`
flags of `lscpu`): MiniLM-L6's training step was about 1.3x faster with it on a 2-core AVX-512/BF16 VM
(docs/results.md), while a CPU without those instructions emulates bf16 and gets slower, so "auto" picks
fp32 there. On a GPU, "auto" follows torch.cuda.is_bf16_supported().
"""

from __future__ import annotations

import dataclasses
import functools
import platform
from pathlib import Path

import torch

from bertner.config import Config

AUTO = "auto"
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def resolve_bf16(setting: bool | str, device: torch.device | None = None) -> bool:
    """`setting` as a decision: True and False stand; "auto" is True where bf16 is native on `device`
    (default: CUDA if available, else the CPU)."""
    if isinstance(setting, bool):
        return setting
    if setting != AUTO:
        raise ValueError(f"train.bf16 must be true, false or {AUTO!r}, not {setting!r}")
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    return device.type == "cpu" and bool(set(cpu_flags()) & set(NATIVE_BF16_FLAGS))


def with_bf16_decided(config: Config, device: torch.device | None = None) -> Config:
    """`config` as a run records it: `train.bf16` decided for this machine (resolve_bf16), "auto" no more."""
    return dataclasses.replace(
        config, train=dataclasses.replace(config.train, bf16=resolve_bf16(config.train.bf16, device))
    )


@functools.cache
def cpu_flags() -> tuple[str, ...]:
    """The CPU's feature flags as Linux reports them in /proc/cpuinfo (what `lscpu` shows); empty elsewhere."""
    if platform.system() != "Linux":
        return ()
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return tuple(value.split())
    return ()
