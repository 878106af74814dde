"""Run a Tagger over windows and read one prediction per word.

Windows are batched in length order, so a batch carries almost no padding. Each word is read at its
first sub-token in the window that owns it (data/encoding.py), so a word split into pieces or seen by
two overlapping windows still gets exactly one prediction. A tagger with a CRF decodes each whole sentence
from those per-word scores with Viterbi, so its tags are legal IOB2 across window boundaries as well.

Scoring (`score_words`, here: it needs torch) and decoding (`decode_words`, decoding/words.py: numpy only)
are separate steps, so that per-word scores can be combined before they are decoded (an ensemble,
inference/ensemble/model.py); `predict_words` does both.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

import numpy as np
import torch
from tqdm.auto import tqdm

from bertner.data.alignment import first_subtokens
from bertner.data.encoding import Window
from bertner.decoding.chain import LinearChain
from bertner.decoding.words import WordPredictions, WordScores, decode_words, word_loss
from bertner.model.collate import Collator
from bertner.model.crf import CRF

if TYPE_CHECKING:
    # model/tagger.py imports transformers' model classes (~130 MB); an ONNX backend runs without them.
    from bertner.model.tagger import Tagger


def length_sorted_batches(windows: Sequence[Window], batch_size: int) -> Iterator[list[int]]:
    """Window indices in batches of similar length, longest first."""
    order = sorted(range(len(windows)), key=lambda i: len(windows[i].input_ids), reverse=True)
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def autocast(device: torch.device, bf16: bool) -> contextlib.AbstractContextManager[object]:
    if not bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


class WindowScorer(Protocol):
    """The one seam between decoding and a network: per-sub-token label scores for a padded batch of windows.

    A backend (PyTorch here, onnxruntime in inference/onnx/runtime.py) implements only this; windows,
    per-word reading, Viterbi and offsets are shared, so every backend gives the same entities.
    """

    @property
    def num_labels(self) -> int: ...

    @property
    def crf(self) -> CRF | LinearChain | None:
        """The CRF whose transitions decode whole sentences, or None for a per-word argmax: a torch CRF, or its
        numpy form (decoding/chain.py) for a backend that runs without torch."""

    def logits(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Scores of a batch from `Collator`: input_ids, attention_mask, shape_ids, word_starts, each
        (batch, seq_len). Returns float32 logits on the CPU, (batch, seq_len, num_labels)."""


@dataclass(frozen=True)
class TaggerScorer:
    """A PyTorch Tagger as a WindowScorer, on whatever device it sits, optionally under bf16 autocast."""

    tagger: Tagger
    bf16: bool = False

    @property
    def num_labels(self) -> int:
        return self.tagger.num_labels

    @property
    def crf(self) -> CRF | None:
        return self.tagger.crf

    @torch.inference_mode()
    def logits(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        device = next(self.tagger.parameters()).device
        inputs = {k: v.to(device) for k, v in batch.items() if k != "labels"}
        with autocast(device, self.bf16):
            return self.tagger(**inputs).logits.float().cpu()


@torch.no_grad()
def score_words(
    scorer: WindowScorer | Tagger,
    windows: Sequence[Window],
    word_counts: Sequence[int],
    pad_token_id: int,
    batch_size: int = 64,
    progress: bool = False,
) -> WordScores:
    """Each word's scores at its first sub-token in the window that owns it; `word_counts[s]` words in sentence s.

    `scorer` is any backend (a bare Tagger is scored as `TaggerScorer(tagger)`, in eval mode, and left in
    the mode it was in).
    """
    if isinstance(scorer, torch.nn.Module):  # a bare Tagger
        scorer = TaggerScorer(scorer)  # type: ignore[arg-type]
    # Sentence s's words are rows offsets[s]:offsets[s + 1] of one (all words, num_labels) array: one
    # allocation and one gather per batch instead of tensors per sentence, which cost more than a small
    # model's forward pass on a corpus of short sentences.
    offsets = np.concatenate([[0], np.cumsum(word_counts, dtype=np.int64)]).astype(np.int64)
    # (all words, num_labels): each word's logits at its first sub-token in the window that owns it
    flat = np.zeros((int(offsets[-1]), scorer.num_labels), dtype=np.float32)
    if not word_counts:
        return WordScores(flat, offsets, _chain(scorer.crf))
    tagger = scorer.tagger if isinstance(scorer, TaggerScorer) else None
    was_training = tagger is not None and tagger.training
    if tagger is not None:
        tagger.eval()
    seen = np.zeros(int(offsets[-1]), dtype=bool)
    collate = Collator(pad_token_id)
    batches = list(length_sorted_batches(windows, batch_size))
    # Only the inputs: word starts and labels are for training (and tqdm costs ~50 us even disabled).
    for batch_indices in tqdm(batches, desc="predicting", unit="batch") if progress else batches:
        batch = collate(
            [{"input_ids": list(windows[i].input_ids), "shape_ids": list(windows[i].shape_ids)} for i in batch_indices]
        )
        # (batch, seq_len, num_labels)
        logits = scorer.logits(batch).numpy()
        rows, positions, targets = [], [], []
        for row, index in enumerate(batch_indices):
            window = windows[index]
            window_positions, words = _owned_word_starts(window)
            rows += [row] * len(words)
            positions += window_positions
            targets += [int(offsets[window.sentence]) + word for word in words]
        flat[targets] = logits[rows, positions]
        seen[targets] = True
    if tagger is not None:
        tagger.train(was_training)
    missing = np.flatnonzero(~seen)[:5].tolist()
    assert not missing, f"words without a prediction (positions in the flattened sentences): {missing}"
    return WordScores(flat, offsets, _chain(scorer.crf))


def predict_words(
    scorer: WindowScorer | Tagger,
    windows: Sequence[Window],
    word_counts: Sequence[int],
    pad_token_id: int,
    batch_size: int = 64,
    progress: bool = False,
    gold_label_ids: Sequence[Sequence[int]] | None = None,
) -> WordPredictions:
    """One (label id, probability) per word of every sentence; `word_counts[s]` words in sentence s.

    `score_words` then `decode_words`: `scorer` is any backend (a bare Tagger is scored as `TaggerScorer(tagger)`).

    Given `gold_label_ids` (IGNORE for a word whose gold label the model does not have), the result also
    carries the evaluation loss: the mean cross-entropy of the gold labels over words (for a CRF tagger,
    of its per-word emission softmax, not the CRF likelihood).

    Without a CRF each word takes the argmax at its first sub-token. With one, each word's scores (from the
    window that owns it) are gathered per sentence and the whole sentence is Viterbi-decoded, so the tags
    are legal IOB2 across window boundaries too; the probability is the softmax of the chosen tag's score.
    """
    scores = score_words(scorer, windows, word_counts, pad_token_id, batch_size, progress)
    result = decode_words(scores, batch_size)
    if gold_label_ids is None:
        return result
    return replace(result, loss=word_loss(scores, gold_label_ids))


def _chain(crf: CRF | LinearChain | None) -> LinearChain | None:
    """The numpy chain that decodes the scores (a copy of a torch CRF's current scores)."""
    return crf.to_chain() if isinstance(crf, CRF) else crf


def _owned_word_starts(window: Window) -> tuple[list[int], list[int]]:
    """The positions of the first sub-tokens of the words `window` owns, and those words."""
    positions, words = [], []
    for position in first_subtokens(window.word_ids):
        word = window.word_ids[position]
        if word is not None and window.own_start <= word < window.own_end:
            positions.append(position)
            words.append(word)
    return positions, words
