"""Out-of-fold probabilities for auditing a model's own training data: K models, each trained on K-1 folds.

A model scores the sentences it was trained on with the labels it learned, right or wrong, so an audit of
training data needs probabilities from models that never saw the sentence (cleanlab's advice; CrossWeigh does
the same with entity-disjoint folds). The file is dealt into K folds by document where it has at least K
documents (a document's sentences share names, and document context would show a held-out sentence its own
neighbours), else by sentence; fold k's model is trained on the other folds with the run's recorded config
(training/trainer.py `train_model`), picks its best epoch on a separate valid split, and scores fold k.

The fold models are kept in `OUTPUT/folds/fold-K/` with a `fold.json` saying what they were trained on; a rerun
with the same file, folds, seed and config reuses a finished one instead of training it again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bertner.config import Config
from bertner.data.conll import Sentence, check_known_tags
from bertner.data.corpus import Corpus
from bertner.errors import UserError
from bertner.files import write_text_atomic
from bertner.labels import LabelSet
from bertner.layout import EPOCH_METRICS_FILE
from bertner.runs import read_epoch_metrics

logger = logging.getLogger(__name__)

FOLDS_DIR = "folds"
FOLD_RECORD = "fold.json"


@dataclass(frozen=True)
class FoldPlan:
    """Which sentences each fold holds out (indices into the audited sentences, in file order)."""

    held_out: tuple[tuple[int, ...], ...]
    unit: str
    """`document` or `sentence`: what was dealt out."""
    seed: int

    @property
    def count(self) -> int:
        return len(self.held_out)


def assign_folds(sentences: Sequence[Sentence], folds: int, seed: int) -> FoldPlan:
    """Deal the sentences into `folds` folds: whole documents (shuffled, each to the fold with the fewest sentences
    so far) where there are at least `folds` documents, else single sentences (shuffled, dealt in turn)."""
    if folds < 2:
        raise UserError(f"--folds must be at least 2 (K models, each trained on K-1 folds), not {folds}")
    if folds > len(sentences):
        raise UserError(f"--folds {folds}: the file has only {len(sentences)} sentences")
    groups: dict[tuple[str, int], list[int]] = {}
    for index, sentence in enumerate(sentences):
        groups.setdefault((sentence.source, sentence.document), []).append(index)
    units = list(groups.values()) if len(groups) >= folds else [[index] for index in range(len(sentences))]
    random.Random(seed).shuffle(units)
    held: list[list[int]] = [[] for _ in range(folds)]
    for unit in units:
        min(held, key=len).extend(unit)
    return FoldPlan(
        held_out=tuple(tuple(sorted(fold)) for fold in held),
        unit="document" if len(groups) >= folds else "sentence",
        seed=seed,
    )


@dataclass(frozen=True)
class FoldCost:
    """What training the folds costs, estimated from the config and, where the run recorded it, its pace."""

    trainings: int
    sentences: tuple[int, ...]
    """Training sentences of each fold model."""
    epochs: int
    steps: int
    """Optimizer steps of all fold trainings together (augmented copies included)."""
    seconds_per_step: float | None
    """The run's own pace (its last epoch record's elapsed time over its steps, evaluation included), if recorded."""

    def describe(self) -> str:
        each = (
            f"{min(self.sentences):,}"
            if min(self.sentences) == max(self.sentences)
            else (f"{min(self.sentences):,} to {max(self.sentences):,}")
        )
        text = (
            f"--folds {self.trainings}: {self.trainings} trainings of {each} sentences each, {self.epochs} epoch(s): "
            f"{self.steps:,} optimizer steps in all"
        )
        if self.seconds_per_step is None:
            return text + " (the run recorded no pace to estimate the time from)"
        hours = self.steps * self.seconds_per_step / 3600
        return text + f", about {hours:.1f} h at the run's recorded {self.seconds_per_step:.2f} s per step"


def estimate_cost(plan: FoldPlan, total: int, config: Config, run_dir: Path | None) -> FoldCost:
    """The cost of training `plan`'s folds on `total` sentences with `config` (the run's pace read from `run_dir`)."""
    train = config.train
    copies = 1.0 + (train.augment_ratio if train.augment else 0.0)
    sizes = tuple(total - len(fold) for fold in plan.held_out)
    steps = sum(math.ceil(size * copies / train.batch_size) * train.epochs for size in sizes)
    pace = None
    metrics = run_dir / EPOCH_METRICS_FILE if run_dir is not None else None
    if metrics is not None and metrics.is_file():
        records = read_epoch_metrics(metrics)
        last = records[-1] if records else None
        if last is not None and last.elapsed_s and last.step:
            pace = last.elapsed_s / last.step
    return FoldCost(trainings=plan.count, sentences=sizes, epochs=train.epochs, steps=steps, seconds_per_step=pace)


def fold_config(config: Config, epochs: int | None, seed: int | None) -> Config:
    """The run's config for a fold model: the sentences given are all used (no limits), with the overrides."""
    data = dataclasses.replace(config.data, limit_train=None, limit_eval=None, split=())
    train = config.train
    if epochs is not None:
        train = dataclasses.replace(train, epochs=epochs)
    if seed is not None:
        train = dataclasses.replace(train, seed=seed)
    return dataclasses.replace(config, data=data, train=train)


