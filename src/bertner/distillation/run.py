"""Distillation end to end: the teacher's targets (cached), the student trained on them, recorded in its config.

The student is an ordinary run (training/trainer.py `train_model`), trained on the gold labels and, through
the trainer's soft-target seam (training/soft_targets.py), on the teacher's word distributions
(distillation/teacher.py) with the loss of distillation/loss.py. Its bertner.toml records the teacher (path
and fingerprint), T, alpha and the unlabelled files ([distill], distill_config.py), so `train --resume` and
`distill --resume` refuse a changed teacher as they refuse any other changed setting.

The teacher is loaded only when a cache file must be (re)computed, and released before the student trains.
The student's labels are the training data's plus any the teacher has besides (a type the data lacks is
learnt from the teacher's targets alone).
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bertner.config import Config
from bertner.data.corpus import Corpus
from bertner.distillation.cache import CacheOutcome, cached_scores
from bertner.distillation.fingerprint import TeacherFingerprint, data_fingerprint, teacher_fingerprint
from bertner.distillation.loss import DistillationLoss
from bertner.distillation.teacher import TeacherScores, score_sentences, word_distributions
from bertner.distillation.transfer import transfer_set
from bertner.distillation.unlabeled import read_unlabeled
from bertner.errors import UserError
from bertner.inference.ensemble.folder import load_tagging_model
from bertner.inference.tagging import TaggingModel
from bertner.labels import LabelSet
from bertner.model.encoders import default_cache_dir
from bertner.training.soft_targets import SoftTargets
from bertner.training.trainer import TrainResult, train_model

logger = logging.getLogger(__name__)

TEACHER_CACHE_DIR = "teacher-targets"
"""The folder of teacher caches inside bertner's cache folder ($BERTNER_CACHE, else ~/.cache/bertner)."""


@dataclass(frozen=True)
class DistillResult:
    """The student's training, and what became of each teacher cache (`train`, `unlabeled`, `transfer`)."""

    train: TrainResult
    caches: dict[str, CacheOutcome]
    teacher_seconds: float
    """Seconds the teacher spent scoring (0 when every cache was reused)."""
    soft_sentences: int
    """Sentences trained on with the teacher's targets: the training split's, the unlabelled and transfer ones."""


class _Teacher:
    """The teacher, loaded on first use and released once every target is made."""

    def __init__(self, path: str, backend: str) -> None:
        self.path, self.backend = path, backend
        self._model: TaggingModel | None = None

    def score(
        self, words: Sequence[Sequence[str]], documents: Sequence[int], batch: int, progress: bool
    ) -> TeacherScores:
        if self._model is None:
            self._model = load_tagging_model(self.path, self.backend)
            logger.info("teacher %s loaded (%s, %s)", self.path, self._model.kind, self._model.backend)
        return score_sentences(self._model, words, documents, batch, progress)

    def release(self) -> None:
        self._model = None
        gc.collect()


def teacher_location(teacher: str) -> str:
    """A local teacher folder as an absolute path (what is recorded and what keys its cache), a hub id as given."""
    path = Path(teacher)
    return str(path.resolve()) if path.is_dir() else teacher


def cache_folder(cache_dir: Path | None, teacher: str) -> Path:
    """The folder of `teacher`'s cache files: one per teacher location, so that retraining a teacher in place
    finds its old cache and replaces it (its fingerprint changed) rather than leaving it behind."""
    key = hashlib.sha256(teacher.encode("utf-8")).hexdigest()[:16]
    return (cache_dir if cache_dir is not None else default_cache_dir() / TEACHER_CACHE_DIR) / key


