"""A linear-chain CRF's scores as numpy arrays: what Viterbi and forward-backward need, without torch.

`model/crf.py` trains the CRF (`CRF.to_chain()` gives this form); an ONNX export stores the same numbers in
`crf.json` (`LinearChain.to_dict` writes the keys `crf_to_dict` wrote), so an export decodes with numpy alone.

A path's score is start[y_0] + sum_t emissions[t, y_t] + sum_t transitions[y_t-1, y_t] + end[y_-1]. The hard
constraints are data: a move that `allowed` (or a first tag that `allowed_start`) forbids scores IMPOSSIBLE
in place of its learned value, exactly as in the torch CRF, so both decode the same paths.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bertner.errors import UserError

# The score of a forbidden move, for this chain and the torch CRF (model/crf.py) alike: a large finite number
# rather than -inf, so that exp() of it is exactly 0 and no arithmetic on it gives NaN (nor NaN gradients).
IMPOSSIBLE = -10000.0

_SCORES = ("start_transitions", "end_transitions", "transitions")


@dataclass(frozen=True, eq=False)
class LinearChain:
    """A CRF's learned scores and its constraints; build it with keyword arguments.

    Attributes:
        transitions: (num_tags, num_tags) float, `transitions[from, to]`, as learned (constraints not applied).
        start: (num_tags,) float, the score of each first tag.
        end: (num_tags,) float, the score of each last tag.
        allowed: (num_tags, num_tags) bool, whether tag `to` may follow tag `from`.
        allowed_start: (num_tags,) bool, the tags a sentence may start with.
    """

    transitions: np.ndarray
    start: np.ndarray
    end: np.ndarray
    allowed: np.ndarray
    allowed_start: np.ndarray

    def __post_init__(self) -> None:
        num_tags = len(self.start)
        shapes = {
            "transitions": (self.transitions, (num_tags, num_tags), np.floating),
            "start": (self.start, (num_tags,), np.floating),
            "end": (self.end, (num_tags,), np.floating),
            "allowed": (self.allowed, (num_tags, num_tags), np.bool_),
            "allowed_start": (self.allowed_start, (num_tags,), np.bool_),
        }
        for name, (array, shape, kind) in shapes.items():
            if not isinstance(array, np.ndarray) or array.shape != shape or not np.issubdtype(array.dtype, kind):
                got = f"{array.dtype} of shape {array.shape}" if isinstance(array, np.ndarray) else type(array).__name__
                wanted = "bool" if kind is np.bool_ else "float"
                raise ValueError(f"{name} must be a {wanted} array of shape {shape}, got {got}")
        if num_tags < 1:
            raise ValueError("a chain needs at least one tag")
        if not self.allowed_start.any():
            raise ValueError("allowed_start forbids every tag, so no sequence is possible")

    @classmethod
    def independent(cls, num_tags: int, dtype: type = np.float64) -> LinearChain:
        """The chain with every score 0 and nothing forbidden: its path distribution is the product of the words'
        softmaxes, so a model without a CRF is this chain (used as the oracle of the product formula)."""
        return cls(
            transitions=np.zeros((num_tags, num_tags), dtype=dtype),
            start=np.zeros(num_tags, dtype=dtype),
            end=np.zeros(num_tags, dtype=dtype),
            allowed=np.ones((num_tags, num_tags), dtype=bool),
            allowed_start=np.ones(num_tags, dtype=bool),
        )

    @property
    def num_tags(self) -> int:
        return len(self.start)

    def constrained(self) -> tuple[np.ndarray, np.ndarray]:
        """Start (num_tags,) and transition (num_tags, num_tags) scores with forbidden moves set to IMPOSSIBLE."""
        start = np.where(self.allowed_start, self.start, self.start.dtype.type(IMPOSSIBLE))
        transitions = np.where(self.allowed, self.transitions, self.transitions.dtype.type(IMPOSSIBLE))
        return start, transitions

    def scaled(self, factor: float) -> LinearChain:
        """This chain with its learned scores multiplied by `factor` (constraints kept): a temperature's 1/T."""
        return LinearChain(
            transitions=self.transitions * factor,
            start=self.start * factor,
            end=self.end * factor,
            allowed=self.allowed,
            allowed_start=self.allowed_start,
        )

    def permuted(self, columns: Sequence[int]) -> LinearChain:
        """This chain with tag `columns[i]` renamed i: its scores and constraints permuted alike."""
        index = np.asarray(columns, dtype=np.int64)
        if sorted(index.tolist()) != list(range(self.num_tags)):
            raise ValueError(f"columns must be a permutation of 0..{self.num_tags - 1}, got {list(columns)}")
        # (num_tags, num_tags): rows are the tag moved from, columns the tag moved to
        return LinearChain(
            transitions=self.transitions[np.ix_(index, index)],
            start=self.start[index],
            end=self.end[index],
            allowed=self.allowed[np.ix_(index, index)],
            allowed_start=self.allowed_start[index],
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready lists, the keys of an export's `crf.json` (float32 values survive the round trip exactly)."""
        return {
            "num_tags": self.num_tags,
            "start_transitions": self.start.tolist(),
            "end_transitions": self.end.tolist(),
            "transitions": self.transitions.tolist(),
            "allowed": self.allowed.tolist(),
            "allowed_start": self.allowed_start.tolist(),
        }

    @classmethod
    def from_dict(cls, values: Any, where: str) -> LinearChain:
        """The chain `to_dict` (or an export's `crf.json`) describes, in float32 as the torch CRF holds it.

        Raises ValueError naming `where` for a missing key, a wrong shape or a non-number.
        """
        try:
            num_tags = int(values["num_tags"])
            scores = {name: np.asarray(values[name], dtype=np.float32) for name in _SCORES}
            allowed = np.asarray(values["allowed"])
            allowed_start = np.asarray(values["allowed_start"])
            for name, array in (("allowed", allowed), ("allowed_start", allowed_start)):
                if array.dtype != np.bool_:
                    raise ValueError(f"{name} must hold true/false values, got {array.dtype}")
            chain = cls(
                transitions=scores["transitions"],
                start=scores["start_transitions"],
                end=scores["end_transitions"],
                allowed=allowed,
                allowed_start=allowed_start,
            )
        except (KeyError, TypeError, ValueError) as error:
            raise UserError(f"{where}: not a CRF description: {error}") from error
        if chain.num_tags != num_tags:
            raise UserError(f"{where}: not a CRF description: num_tags {num_tags}, scores of {chain.num_tags} tags")
        return chain


def mean_chain(chains: Sequence[LinearChain | None]) -> LinearChain:
    """A chain whose scores are the mean of `chains`' (None: a model without a CRF, all-zero scores), allowing
    only the transitions (and first tags) that every chain of them allows. At least one must be a chain."""
    present = [chain for chain in chains if chain is not None]
    if not present:
        raise ValueError("mean_chain needs at least one chain")
    first = present[0]
    for chain in present[1:]:
        if chain.num_tags != first.num_tags:
            raise ValueError(f"chains of {first.num_tags} and {chain.num_tags} tags cannot be averaged")

    # A sum then one division, in the first chain's precision, so that identical chains give their own scores.
    def mean(name: str) -> np.ndarray:
        values: np.ndarray = getattr(first, name)
        total = sum((getattr(chain, name).astype(values.dtype) for chain in present), np.zeros_like(values))
        return (total / values.dtype.type(len(chains))).astype(values.dtype)

    return LinearChain(
        transitions=mean("transitions"),
        start=mean("start"),
        end=mean("end"),
        allowed=np.logical_and.reduce([chain.allowed for chain in present]),
        allowed_start=np.logical_and.reduce([chain.allowed_start for chain in present]),
    )
