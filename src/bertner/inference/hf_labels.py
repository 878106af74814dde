"""The label names of any HF token-classification model, read as tags of one scheme.

Models fine-tuned elsewhere (HF's `run_ner.py`, a hub checkpoint) name their labels in many ways: `B-PER`,
`b_per`, BILOU's `U-`/`L-`, or bare types (`PER`, an IO scheme). Each name is read as a tag of IOB2, IOB1
(bare types become `I-` tags that may open an entity) or BIOES (`U-` -> `S-`, `L-` -> `E-`); a model's
predicted tags are converted to IOB2 after decoding (inference/tagging.py), so every model is scored by the
same conlleval rules.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from bertner.errors import UserError
from bertner.labels import OUTSIDE, Scheme

_BILOU = {"U": "S", "L": "E"}
_PREFIXED = re.compile(r"^([BIESUL])[-_](.+)$", re.IGNORECASE)
_DEFAULT_NAME = re.compile(r"^LABEL_\d+$")


@dataclass(frozen=True)
class ModelLabels:
    """A model's labels as tags, in id order, and the scheme they belong to."""

    tags: tuple[str, ...]
    scheme: Scheme

    @property
    def types(self) -> tuple[str, ...]:
        return tuple(sorted({tag[2:] for tag in self.tags if tag != OUTSIDE}))


def _tag(name: str) -> tuple[str, bool]:
    """A label name as a tag, and whether it was a bare type (IO scheme)."""
    if name.upper() in ("O", "OUTSIDE"):
        return OUTSIDE, False
    match = _PREFIXED.match(name)
    if match is None:
        return f"I-{name}", True
    prefix = match.group(1).upper()
    return f"{_BILOU.get(prefix, prefix)}-{match.group(2)}", False


def read_model_labels(id2label: Mapping[int | str, str], where: str) -> ModelLabels:
    """The tags of a model's `id2label` (keys may be strings, as JSON stores them).

    Raises UserError when the ids are not 0..n-1, when the names are HF's placeholders (`LABEL_0`, ...:
    the model was saved without label names), or when there is no `O` label.
    """
    try:
        ordered = sorted((int(key), str(name)) for key, name in id2label.items())
    except ValueError as error:
        raise UserError(f"{where}: id2label keys must be integers, got {sorted(id2label)}") from error
    if [key for key, _ in ordered] != list(range(len(ordered))) or not ordered:
        raise UserError(f"{where}: id2label must map the ids 0..n-1, got {[key for key, _ in ordered]}")
    names = [name.strip() for _, name in ordered]
    if all(_DEFAULT_NAME.match(name) for name in names):
        raise UserError(
            f"{where}: id2label holds only placeholder names ({names[0]}, ...); the model was saved without "
            "its label names, so its predictions cannot be read as entity types"
        )
    read = [_tag(name) for name in names]
    tags = tuple(tag for tag, _ in read)
    if OUTSIDE not in tags:
        raise UserError(f"{where}: no outside label ('O') among {names}")
    if any(tag[0] in "ES" for tag in tags if tag != OUTSIDE):
        scheme = Scheme.BIOES
    elif any(bare for _, bare in read):
        scheme = Scheme.IOB1
    else:
        scheme = Scheme.IOB2
    return ModelLabels(tags, scheme)
