"""Masking for pretraining, for a WordPiece (BERT) and an MPNet-style tokenizer: special tokens and padding are never
chosen, whole-word masking takes every sub-token of a word, the rates are HF's, and masks depend on the seed, epoch
and batch only (not on the global RNG, which a resumed run restores later than it collates)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from pretrain_helpers import random_words, write_letters_bert, write_tiny_mpnet

from bertner.model.tokenizer import load_tokenizer
from bertner.pretraining.examples import EpochToCollator, MaskingCollator, WindowDataset, make_windows
from bertner.pretraining.texts import Text

MAX_LENGTH = 24
BATCH = 6


@pytest.fixture(scope="module", params=["wordpiece", "mpnet"])
def tokenizer(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp(request.param)
    path = write_letters_bert(folder) if request.param == "wordpiece" else write_tiny_mpnet(folder)
    return load_tokenizer(str(path))


@pytest.fixture(scope="module")
def dataset(tokenizer: Any) -> WindowDataset:
    rng = random.Random(0)
    # Up to 40 words of up to 6 letters: many texts are cut into several windows.
    texts = [Text(" ".join(random_words(rng, rng.randint(1, 40))), "t", n) for n in range(30)]
    return WindowDataset(make_windows(tokenizer, texts, MAX_LENGTH, offsets=True))


def _batches(dataset: WindowDataset, collator: MaskingCollator, epochs: int) -> Iterator[tuple[torch.Tensor, dict]]:
    """(the padded ids before masking (batch, seq_len), the collated batch) for every batch of `epochs` epochs."""
    pad = collator.collator.tokenizer.pad_token_id
    for epoch in range(epochs):
        collator.epoch = epoch
        order = random.Random(epoch).sample(range(len(dataset)), len(dataset))
        for start in range(0, len(order), BATCH):
            examples = [dataset[index] for index in order[start : start + BATCH]]
            longest = max(len(example["input_ids"]) for example in examples)
            original = torch.tensor([e["input_ids"] + [pad] * (longest - len(e["input_ids"])) for e in examples])
            yield original, collator(examples)


@pytest.mark.parametrize("masking", ["token", "word"])
def test_special_tokens_and_padding_are_never_masked(tokenizer: Any, dataset: WindowDataset, masking: str) -> None:
    collator = MaskingCollator(tokenizer, masking, mlm_probability=0.5, seed=1)
    specials = torch.tensor([tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id])
    chosen_total = special_total = 0
    for original, batch in _batches(dataset, collator, epochs=3):
        special = torch.isin(original, specials)
        # Every window is [CLS]/<s> ... [SEP]/</s>, then padding.
        assert (original[:, 0] == tokenizer.cls_token_id).all()
        assert (special.sum(dim=1) == 2 + (original == tokenizer.pad_token_id).sum(dim=1)).all()
        chosen = batch["labels"] != -100
        assert not (chosen & special).any()
        assert torch.equal(batch["input_ids"][special], original[special])
        assert torch.equal(batch["labels"][chosen], original[chosen])
        assert torch.equal(batch["input_ids"][~chosen], original[~chosen])
        assert torch.equal(batch["attention_mask"].bool(), original != tokenizer.pad_token_id)
        chosen_total += int(chosen.sum())
        special_total += int(special.sum())
    assert chosen_total > 100 and special_total > 100


def _word_groups(tokens: list[str]) -> list[list[int]]:
    """Positions of each word's sub-tokens, found by WordPiece's `##` continuation marks (the texts are letters and
    single spaces, so every word boundary is a space)."""
    groups: list[list[int]] = []
    for position, token in enumerate(tokens):
        if token.startswith("##") and groups:
            groups[-1].append(position)
        else:
            groups.append([position])
    return groups


def test_whole_word_masking_masks_every_sub_token_of_a_chosen_word(tokenizer: Any, dataset: WindowDataset) -> None:
    collator = MaskingCollator(tokenizer, "word", mlm_probability=0.3, seed=2)
    special_ids = {tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id}
    words = chosen_words = 0
    for original, batch in _batches(dataset, collator, epochs=2):
        for row in range(original.shape[0]):
            ids = [i for i in original[row].tolist() if i not in special_ids]
            chosen = (batch["labels"][row, 1 : 1 + len(ids)] != -100).tolist()
            for group in _word_groups(tokenizer.convert_ids_to_tokens(ids)):
                assert len({chosen[position] for position in group}) == 1, "a word was masked in part"
                words += 1
                chosen_words += chosen[group[0]]
            masked = batch["labels"][row] != -100
            assert (batch["input_ids"][row][masked] == tokenizer.mask_token_id).all()
    assert words > 200 and 0.2 < chosen_words / words < 0.4


def test_token_masking_rates_are_hf_defaults(tokenizer: Any, dataset: WindowDataset) -> None:
    collator = MaskingCollator(tokenizer, "token", mlm_probability=0.15, seed=3)
    assert collator.description() == {
        "kind": "token",
        "probability": 0.15,
        "mask_token": 0.8,
        "random_token": 0.1,
        "unchanged": 0.1,
    }
    specials = torch.tensor([tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id])
    candidates = chosen = as_mask = 0
    for original, batch in _batches(dataset, collator, epochs=4):
        picked = batch["labels"] != -100
        candidates += int((~torch.isin(original, specials)).sum())
        chosen += int(picked.sum())
        as_mask += int((batch["input_ids"][picked] == tokenizer.mask_token_id).sum())
    assert candidates > 5000
    assert 0.13 < chosen / candidates < 0.17
    assert 0.75 < as_mask / chosen < 0.85


def test_masks_depend_on_seed_epoch_and_batch_only(tokenizer: Any, dataset: WindowDataset) -> None:
    examples = [dataset[index] for index in range(BATCH)]
    collator = MaskingCollator(tokenizer, "token", mlm_probability=0.3, seed=4)
    rng_state = torch.get_rng_state()
    first = collator(examples)
    torch.manual_seed(12345)  # the global RNG plays no part
    again = collator(examples)
    assert torch.equal(first["labels"], again["labels"]) and torch.equal(first["input_ids"], again["input_ids"])
    collator.epoch = 1
    next_epoch = collator(examples)
    other_seed = MaskingCollator(tokenizer, "token", mlm_probability=0.3, seed=5)(examples)
    assert not torch.equal(first["labels"], next_epoch["labels"])
    assert not torch.equal(first["labels"], other_seed["labels"])
    torch.set_rng_state(rng_state)
    collator.epoch = 0
    collator(examples)
    assert torch.equal(torch.get_rng_state(), rng_state)


def test_long_texts_are_cut_into_windows_that_cover_them(tokenizer: Any, tmp_path: Path) -> None:
    text = " ".join(random_words(random.Random(5), 60))
    plain = tokenizer(text, add_special_tokens=False)["input_ids"]
    windows = make_windows(tokenizer, [Text(text, "t", 1)], MAX_LENGTH, offsets=False)
    assert all(len(window.input_ids) <= MAX_LENGTH for window in windows)
    assert [i for w in windows for i in w.input_ids[1:-1].tolist()] == plain
    assert all(w.offsets is None for w in windows)


@pytest.mark.parametrize(("state_epoch", "epoch"), [(None, 0), (0.0, 0), (1.0, 1), (1.5, 1), (2.9, 2)])
def test_the_collator_learns_the_epoch_that_begins(tokenizer: Any, state_epoch: float | None, epoch: int) -> None:
    """A resumed run's state.epoch is where it stopped (1.5: half-way through the second epoch)."""
    collator = MaskingCollator(tokenizer, "token", mlm_probability=0.15, seed=0)
    EpochToCollator(collator).on_epoch_begin(None, SimpleNamespace(epoch=state_epoch), None)
    assert collator.epoch == epoch
