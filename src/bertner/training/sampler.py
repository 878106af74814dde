"""Length-grouped batches in random order.

HF's length grouping (`get_length_grouped_indices`) sorts each mega-batch of 50 batches by length, so
training sweeps from long to short sentences every 50 steps, and in CoNLL the shortest "sentences"
(datelines, score lines) then come in runs of consecutive steps. This sampler keeps HF's batches, and so
their padding savings, but visits them in random order.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from transformers.trainer_pt_utils import get_length_grouped_indices


def shuffled_group_indices(lengths: Sequence[int], batch_size: int) -> list[int]:
    """HF's length-grouped indices, cut into batches of `batch_size` whose order is then shuffled.

    A last, partial batch stays last, so that a DataLoader cutting the list into `batch_size` chunks gets
    exactly these batches. Randomness comes from torch's global generator, as in HF's sampler.
    """
    indices = get_length_grouped_indices(list(lengths), batch_size)
    batches = [indices[i : i + batch_size] for i in range(0, len(indices), batch_size)]
    tail = [batches.pop()] if batches and len(batches[-1]) < batch_size else []
    order = torch.randperm(len(batches)).tolist()
    return [index for batch in [*(batches[k] for k in order), *tail] for index in batch]


class ShuffledGroupsSampler(torch.utils.data.Sampler[int]):
    """Yields :func:`shuffled_group_indices` afresh each epoch."""

    def __init__(self, lengths: Sequence[int], batch_size: int) -> None:
        self.lengths = list(lengths)
        self.batch_size = batch_size

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        return iter(shuffled_group_indices(self.lengths, self.batch_size))