def _record(fold: int, plan: FoldPlan, sentences: Sequence[Sentence], config: Config) -> dict[str, object]:
    """What a fold model was trained from: enough to tell whether a finished one can be reused."""
    digest = hashlib.sha256()
    for index in plan.held_out[fold]:
        sentence = sentences[index]
        digest.update(json.dumps([sentence.words, sentence.tags]).encode("utf-8"))
    whole = hashlib.sha256(json.dumps([[s.words, s.tags] for s in sentences]).encode("utf-8")).hexdigest()
    return {
        "fold": fold + 1,
        "folds": plan.count,
        "unit": plan.unit,
        "seed": plan.seed,
        "sentences": len(sentences),
        "held_out": len(plan.held_out[fold]),
        "data_sha256": whole,
        "held_out_sha256": digest.hexdigest(),
        "config": config.to_dict(),
    }


def _finished(fold_dir: Path, record: dict[str, object]) -> bool:
    from bertner.model.store import check_complete

    path = fold_dir / FOLD_RECORD
    if not path.is_file():
        return False
    try:
        if json.loads(path.read_text(encoding="utf-8")) != json.loads(json.dumps(record)):
            return False
        check_complete(fold_dir)
    except (OSError, ValueError):
        return False
    return True


def train_folds(
    config: Config,
    sentences: Sequence[Sentence],
    plan: FoldPlan,
    valid: Sequence[Sentence],
    output: Path,
    progress: bool = True,
) -> list[Path]:
    """Train (or reuse) one model per fold in `output/folds/`; return their folders in fold order.

    Every fold model gets the label set of the whole file, so that all give the same columns."""
    from bertner.training.trainer import train_model

    label_set = LabelSet.from_tags(tag for sentence in sentences for tag in sentence.tags)
    check_known_tags(valid, label_set.labels)
    folders = []
    for fold, held in enumerate(plan.held_out):
        fold_dir = output / FOLDS_DIR / f"fold-{fold + 1}"
        record = _record(fold, plan, sentences, config)
        folders.append(fold_dir)
        if _finished(fold_dir, record):
            logger.info("fold %d of %d: reusing the model in %s", fold + 1, plan.count, fold_dir)
            continue
        out = set(held)
        train = tuple(sentence for index, sentence in enumerate(sentences) if index not in out)
        logger.info("fold %d of %d: training on %d sentences into %s", fold + 1, plan.count, len(train), fold_dir)
        corpus = Corpus(train=train, valid=tuple(valid), test=(), label_set=label_set)
        train_model(config, corpus, fold_dir, progress=progress)
        write_text_atomic(fold_dir / FOLD_RECORD, json.dumps(record, indent=1) + "\n")
    return folders
