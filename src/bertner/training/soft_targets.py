"""Per-word soft targets beside the gold labels: the seam that distillation (bertner/distillation/) trains through.

`SoftTargets` gives every training sentence's words a target distribution over the run's labels, and may add
sentences with no gold labels at all, trained on their soft targets only. The trainer encodes both kinds as
it encodes gold sentences, so each window owns its words as usual (data/encoding.py), and each item carries,
at the first sub-token of every word the window owns, that word's target:

- `soft_targets` (batch, seq_len, num_labels) float, the targets at those positions, 0 elsewhere;
- `soft_mask` (batch, seq_len) bool, True at those positions (where a CRF over words reads too).

An unlabelled sentence's windows have IGNORE labels and no `word_starts`, so the gold loss (the Tagger's
cross-entropy or CRF likelihood) skips them. How the two losses are combined is the caller's `SoftLoss`;
the trainer gives it the soft positions' normaliser, computed like the gold one (`positions_per_batch`).

Soft targets are word-level, so teacher and student need not share a tokenizer. Augmentation makes new
sentences that have no targets; the caller refuses the two together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from bertner.data.alignment import IGNORE
from bertner.data.encoding import EncodingPlan, Window, encode
from bertner.model.collate import Collator
from bertner.model.tagger import Tagger

SOFT_TARGETS = "soft_targets"
SOFT_MASK = "soft_mask"
_SOFT_STARTS = "soft_starts"


class SoftLoss(Protocol):
    """The training loss of a batch with soft targets."""

    def __call__(
        self,
        model: Tagger,
        logits: torch.Tensor,
        gold_loss: torch.Tensor,
        targets: torch.Tensor,
        mask: torch.Tensor,
        normalizer: float | None,
    ) -> torch.Tensor:
        """
        Args:
            model: the Tagger being trained (unwrapped), for its CRF.
            logits: (batch, seq_len, num_labels) the Tagger's scores per sub-token.
            gold_loss: the Tagger's own loss on the gold labels (0 for a batch without any).
            targets: (batch, seq_len, num_labels) see the module; `mask` (batch, seq_len) bool.
            normalizer: divide the soft loss summed over words by this (train.loss_normalization = "corpus"),
                or None: average it over the batch's words.
        """


@dataclass(frozen=True)
class SoftTargets:
    """What to train on besides the gold labels. Arrays are (words, num_labels) float32 in the run's label order."""

    train: Sequence[np.ndarray]
    """One per training sentence (corpus.train, in order)."""
    loss: SoftLoss
    extra_words: Sequence[Sequence[str]] = ()
    """Sentences without gold labels, trained on their soft targets only."""
    extra: Sequence[np.ndarray] = ()
    """One per sentence of `extra_words`."""
    extra_documents: Sequence[int] | None = None
    """The document of each sentence of `extra_words` (for document context); None: each stands alone."""


class SoftWindowDataset(torch.utils.data.Dataset):
    """Labelled windows, then unlabelled ones, each item with its words' soft targets."""

    def __init__(self, windows: Sequence[Window], targets: Sequence[np.ndarray], labelled: int) -> None:
        self.windows = windows
        self.targets = targets
        self.labelled = labelled
        """The first `labelled` windows have gold labels; the rest have none."""

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        window = self.windows[index]
        item: dict[str, Any] = window.features()
        item[_SOFT_STARTS] = item["word_starts"]
        if index >= self.labelled:
            item["labels"] = [IGNORE] * len(window.input_ids)
            item["word_starts"] = [0] * len(window.input_ids)
        item[SOFT_TARGETS] = self.targets[index]
        return item


@dataclass(frozen=True)
class SoftCollator:
    """`Collator`'s batch, plus `soft_targets` and `soft_mask` when the items carry them."""

    base: Collator

    def __call__(self, features: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        if SOFT_TARGETS not in features[0]:
            return self.base(features)
        batch = self.base([{k: v for k, v in f.items() if k not in (SOFT_TARGETS, _SOFT_STARTS)} for f in features])
        longest = batch["input_ids"].size(1)
        num_labels = features[0][SOFT_TARGETS].shape[1]
        mask = torch.zeros(len(features), longest, dtype=torch.bool)
        # (batch, seq_len, num_labels)
        targets = torch.zeros(len(features), longest, num_labels)
        for row, feature in enumerate(features):
            starts = torch.tensor(feature[_SOFT_STARTS], dtype=torch.bool)
            mask[row, : len(starts)] = starts
            targets[row, : len(starts)][starts] = torch.from_numpy(np.asarray(feature[SOFT_TARGETS], dtype=np.float32))
        batch[SOFT_TARGETS], batch[SOFT_MASK] = targets, mask
        return batch


@dataclass(frozen=True)
class SoftTraining:
    """Soft targets ready for the Trainer: every window with its targets, and the loss with its normaliser."""

    dataset: SoftWindowDataset
    loss: SoftLoss
    unlabelled_windows: int
    normalizer: float | None = None
    """The soft loss's divisor, or None (see SoftLoss); the trainer sets it as it sets the gold one's."""

    @classmethod
    def build(cls, targets: SoftTargets, plan: EncodingPlan, train_windows: Sequence[Window]) -> SoftTraining:
        """`train_windows` (the gold sentences' windows) and the windows of `targets.extra_words`, each with
        its owned words' targets."""
        extra_windows = encode(plan, targets.extra_words, documents=targets.extra_documents)
        windows = [*train_windows, *extra_windows]
        per_window = [_owned(targets.train, window, "training") for window in train_windows] + [
            _owned(targets.extra, window, "unlabelled") for window in extra_windows
        ]
        return cls(SoftWindowDataset(windows, per_window, len(train_windows)), targets.loss, len(extra_windows))

    def loss_of(self, model: Any, tagger: Tagger, inputs: dict[str, Any]) -> tuple[torch.Tensor, Any]:
        """The loss of one training batch, and the model's outputs. `model` is what the Trainer runs (maybe
        wrapped for data parallelism), `tagger` the Tagger inside it."""
        inputs = dict(inputs)
        targets, mask = inputs.pop(SOFT_TARGETS), inputs.pop(SOFT_MASK)
        if not (inputs["labels"] != IGNORE).any():
            # a batch of unlabelled sentences only: no gold loss (a mean over no words would be NaN)
            del inputs["labels"]
        outputs = model(**inputs)
        gold = outputs.loss if outputs.loss is not None else outputs.logits.new_zeros((), dtype=torch.float32)
        return self.loss(tagger, outputs.logits, gold, targets, mask, self.normalizer), outputs


def _owned(targets: Sequence[np.ndarray], window: Window, what: str) -> np.ndarray:
    """(owned words, num_labels): the targets of the words `window` owns, in order."""
    sentence = targets[window.sentence]
    if window.own_end > len(sentence):
        raise ValueError(f"{what} sentence {window.sentence}: targets for {len(sentence)} words, it has more")
    return sentence[window.own_start : window.own_end]
