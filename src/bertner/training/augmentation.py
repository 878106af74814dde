"""Augmented training data in the HF Trainer: the training windows, then this epoch's augmented windows.

The Trainer builds its DataLoader once and counts an epoch's steps once, so the dataset is one object of
constant length whose augmented part is replaced at the start of each epoch (`AugmentEachEpoch`). The
epoch is read from the Trainer's state, so a run resumed from a checkpoint makes the copies the
uninterrupted run made in that epoch. Copies are generated in memory by data/augment.py; nothing is
written over the user's data or into the run folder except the settings, in its config.

A copy is encoded in its original's place (data/augment.py `AugmentRound.version_of`), so with `[data]
context` it gets document context from around its original. Only sentences that fit one window are copied,
and a copy that no longer does (a longer mention pushed it past `max_length`) gives way to its original
for that epoch: the number of windows stays the same every epoch.

The rest of training is as without augmentation: the collator and packing see windows; the divisor of
`loss_normalization = "corpus"` is computed from the training windows alone, so the loss has the scale
it has without augmentation; length-grouped samplers read the lengths once, with epoch 0's copies (later
copies differ in length by a replaced mention or word); every process of a data-parallel run makes the
same copies, as they depend only on the seed and the epoch.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import torch
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from bertner.config import Config
from bertner.data.augment import AugmentSettings, ReplacementPool, augment_epoch, can_augment, copies_per_epoch
from bertner.data.conll import Sentence
from bertner.data.encoding import EncodingPlan, Window, encode
from bertner.labels import LabelSet

logger = logging.getLogger(__name__)

__all__ = ["AugmentEachEpoch", "AugmentedWindowDataset", "augmented_dataset", "with_augment_seed"]


def with_augment_seed(config: Config) -> Config:
    """`config` with `train.augment_seed` set to the seed augmentation will use, so that the run records it."""
    train = config.train
    if not train.augment or train.augment_seed is not None:
        return config
    return replace(config, train=replace(train, augment_seed=train.seed))


class AugmentedWindowDataset(torch.utils.data.Dataset):
    """The training windows, then the augmented windows of the epoch last set (epoch 0 until one is).

    Needs a DataLoader without worker processes (bertner's), which would each hold their own copy.
    """

    def __init__(
        self,
        sentences: Sequence[Sentence],
        windows: Sequence[Window],
        plan: EncodingPlan,
        label_set: LabelSet,
        settings: AugmentSettings,
    ) -> None:
        """`windows`: `sentences` encoded with `plan`, as training uses them."""
        self.sentences = sentences
        self.original = windows
        self.plan = plan
        self.label2id = label_set.label2id
        self.settings = settings
        self.pool = ReplacementPool.from_sentences(sentences)
        window_counts = Counter(window.sentence for window in windows)
        self.own_window = {window.sentence: window for window in windows if window_counts[window.sentence] == 1}
        self.candidates = [
            index
            for index, sentence in enumerate(sentences)
            if index in self.own_window and can_augment(sentence, self.pool, settings.methods)
        ]
        self.size = copies_per_epoch(len(self.candidates), settings.ratio)
        self.epoch: int | None = None
        self.augmented: list[Window] = []
        logger.info(
            "augment (%s, ratio %g, p %g, seed %d): %d copies per epoch, of %d of the %d training sentences",
            ",".join(settings.methods),
            settings.ratio,
            settings.probability,
            settings.seed,
            self.size,
            len(self.candidates),
            len(sentences),
        )

    def use_epoch(self, epoch: int) -> None:
        """Make `epoch`'s augmented windows (kept if they are already that epoch's).

        Not named `set_epoch`: Accelerate's data loader calls a dataset's `set_epoch` only when its sampler
        has none, so `AugmentEachEpoch` is the one place that sets the epoch, whatever the sampler.
        """
        if epoch == self.epoch:
            return
        augmented: list[Window] = []
        gave_way = 0
        for round_ in augment_epoch(self.sentences, self.pool, self.settings, epoch, self.candidates):
            version = round_.version_of(self.sentences)
            encoded = encode(
                self.plan,
                [s.words for s in version],
                [[self.label2id[t] for t in s.tags] for s in version],
                [s.document for s in version],
            )
            by_sentence: dict[int, list[Window]] = {}
            for window in encoded:
                by_sentence.setdefault(window.sentence, []).append(window)
            for copy in round_.copies:
                windows = by_sentence[copy.origin]
                if len(windows) != 1:
                    gave_way += 1
                    windows = [self.own_window[copy.origin]]
                augmented += windows
        assert len(augmented) == self.size, (len(augmented), self.size)
        self.epoch, self.augmented = epoch, augmented
        if gave_way:
            logger.info("augment epoch %d: %d copies needing two windows gave way to their originals", epoch, gave_way)

    @property
    def windows(self) -> list[Window]:
        """Every window of the current epoch, the training windows first (for length-grouped samplers)."""
        self._ensure_epoch()
        return [*self.original, *self.augmented]

    def _ensure_epoch(self) -> None:
        if self.epoch is None:
            self.use_epoch(0)

    def __len__(self) -> int:
        return len(self.original) + self.size

    def __getitem__(self, index: int) -> dict[str, list[int]]:
        self._ensure_epoch()
        if index < len(self.original):
            return self.original[index].features()
        return self.augmented[index - len(self.original)].features()


def augmented_dataset(
    config: Config, sentences: Sequence[Sentence], windows: Sequence[Window], plan: EncodingPlan, label_set: LabelSet
) -> AugmentedWindowDataset | None:
    """The training dataset with `config.train.augment`'s copies, or None when it asks for none."""
    if not config.train.augment:
        return None
    return AugmentedWindowDataset(sentences, windows, plan, label_set, AugmentSettings.from_config(config.train))


class AugmentEachEpoch(TrainerCallback):
    """Sets the dataset's epoch at the start of each of the Trainer's epochs, before its batches are drawn.

    The epoch is `floor(state.epoch)`: the Trainer sets `state.epoch` to `epoch + (step + 1) / steps_in_epoch`
    after each step, so it is a whole number at an epoch's start, also in one resumed from a checkpoint.
    """

    def __init__(self, dataset: AugmentedWindowDataset) -> None:
        self.dataset = dataset

    def on_epoch_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        self.dataset.use_epoch(math.floor(state.epoch or 0))
