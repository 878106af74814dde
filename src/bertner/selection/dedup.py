"""Near-duplicates left out of a selection, so that the annotation budget is not spent twice on one text.

Two texts are near-duplicates when

1. their normalised forms are equal: Unicode NFKC, case-folded, every run of characters that are not letters
   or digits made one space, trimmed (so `"Hello, World!"` and `"hello world"` are equal); or
2. the Jaccard similarity of their sets of word 3-shingles (three consecutive words of the normalised text;
   a text of fewer than 3 words is one shingle, itself) is at least `threshold`, 0.8 by default. One word
   changed inside an N-word text leaves N-5 of its N-2 shingles shared, of N+1 in the union: 15/21 ≈ 0.71 at 20
   words (kept), 35/41 ≈ 0.85 at 40 (dropped). So 0.8 drops copies of longer texts that differ in a word or
   two (a date, a markup token), and exact copies of any length (rule 1), but not short texts that merely look
   alike.

Selection walks the ranking in order and keeps a text unless it is a near-duplicate of one already kept; each
dropped text is reported with the kept one it repeats. Candidates are compared only with kept texts that share
a shingle with them (an index from shingle to kept texts), not with all.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from bertner.errors import UserError

SHINGLE_WORDS = 3
THRESHOLD = 0.8
_NOT_WORD = re.compile(r"[\W_]+")


def normalise(text: str) -> str:
    return _NOT_WORD.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def shingles(normalised: str, size: int = SHINGLE_WORDS) -> frozenset[str]:
    words = normalised.split()
    if len(words) < size:
        return frozenset({" ".join(words)})
    return frozenset(" ".join(words[i : i + size]) for i in range(len(words) - size + 1))


@dataclass(frozen=True)
class Chosen:
    """Indices into the ranked texts: those kept (in rank order) and those dropped as (dropped, the kept one)."""

    kept: tuple[int, ...]
    duplicates: tuple[tuple[int, int], ...]


def choose(order: Sequence[int], texts: Sequence[str], budget: int, threshold: float = THRESHOLD) -> Chosen:
    """The first `budget` texts of `order` (indices into `texts`) that are not near-duplicates of an earlier kept
    one; stops as soon as the budget is met, so texts ranked after the last kept one are not examined."""
    if budget < 1:
        raise UserError(f"the budget must be at least 1, not {budget}")
    if not 0 < threshold <= 1:
        raise UserError(f"the Jaccard threshold must be in (0, 1], not {threshold}")
    kept: list[int] = []
    duplicates: list[tuple[int, int]] = []
    exact: dict[str, int] = {}
    kept_shingles: dict[int, frozenset[str]] = {}
    index: dict[str, list[int]] = {}
    for candidate in order:
        if len(kept) == budget:
            break
        key = normalise(texts[candidate])
        if key in exact:
            duplicates.append((candidate, exact[key]))
            continue
        mine = shingles(key)
        shared: dict[int, int] = {}
        for shingle in mine:
            for other in index.get(shingle, ()):
                shared[other] = shared.get(other, 0) + 1
        # the kept text most similar to this one, if any reaches the threshold
        similar = [
            (common / len(mine | kept_shingles[other]), other)
            for other, common in shared.items()
            if common / len(mine | kept_shingles[other]) >= threshold
        ]
        if similar:
            duplicates.append((candidate, max(similar, key=lambda pair: (pair[0], -pair[1]))[1]))
            continue
        kept.append(candidate)
        exact[key] = candidate
        kept_shingles[candidate] = mine
        for shingle in mine:
            index.setdefault(shingle, []).append(candidate)
    return Chosen(tuple(kept), tuple(duplicates))
