"""train.shuffle_length_groups: HF's length-grouped batches, the same batches, in random order.

Oracle: HF's own `get_length_grouped_indices` under the same random state.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers.trainer_pt_utils import get_length_grouped_indices

from bertner.config_files import load_config
from bertner.data.corpus import load_corpus
from bertner.training.sampler import ShuffledGroupsSampler, shuffled_group_indices
from bertner.training.trainer import train_model


def _batches(indices: list[int], size: int) -> list[list[int]]:
    return [indices[i : i + size] for i in range(0, len(indices), size)]


@pytest.mark.parametrize(("count", "size"), [(1000, 16), (1003, 16), (37, 4), (5, 8)])
def test_the_batches_are_hfs_length_grouped_batches_in_another_order(count: int, size: int) -> None:
    rng = random.Random(count)
    lengths = [rng.randint(1, 120) for _ in range(count)]
    torch.manual_seed(7)
    hf = _batches(get_length_grouped_indices(lengths, size), size)
    torch.manual_seed(7)  # the same random state: the same mega-batches
    ours = _batches(shuffled_group_indices(lengths, size), size)
    assert sorted(map(sorted, ours)) == sorted(map(sorted, hf))
    assert sorted(i for batch in ours for i in batch) == list(range(count))
    if count % size:
        assert ours[-1] == hf[-1]  # the partial batch stays last, where a DataLoader expects it
    if count >= 1000:
        # HF sweeps from long to short through each mega-batch (here of 15 batches, HF's size for 1,000
        # sentences); the shuffled order does not. Batch 0 is left out: HF swaps the longest sentence into it.
        mega = min(count // (size * 4), 50)
        hf_longest = [max(lengths[i] for i in batch) for batch in hf[1:mega]]
        ours_longest = [max(lengths[i] for i in batch) for batch in ours[1:mega]]
        assert hf_longest == sorted(hf_longest, reverse=True)
        assert ours_longest != sorted(ours_longest, reverse=True)


def test_each_epoch_draws_a_new_order_from_the_seed_alone() -> None:
    rng = random.Random(1)
    lengths = [rng.randint(1, 50) for _ in range(200)]
    sampler = ShuffledGroupsSampler(lengths, 8, seed=3)
    first, second = list(sampler), list(sampler)  # an iteration moves on to the next epoch
    assert len(sampler) == 200 and sorted(first) == sorted(second) == list(range(200))
    assert first != second
    again = ShuffledGroupsSampler(lengths, 8, seed=3)
    torch.manual_seed(99)  # torch's global generator plays no part: every process draws the same order
    again.set_epoch(1)
    assert list(again) == second
    assert list(ShuffledGroupsSampler(lengths, 8, seed=4)) != first


@pytest.mark.parametrize("shuffle", [True, False])
def test_training_uses_the_sampler_only_when_asked(
    tiny_bert: Path, tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shuffle: bool
) -> None:
    torch.set_num_threads(1)
    config = load_config(
        None,
        {
            "model": {"encoder": str(tiny_bert)},
            "train": {"epochs": 1, "batch_size": 2, "group_by_length": True, "shuffle_length_groups": shuffle},
        },
    )
    corpus = load_corpus(str(tiny_data), config.data)
    used: list[int] = []
    iterate = ShuffledGroupsSampler.__iter__

    def spy(self: ShuffledGroupsSampler) -> Any:
        used.append(self.batch_size)
        return iterate(self)

    monkeypatch.setattr(ShuffledGroupsSampler, "__iter__", spy)
    train_model(config, corpus, tmp_path / "run", progress=False)
    assert used == ([2] if shuffle else [])
