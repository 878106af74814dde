"""Texts as training windows, and HF's masked-LM collator with masks that a resumed run draws again exactly.

A text longer than `max_length` sub-tokens (special tokens included) is cut into consecutive windows by the
tokenizer (`return_overflowing_tokens`, no overlap); a word may be cut at a window's edge.

Masking is HF's `DataCollatorForLanguageModeling`: each sub-token that is not a special token is chosen with
probability `mlm_probability` (0.15; Devlin et al. 2019); of the chosen, 80% become the mask token, 10% a random
token and 10% stay (token masking). Whole-word masking (`whole_word_mask=True`) chooses words instead and masks
every sub-token of a chosen word; HF finds words from the sub-tokens' character offsets (sub-tokens with no gap
between them are one word, so `world,` is one word) and replaces every chosen sub-token by the mask token.

The masks come from a generator seeded per batch from the run's seed, the epoch and the batch's example indices,
not from the global RNG: the Trainer, resuming mid-epoch, collates its first batch before it restores the global
RNG state of the checkpoint, so masks drawn from that state would differ from an uninterrupted run's.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from transformers import DataCollatorForLanguageModeling, TrainerCallback

from bertner.pretraining.texts import Text

MASKINGS = ("token", "word")
_TOKENIZE_CHUNK = 1000
"""Texts tokenized per call: enough to use the fast tokenizer's batching, few enough to bound its memory."""


@dataclass(frozen=True)
class Window:
    """One training example: sub-token ids with the special tokens, which of them are special (1), and each
    sub-token's character span in its text (`offsets`, (seq_len, 2); (0, 0) for special tokens), or None when
    the masking does not need them."""

    input_ids: np.ndarray
    special_tokens_mask: np.ndarray
    offsets: np.ndarray | None


def make_windows(tokenizer: Any, texts: Sequence[Text], max_length: int, offsets: bool) -> list[Window]:
    """The windows of `texts` in order; `offsets` keeps the character spans whole-word masking needs."""
    windows: list[Window] = []
    for start in range(0, len(texts), _TOKENIZE_CHUNK):
        encoded = tokenizer(
            [text.text for text in texts[start : start + _TOKENIZE_CHUNK]],
            truncation=True,
            max_length=max_length,
            return_overflowing_tokens=True,
            return_special_tokens_mask=True,
            return_offsets_mapping=offsets,
            return_attention_mask=False,
            return_token_type_ids=False,
        )
        for index, ids in enumerate(encoded["input_ids"]):
            spans = np.asarray(encoded["offset_mapping"][index], dtype=np.int32) if offsets else None
            special = np.asarray(encoded["special_tokens_mask"][index], dtype=np.int8)
            if special.all():  # a text of characters the tokenizer drops (control characters, say)
                continue
            windows.append(Window(np.asarray(ids, dtype=np.int32), special, spans))
    return windows


class WindowDataset(torch.utils.data.Dataset):
    """Windows as the feature dicts MaskingCollator takes, each with its index in the dataset."""

    def __init__(self, windows: Sequence[Window]) -> None:
        self.windows = windows

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        window = self.windows[index]
        features: dict[str, Any] = {
            "index": index,
            "input_ids": window.input_ids.tolist(),
            "special_tokens_mask": window.special_tokens_mask.tolist(),
        }
        if window.offsets is not None:
            features["offset_mapping"] = window.offsets.tolist()
        return features


def batch_seed(seed: int, epoch: int, indices: Sequence[int]) -> int:
    """A 63-bit seed for the masks of the batch of examples `indices` in `epoch` of a run seeded with `seed`."""
    digest = hashlib.blake2b(json.dumps([seed, epoch, list(indices)]).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


class MaskingCollator:
    """Pads a batch and masks it with HF's DataCollatorForLanguageModeling, its masks drawn from batch_seed.

    Returns `input_ids` and `attention_mask` (batch, seq_len) and `labels` (batch, seq_len): the original id where
    a sub-token was chosen, -100 elsewhere (special tokens and padding are never chosen).
    """

    def __init__(self, tokenizer: Any, masking: str, mlm_probability: float, seed: int) -> None:
        if masking not in MASKINGS:
            raise ValueError(f"masking must be one of {', '.join(MASKINGS)}, not {masking!r}")
        whole_word = masking == "word"
        # HF's rates (BERT's); under whole-word masking HF replaces every chosen sub-token by the mask token (it
        # warns and sets that itself when given others).
        self.collator = DataCollatorForLanguageModeling(
            tokenizer,
            mlm_probability=mlm_probability,
            whole_word_mask=whole_word,
            mask_replace_prob=1.0 if whole_word else 0.8,
            random_replace_prob=0.0 if whole_word else 0.1,
        )
        self.seed = seed
        self.epoch = 0
        self.padding_side = tokenizer.padding_side

    def description(self) -> dict[str, Any]:
        """The masking as the pretraining record states it."""
        return {
            "kind": "word" if self.collator.whole_word_mask else "token",
            "probability": self.collator.mlm_probability,
            "mask_token": self.collator.mask_replace_prob,
            "random_token": self.collator.random_replace_prob,
            "unchanged": round(1 - self.collator.mask_replace_prob - self.collator.random_replace_prob, 6),
        }

    def __call__(self, examples: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        indices = [example["index"] for example in examples]
        # Offsets are for whole-word masking only; the tokenizer's pad() cannot batch them otherwise.
        unused = {"index"} if self.collator.whole_word_mask else {"index", "offset_mapping"}
        features = [{key: value for key, value in example.items() if key not in unused} for example in examples]
        if self.collator.whole_word_mask:
            # The tokenizer's pad() pads the ids and masks but not the offsets, which must then be one length.
            longest = max(len(feature["input_ids"]) for feature in features)
            for feature in features:
                padding = [[0, 0]] * (longest - len(feature["offset_mapping"]))
                spans = feature["offset_mapping"]
                feature["offset_mapping"] = spans + padding if self.padding_side == "right" else padding + spans
        self.collator.generator = torch.Generator().manual_seed(batch_seed(self.seed, self.epoch, indices))
        return dict(self.collator(features))


class EpochToCollator(TrainerCallback):
    """Tells the collator which epoch begins, so that an example gets new masks each epoch (RoBERTa's dynamic
    masking). A resumed run's state.epoch is the fraction it stopped at, whose floor is the epoch it resumes."""

    def __init__(self, collator: MaskingCollator) -> None:
        self.collator = collator

    def on_epoch_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.collator.epoch = math.floor(state.epoch or 0)


class LogLastStep(TrainerCallback):
    """Logs the loss at the last step too, not only every `logging_steps` steps, so the record's final loss is
    that of the last steps."""

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step >= state.max_steps:
            control.should_log = True
