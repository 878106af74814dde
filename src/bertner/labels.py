"""Tag schemes (IOB1, IOB2, BIOES), their detection and conversion to IOB2, and the label set.

Internally every sentence is IOB2: each entity starts with `B-`, continues with `I-` of the same type.
The legality of a tag after another is written as a table per scheme, not as branches.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum

OUTSIDE = "O"


class Scheme(str, Enum):
    IOB1 = "IOB1"
    IOB2 = "IOB2"
    BIOES = "BIOES"


_PREFIXES = {Scheme.IOB1: "BI", Scheme.IOB2: "BI", Scheme.BIOES: "BIES"}


def split_tag(tag: str) -> tuple[str, str]:
    """`B-PER` -> (`B`, `PER`); `O` -> (`O`, ``). Raises ValueError for anything else."""
    if tag == OUTSIDE:
        return OUTSIDE, ""
    prefix, sep, entity_type = tag.partition("-")
    if not sep or prefix not in ("B", "I", "E", "S") or not entity_type:
        raise ValueError(f"not a valid tag: {tag!r} (expected O or B-/I-/E-/S- followed by a type)")
    return prefix, entity_type


def _continues(prefix: str, entity_type: str, prev_prefix: str, prev_type: str) -> bool:
    """Whether (prefix, type) may follow (prev_prefix, prev_type) inside the same entity."""
    return entity_type == prev_type and prev_prefix in ("B", "I")


# For each scheme: given the tag's prefix, is it legal after the previous tag?
# `inside` is true when the previous tag is B-/I- of the same type (an open entity of this type).
_LEGAL = {
    Scheme.IOB2: {"O": lambda inside, prev_open: True, "B": lambda i, o: True, "I": lambda inside, o: inside},
    # IOB1: I- may start an entity; B- only separates two adjacent entities of the same type.
    Scheme.IOB1: {"O": lambda i, o: True, "B": lambda inside, o: inside, "I": lambda i, o: True},
    # BIOES: an open entity must be closed by I-/E- of its type; B-/S-/O may only come when none is open.
    Scheme.BIOES: {
        "O": lambda i, prev_open: not prev_open,
        "B": lambda i, prev_open: not prev_open,
        "S": lambda i, prev_open: not prev_open,
        "I": lambda inside, o: inside,
        "E": lambda inside, o: inside,
    },
}


def first_illegal(tags: Sequence[str], scheme: Scheme) -> int | None:
    """Index of the first tag the scheme forbids at its place, or None if the sequence is legal."""
    prev_prefix, prev_type = OUTSIDE, ""
    for index, tag in enumerate(tags):
        prefix, entity_type = split_tag(tag)
        rule = _LEGAL[scheme].get(prefix)
        inside = _continues(prefix, entity_type, prev_prefix, prev_type)
        prev_open = scheme is Scheme.BIOES and prev_prefix in ("B", "I")
        if rule is None or not rule(inside, prev_open):
            return index
        prev_prefix, prev_type = prefix, entity_type
    if scheme is Scheme.BIOES and prev_prefix in ("B", "I"):
        return len(tags) - 1
    return None


def detect_scheme(sentences: Iterable[Sequence[str]]) -> Scheme:
    """Guess the scheme of a whole file.

    E-/S- tags mean BIOES. A B- that opens an entity means IOB2 (IOB1 uses B- only between two
    adjacent entities of one type), so any I- that opens an entity in such a file is an error, not IOB1.
    A file whose entities all open with I- is IOB1.
    """
    opens_with_i = opens_with_b = False
    for tags in sentences:
        prev_prefix, prev_type = OUTSIDE, ""
        for tag in tags:
            prefix, entity_type = split_tag(tag)
            if prefix in ("E", "S"):
                return Scheme.BIOES
            if prefix in ("B", "I") and not _continues(prefix, entity_type, prev_prefix, prev_type):
                opens_with_b |= prefix == "B"
                opens_with_i |= prefix == "I"
            prev_prefix, prev_type = prefix, entity_type
    return Scheme.IOB1 if opens_with_i and not opens_with_b else Scheme.IOB2


def to_iob2(tags: Sequence[str], scheme: Scheme) -> list[str]:
    """Convert a legal sequence in `scheme` to IOB2."""
    out: list[str] = []
    prev_prefix, prev_type = OUTSIDE, ""
    for tag in tags:
        prefix, entity_type = split_tag(tag)
        if prefix == OUTSIDE:
            out.append(OUTSIDE)
        elif (
            prefix in ("B", "S")
            or scheme is Scheme.IOB1
            and not _continues(prefix, entity_type, prev_prefix, prev_type)
        ):
            out.append(f"B-{entity_type}")
        else:
            out.append(f"I-{entity_type}")
        prev_prefix, prev_type = prefix, entity_type
    return out


@dataclass(frozen=True)
class LabelSet:
    """The IOB2 labels a model predicts, in id order: `O`, then `B-X`, `I-X` for each type X, sorted."""

    labels: tuple[str, ...]

    @classmethod
    def from_types(cls, types: Iterable[str]) -> LabelSet:
        ordered = sorted(set(types))
        return cls((OUTSIDE, *[f"{p}-{t}" for t in ordered for p in ("B", "I")]))

    @classmethod
    def from_tags(cls, tags: Iterable[str]) -> LabelSet:
        return cls.from_types(split_tag(t)[1] for t in tags if t != OUTSIDE)

    @property
    def types(self) -> tuple[str, ...]:
        return tuple(label[2:] for label in self.labels if label.startswith("B-"))

    @property
    def label2id(self) -> dict[str, int]:
        return {label: index for index, label in enumerate(self.labels)}

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.labels))

    def inside_of(self) -> list[int]:
        """For each label id, the id to use on a word's continuation sub-tokens (B-X -> I-X, others unchanged)."""
        ids = self.label2id
        # .get: a label set read from another tool's model (inference/hf_labels.py) may have a B-X without I-X.
        return [
            ids.get(f"I-{label[2:]}", ids[label]) if label.startswith("B-") else ids[label] for label in self.labels
        ]

    def __len__(self) -> int:
        return len(self.labels)
