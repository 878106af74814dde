"""Run a Tagger over windows and read one prediction per word.

Windows are batched in length order, so a batch carries almost no padding. Each word is read at its
first sub-token in the window that owns it (data/encoding.py), so a word split into pieces or seen by
two overlapping windows still gets exactly one prediction.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from bertner.data.alignment import first_subtokens
from bertner.data.encoding import Window
from bertner.model.collate import Collator
from bertner.model.tagger import Tagger


@dataclass(frozen=True)
class WordPredictions:
    """Per sentence, per word: the predicted label id and its probability."""

    label_ids: tuple[tuple[int, ...], ...]
    confidences: tuple[tuple[float, ...], ...]


def length_sorted_batches(windows: Sequence[Window], batch_size: int) -> Iterator[list[int]]:
    """Window indices in batches of similar length, longest first."""
    order = sorted(range(len(windows)), key=lambda i: len(windows[i].input_ids), reverse=True)
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def autocast(device: torch.device, bf16: bool) -> contextlib.AbstractContextManager[object]:
    if not bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


@torch.no_grad()
def predict_words(
    tagger: Tagger,
    windows: Sequence[Window],
    word_counts: Sequence[int],
    pad_token_id: int,
    batch_size: int = 64,
    bf16: bool = False,
    progress: bool = False,
) -> WordPredictions:
    """One (label id, probability) per word of every sentence; `word_counts[s]` words in sentence s."""
    device = next(tagger.parameters()).device
    was_training = tagger.training
    tagger.eval()
    labels = [[-1] * n for n in word_counts]
    confidence = [[0.0] * n for n in word_counts]
    collate = Collator(pad_token_id)
    batches = list(length_sorted_batches(windows, batch_size))
    for batch_indices in tqdm(batches, desc="predicting", unit="batch", disable=not progress):
        batch = collate([windows[i].features() for i in batch_indices])
        batch.pop("labels", None)
        with autocast(device, bf16):
            logits = tagger(**{k: v.to(device) for k, v in batch.items()}).logits
        # (batch, seq_len, num_labels)
        probabilities = logits.float().softmax(-1)
        best, best_ids = probabilities.max(-1)
        best, best_ids = best.tolist(), best_ids.tolist()
        for row, index in enumerate(batch_indices):
            window = windows[index]
            for position in first_subtokens(window.word_ids):
                word = window.word_ids[position]
                assert word is not None
                if window.own_start <= word < window.own_end:
                    labels[window.sentence][word] = best_ids[row][position]
                    confidence[window.sentence][word] = best[row][position]
    tagger.train(was_training)
    missing = [(s, w) for s, row in enumerate(labels) for w, label in enumerate(row) if label < 0]
    assert not missing, f"words without a prediction: {missing[:5]}"
    return WordPredictions(tuple(map(tuple, labels)), tuple(map(tuple, confidence)))
