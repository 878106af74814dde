"""Dynamic padding: a batch is padded only to its own longest window."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from bertner.data.alignment import IGNORE
from bertner.data.features import PAD_SHAPE


@dataclass(frozen=True)
class Collator:
    """Pads `input_ids`, `shape_ids` and (if present) `word_starts` and `labels`, and builds the attention mask."""

    pad_token_id: int

    def __call__(self, features: Sequence[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
        """Returns tensors of shape (batch, longest) each; `word_starts` is bool, the others long."""
        longest = max(len(f["input_ids"]) for f in features)

        def pad(key: str, value: int) -> torch.Tensor:
            return torch.tensor([f[key] + [value] * (longest - len(f[key])) for f in features], dtype=torch.long)

        batch = {
            "input_ids": pad("input_ids", self.pad_token_id),
            "attention_mask": torch.tensor(
                [[1] * len(f["input_ids"]) + [0] * (longest - len(f["input_ids"])) for f in features],
                dtype=torch.long,
            ),
            "shape_ids": pad("shape_ids", PAD_SHAPE),
        }
        if "word_starts" in features[0]:
            batch["word_starts"] = pad("word_starts", 0).bool()
        if "labels" in features[0]:
            batch["labels"] = pad("labels", IGNORE)
        return batch
