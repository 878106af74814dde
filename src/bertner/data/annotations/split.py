"""One annotated file -> train, valid and test, by whole documents (tasks), seeded and recorded.

Documents, not sentences, are dealt out, so that no task's sentences end up on both sides of the split; a file
that is one document is split by sentence. The documents are shuffled with `random.Random(seed)` and cut at the
ratios (largest remainders, so the counts add up to the whole); each part keeps the file's order. What went
where is recorded as the line each document starts on.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bertner.data.conll import Sentence
from bertner.errors import UserError

SPLITS = ("train", "valid", "test")


def check_ratios(ratios: Sequence[float]) -> None:
    """Three finite positive ratios adding up to 1 (within 1e-6)."""
    if len(ratios) != 3 or not all(math.isfinite(r) and r > 0 for r in ratios):
        raise UserError(f"split must be three positive ratios for train, valid and test, not {list(ratios)}")
    if abs(sum(ratios) - 1) > 1e-6:
        raise UserError(f"split ratios must add up to 1, not {sum(ratios):g} ({list(ratios)})")


def parse_ratios(text: str) -> tuple[float, ...]:
    """`0.8,0.1,0.1` -> (0.8, 0.1, 0.1), checked."""
    try:
        ratios = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise UserError(f"expected three comma-separated ratios like 0.8,0.1,0.1, not {text!r}") from None
    check_ratios(ratios)
    return ratios


def _sizes(count: int, ratios: Sequence[float]) -> list[int]:
    exact = [count * r for r in ratios]
    sizes = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(ratios)), key=lambda i: (sizes[i] - exact[i], i))
    for index in by_remainder[: count - sum(sizes)]:
        sizes[index] += 1
    return sizes


@dataclass(frozen=True)
class SplitRecord:
    """How a file was split: the ratios, the seed, the unit dealt out, and each part's documents by first line."""

    ratios: tuple[float, ...]
    seed: int
    unit: str
    lines: dict[str, list[int]]

    def to_dict(self) -> dict[str, Any]:
        parts = {name: {"count": len(lines), "lines": lines} for name, lines in self.lines.items()}
        return {"ratios": list(self.ratios), "seed": self.seed, "unit": self.unit, **parts}


def deal(count: int, ratios: Sequence[float], seed: int, unit: str, where: str) -> dict[str, list[int]]:
    """`count` items dealt into train, valid and test at `ratios`, as sorted index lists; none may be empty."""
    check_ratios(ratios)
    order = list(range(count))
    random.Random(seed).shuffle(order)
    parts: dict[str, list[int]] = {}
    start = 0
    for name, size in zip(SPLITS, _sizes(count, ratios), strict=True):
        if size == 0:
            raise UserError(
                f"{where}: splitting {count} {unit}s at {','.join(f'{r:g}' for r in ratios)} leaves {name} "
                "empty; annotate more, or give it a larger share"
            )
        parts[name] = sorted(order[start : start + size])
        start += size
    return parts


def split_documents(
    sentences: Sequence[Sentence], ratios: Sequence[float], seed: int, where: str
) -> tuple[dict[str, list[Sentence]], SplitRecord]:
    """`sentences` dealt into train, valid and test by document (by sentence when there is one document)."""
    groups: list[list[Sentence]] = []
    for sentence in sentences:
        if not groups or sentence.document != groups[-1][-1].document:
            groups.append([])
        groups[-1].append(sentence)
    unit = "document"
    if len(groups) == 1:
        groups, unit = [[s] for s in sentences], "sentence"
    parts = deal(len(groups), ratios, seed, unit, where)
    split = {name: [s for g in indices for s in groups[g]] for name, indices in parts.items()}
    lines = {name: [groups[g][0].line for g in indices] for name, indices in parts.items()}
    return split, SplitRecord(tuple(ratios), seed, unit, lines)
