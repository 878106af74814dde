"""Length-grouped training batches, drawn from a seed and the epoch so that every process draws the same.

HF's length grouping (`get_length_grouped_indices`) sorts each mega-batch of 50 batches by length, so
training sweeps from long to short sentences every 50 steps, and in CoNLL the shortest "sentences"
(datelines, score lines) then come in runs of consecutive steps. `ShuffledGroupsSampler` keeps HF's
batches, and so their padding savings, but visits them in random order.

Data parallel (issue 13). Under `torchrun`, Accelerate gives each process a share of the training batches
(`BatchSamplerShard`): every process iterates the same sampler, cuts its order into batches of the
per-process size, and keeps batches `rank, rank + N, rank + 2N, ...`; one optimizer step takes N
consecutive batches. That is right only when every process draws the same order, so these samplers draw it
from a `torch.Generator` seeded with `seed + epoch` (as Accelerate's `SeedableRandomSampler` does for random
batches), never from torch's global generator, whose state differs between processes once their dropout
has drawn from it. And they group by the *global* batch (`batch_size` here is per process x processes x
gradient-accumulation steps), so one optimizer step takes one length group, as it does in one process.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from transformers.trainer_pt_utils import get_length_grouped_indices


def shuffled_group_indices(
    lengths: Sequence[int], batch_size: int, generator: torch.Generator | None = None
) -> list[int]:
    """HF's length-grouped indices, cut into batches of `batch_size` whose order is then shuffled.

    A last, partial batch stays last, so that a DataLoader cutting the list into `batch_size` chunks gets
    exactly these batches. Randomness comes from `generator`, or torch's global generator when it is None.
    """
    indices = get_length_grouped_indices(list(lengths), batch_size, generator=generator)
    batches = [indices[i : i + batch_size] for i in range(0, len(indices), batch_size)]
    tail = [batches.pop()] if batches and len(batches[-1]) < batch_size else []
    order = torch.randperm(len(batches), generator=generator).tolist()
    return [index for batch in [*(batches[k] for k in order), *tail] for index in batch]


class _EpochSeededSampler(torch.utils.data.Sampler[int]):
    """Indices drawn afresh each epoch from a generator seeded with `seed + epoch`.

    The Trainer calls `set_epoch` before each epoch (through Accelerate's data loader); an iteration without
    it moves on to the next epoch, as `SeedableRandomSampler` does.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        indices = self._draw(generator)
        self.epoch += 1
        return iter(indices)

    def _draw(self, generator: torch.Generator) -> list[int]:
        raise NotImplementedError


class LengthGroupedSampler(_EpochSeededSampler):
    """HF's length-grouped order (mega-batches sorted long to short), drawn from `seed + epoch`."""

    def _draw(self, generator: torch.Generator) -> list[int]:
        return list(get_length_grouped_indices(self.lengths, self.batch_size, generator=generator))


class ShuffledGroupsSampler(_EpochSeededSampler):
    """:func:`shuffled_group_indices`, drawn from `seed + epoch`."""

    def _draw(self, generator: torch.Generator) -> list[int]:
        return shuffled_group_indices(self.lengths, self.batch_size, generator)


def length_grouped_sampler(
    lengths: Sequence[int], global_batch_size: int, seed: int, shuffle_groups: bool
) -> LengthGroupedSampler | ShuffledGroupsSampler:
    """The sampler of `train.group_by_length` (and `train.shuffle_length_groups`), grouping by the batch of one
    optimizer step over all processes."""
    kind = ShuffledGroupsSampler if shuffle_groups else LengthGroupedSampler
    return kind(lengths, global_batch_size, seed)
