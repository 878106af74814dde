"""Windows -> each word's scores, with any network behind one seam (`WindowScorer`), in numpy.

Windows are batched in length order, so a batch carries almost no padding, and padded in numpy (`pad_windows`):
an ONNX export is scored without torch. Each word is read at its first sub-token in the window that owns it
(data/encoding.py), so a word split into pieces or seen by two overlapping windows still gets exactly one row.
A PyTorch model is one more scorer (model/decode.py's `TaggerScorer`), so every backend shares this loop.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import numpy as np

from bertner.data.alignment import first_subtokens
from bertner.data.encoding import Window
from bertner.data.features import PAD_SHAPE
from bertner.decoding.chain import LinearChain
from bertner.decoding.words import WordScores


class WindowScorer(Protocol):
    """The one seam between decoding and a network: per-sub-token label scores for a padded batch of windows.

    A backend (PyTorch in model/decode.py, onnxruntime in inference/onnx/runtime.py) implements only this;
    windows, per-word reading, Viterbi and offsets are shared, so every backend gives the same entities.
    """

    @property
    def num_labels(self) -> int: ...

    @property
    def crf(self) -> Any:
        """The CRF whose transitions decode whole sentences, or None for a per-word argmax: a `LinearChain`, or
        anything with a `to_chain()` that gives one (the torch CRF of model/crf.py)."""

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """Scores of a batch from `pad_windows`: input_ids, attention_mask and shape_ids, each (batch, seq_len)
        int64. Returns (batch, seq_len, num_labels) float32 logits (a CPU torch tensor is read as one too)."""


def length_sorted_batches(windows: Sequence[Window], batch_size: int) -> Iterator[list[int]]:
    """Window indices in batches of similar length, longest first."""
    order = sorted(range(len(windows)), key=lambda i: len(windows[i].input_ids), reverse=True)
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def pad_windows(windows: Sequence[Window], pad_token_id: int) -> dict[str, np.ndarray]:
    """The inputs of `windows`, padded to the longest of them: input_ids (pad_token_id), attention_mask (1 on
    real sub-tokens) and shape_ids (PAD_SHAPE), each (len(windows), longest) int64."""
    if not windows:
        raise ValueError("pad_windows needs at least one window")
    longest = max(len(window.input_ids) for window in windows)
    input_ids = np.full((len(windows), longest), pad_token_id, dtype=np.int64)
    shape_ids = np.full((len(windows), longest), PAD_SHAPE, dtype=np.int64)
    attention_mask = np.zeros((len(windows), longest), dtype=np.int64)
    for row, window in enumerate(windows):
        length = len(window.input_ids)
        input_ids[row, :length] = window.input_ids
        shape_ids[row, :length] = window.shape_ids
        attention_mask[row, :length] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask, "shape_ids": shape_ids}


def score_windows(
    scorer: WindowScorer,
    windows: Sequence[Window],
    word_counts: Sequence[int],
    pad_token_id: int,
    batch_size: int = 64,
    progress: bool = False,
) -> WordScores:
    """Each word's scores at its first sub-token in the window that owns it; `word_counts[s]` words in sentence s."""
    # Sentence s's words are rows offsets[s]:offsets[s + 1] of one (all words, num_labels) array: one
    # allocation and one gather per batch instead of arrays per sentence, which cost more than a small
    # model's forward pass on a corpus of short sentences.
    offsets = np.zeros(len(word_counts) + 1, dtype=np.int64)
    np.cumsum(word_counts, out=offsets[1:])
    chain = as_chain(scorer.crf)
    # (all words, num_labels): each word's logits at its first sub-token in the window that owns it
    flat = np.zeros((int(offsets[-1]), scorer.num_labels), dtype=np.float32)
    seen = np.zeros(int(offsets[-1]), dtype=bool)
    batches: Any = list(length_sorted_batches(windows, batch_size))
    if progress:  # tqdm costs ~50 us a call even disabled: only when asked
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc="predicting", unit="batch")
    for batch_indices in batches:
        chosen = [windows[i] for i in batch_indices]
        # (batch, seq_len, num_labels)
        logits = np.asarray(scorer.logits(pad_windows(chosen, pad_token_id)))
        rows: list[int] = []
        positions: list[int] = []
        targets: list[int] = []
        for row, window in enumerate(chosen):
            window_positions, words = owned_word_starts(window)
            rows += [row] * len(words)
            positions += window_positions
            first = int(offsets[window.sentence])
            targets += [first + word for word in words]
        flat[targets] = logits[rows, positions]
        seen[targets] = True
    missing = np.flatnonzero(~seen)[:5].tolist()
    assert not missing, f"words without a prediction (positions in the flattened sentences): {missing}"
    return WordScores(flat, offsets, chain)


def as_chain(crf: Any) -> LinearChain | None:
    """The numpy chain that decodes the scores: `crf` itself, or a copy of a torch CRF's current scores."""
    if crf is None or isinstance(crf, LinearChain):
        return crf
    chain = crf.to_chain()
    assert isinstance(chain, LinearChain), f"{type(crf).__name__}.to_chain() gave a {type(chain).__name__}"
    return chain


def owned_word_starts(window: Window) -> tuple[list[int], list[int]]:
    """The positions of the first sub-tokens of the words `window` owns, and those words."""
    positions, words = [], []
    for position in first_subtokens(window.word_ids):
        word = window.word_ids[position]
        if word is not None and window.own_start <= word < window.own_end:
            positions.append(position)
            words.append(word)
    return positions, words
