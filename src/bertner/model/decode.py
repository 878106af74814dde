"""Run a Tagger over windows and read one prediction per word: the PyTorch side of the scoring seam.

`TaggerScorer` is a PyTorch Tagger behind the `WindowScorer` seam; the loop over windows, the reading of one
score per word and the padding are decoding/windows.py's, numpy only, shared with onnxruntime. A tagger with
a CRF decodes each whole sentence from those per-word scores with Viterbi, so its tags are legal IOB2 across
window boundaries as well.

Scoring (`score_words`) and decoding (`decode_words`, decoding/words.py: numpy only) are separate steps, so
that per-word scores can be combined before they are decoded (an ensemble, inference/ensemble/model.py);
`predict_words` does both.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import torch

from bertner.data.encoding import Window
from bertner.decoding.windows import WindowScorer, length_sorted_batches, score_windows
from bertner.decoding.words import WordPredictions, WordScores, decode_words, word_loss
from bertner.model.crf import CRF

if TYPE_CHECKING:
    # model/tagger.py imports transformers' model classes (~130 MB); an ONNX backend runs without them.
    from bertner.model.tagger import Tagger

__all__ = ["TaggerScorer", "WindowScorer", "length_sorted_batches", "predict_words", "score_words"]


def autocast(device: torch.device, bf16: bool) -> contextlib.AbstractContextManager[object]:
    if not bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


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
    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """(batch, seq_len, num_labels) float32 logits of a batch from `pad_windows` (numpy in, numpy out), in
        eval mode; a tagger in training mode (evaluated during training) is put back in it afterwards."""
        device = next(self.tagger.parameters()).device
        inputs = {k: torch.from_numpy(np.asarray(v)).to(device) for k, v in batch.items() if k != "labels"}
        training = self.tagger.training
        if training:
            self.tagger.eval()
        try:
            with autocast(device, self.bf16):
                return self.tagger(**inputs).logits.float().cpu().numpy()
        finally:
            if training:
                self.tagger.train()


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
    return score_windows(scorer, windows, word_counts, pad_token_id, batch_size, progress)


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