def distill(
    config: Config,
    corpus: Corpus,
    teacher: str,
    run_dir: Path,
    cache_dir: Path | None = None,
    resume: bool = False,
    progress: bool = True,
    encoder_cache: Path | None = None,
    trust_remote_code: bool = False,
    backend: str = "auto",
) -> DistillResult:
    """Train a student into `run_dir` on `corpus` and the targets of `teacher` (a run, export or ensemble folder,
    or an HF model), with `config.distill`'s temperature, alpha and unlabelled files.

    Raises:
        UserError: augmentation is asked for, the teacher cannot be loaded or its labels are not IOB2, an
            unlabelled file cannot be read.
    """
    if config.train.augment:
        raise UserError("train.augment cannot be combined with distillation: augmented copies have no teacher targets")
    settings = config.distill
    location = teacher_location(teacher)
    fingerprint = teacher_fingerprint(location)
    folder = cache_folder(cache_dir, location)
    model = _Teacher(location, backend)
    batch = config.train.eval_batch_size
    sets = {"train": ([s.words for s in corpus.train], [s.document for s in corpus.train])}
    unlabeled_paths = [Path(name).resolve() for name in settings.unlabeled]
    if unlabeled_paths:
        text = read_unlabeled(unlabeled_paths, settings.unlabeled_format)
        sets["unlabeled"] = (list(text.words), list(text.documents))
    if settings.transfer_copies > 0:
        first = max(sets["unlabeled"][1]) + 1 if unlabeled_paths else 0
        copies = transfer_set(
            corpus.train, settings.transfer_copies, config.train.augment_probability, settings.transfer_seed, first
        )
        logger.info("transfer set: %d augmented copies of training sentences", len(copies.words))
        sets["transfer"] = (list(copies.words), list(copies.documents))
    caches = {
        name: cached_scores(
            folder / f"{name}.npz",
            fingerprint,
            data_fingerprint(words, documents),
            functools.partial(model.score, words, documents, batch, progress),
        )
        for name, (words, documents) in sets.items()
    }
    model.release()
    labels = _student_labels(corpus, caches["train"].scores)
    corpus = dataclasses.replace(corpus, label_set=labels)
    targets = {
        name: word_distributions(cached.scores, labels.labels, settings.temperature, config.model.crf, batch)
        for name, cached in caches.items()
    }
    config = _recorded(config, location, fingerprint, unlabeled_paths)
    extra = [name for name in ("unlabeled", "transfer") if name in sets]
    soft = SoftTargets(
        train=targets["train"],
        loss=DistillationLoss(alpha=settings.alpha, temperature=settings.temperature),
        extra_words=[words for name in extra for words in sets[name][0]],
        extra=[target for name in extra for target in targets[name]],
        extra_documents=[document for name in extra for document in sets[name][1]] if extra else None,
    )
    result = train_model(
        config,
        corpus,
        run_dir,
        resume=resume,
        progress=progress,
        encoder_cache=encoder_cache,
        trust_remote_code=trust_remote_code,
        soft_targets=soft,
    )
    return DistillResult(
        train=result,
        caches={name: cached.outcome for name, cached in caches.items()},
        teacher_seconds=sum(cached.seconds for cached in caches.values()),
        soft_sentences=sum(cached.scores.num_sentences for cached in caches.values()),
    )


def _student_labels(corpus: Corpus, scores: TeacherScores) -> LabelSet:
    """The training data's labels, with the teacher's entity types that the data lacks added (logged)."""
    labels = LabelSet.from_tags([*corpus.label_set.labels, *scores.labels])
    extra = sorted(set(labels.types) - set(corpus.label_set.types))
    if extra:
        logger.warning("the teacher tags %s, which the training data never does: learnt from its targets alone", extra)
    return labels


def _recorded(config: Config, teacher: str, fingerprint: TeacherFingerprint, unlabeled: Sequence[Path]) -> Config:
    """`config` with what the run records of its teacher filled in."""
    distill = dataclasses.replace(
        config.distill,
        teacher=teacher,
        teacher_fingerprint=fingerprint.digest,
        unlabeled=tuple(str(path) for path in unlabeled),
    )
    return dataclasses.replace(config, distill=distill)
