"""Whether to run under bfloat16 autocast: `train.bf16 = "auto"` asks the hardware.

On a CPU, bf16 autocast pays only where the CPU has native bf16 arithmetic (the `avx512_bf16` or `amx_bf16`
flags of `lscpu`): MiniLM-L6's training step was about 1.3x faster with it on a 2-core AVX-512/BF16 VM
(docs/results.md), while a CPU without those instructions emulates bf16 and gets slower, so "auto" picks
fp32 there. On a GPU, "auto" follows torch.cuda.is_bf16_supported().

A saved run is scored at the precision the machine that loads it decides (`bf16_at_load`), not the one it was
trained at: a run trained under bf16 on a CPU with native bf16 is scored in fp32 on a CPU without it.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import platform
from pathlib import Path

import torch

from bertner.config import Config

logger = logging.getLogger(__name__)

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


def bf16_at_load(setting: bool | str, trained: bool | str, what: str) -> bool:
    """Whether a loaded run (`what`, for the log) is scored under bf16 autocast; the decision is logged.

    `setting` true or false stands (`--bf16 true|false`). "auto" keeps the precision the run was trained at
    (`trained`, its recorded train.bf16) where this machine has native bf16, and is fp32 where it has not: there
    bf16 is emulated, about 20x slower per step on an AVX2-only CPU (docs/results.md), and a run trained in fp32
    is scored as it was validated.
    """
    native = resolve_bf16(AUTO)
    if isinstance(setting, bool):
        decision, why = setting, f"--bf16 {str(setting).lower()}"
    elif setting == AUTO:
        ran = resolve_bf16(trained)
        decision = ran and native
        why = (
            f"--bf16 auto: trained in {'bf16' if ran else 'fp32'}; "
            f"this machine has {'native' if native else 'no native'} bf16"
        )
    else:
        raise ValueError(f"bf16 must be true, false or {AUTO!r}, not {setting!r}")
    logger.info("%s: %s (%s)", what, "bf16 autocast" if decision else "fp32", why)
    return decision


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
