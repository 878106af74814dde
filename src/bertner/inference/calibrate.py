"""Calibrate any model's entity probabilities on labelled sentences, and save the temperature with the model.

`bertner train` calls this on the valid split once the best model is saved, and `bertner calibrate` on any run,
export or ensemble folder. The model's raw scores of the sentences are computed once; the temperature is fitted
on them (decoding/calibration.py: the log loss of the predicted entities' correctness) and written beside the
model (layout.CALIBRATION_FILE), where every loader finds it (inference/load.py, inference/ensemble/folder.py).

Per-type temperatures are kept only where held-out evidence says they help (`per_type="auto"`): the sentences
are split in two halves (alternate documents); on each half a global temperature and per-type temperatures are
fitted, and each is scored by the log loss of the predicted entities of the other half. Per-type temperatures
are used when their held-out log loss, summed over both halves, is lower; in-sample they always look better,
having more parameters.

An isotonic score map after the temperatures (decoding/calibration.py) is judged on the same halves: the
temperatures and the map are fitted on one half and the other half's entities scored with them, both ways, and the
entity ECE of those held-out scores is taken with the map and without it. `isotonic="auto"` (what `bertner train`
uses) keeps the map when it lowers that held-out ECE and the data has at least MIN_MAP_ENTITIES predicted entities
(a map needs many: its knots are fitted, not one number); "yes" keeps it regardless. With a map, the ECE recorded
after calibration is the held-out one: measured in-sample, a map that can bend to every bin's outcomes shows an
ECE close to 0, which says nothing. On CoNLL-2003 the map lowered the test ECE below the temperature's in every
comparison measured (docs/results.md, "The score map on the transfer-set students").
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bertner.data.conll import Sentence
from bertner.decoding.calibration import fit_calibration
from bertner.decoding.entities import entities_of, score_entities
from bertner.decoding.temperature import Calibration, write_calibration
from bertner.decoding.words import WordScores, decode_words
from bertner.errors import UserError
from bertner.evaluation.calibration import entity_outcomes, reliability
from bertner.evaluation.spans import Entity, chunks
from bertner.inference.model import InferenceModel
from bertner.inference.tagging import TaggingModel
from bertner.labels import Scheme
from bertner.layout import CALIBRATION_FILE

logger = logging.getLogger(__name__)

PER_TYPE_CHOICES = ("auto", "yes", "no")
ISOTONIC_CHOICES = ("auto", "yes", "no")
MIN_MAP_ENTITIES = 1000
"""The fewest predicted entities for `isotonic="auto"` to consider a score map."""


@dataclass(frozen=True)
class PerTypeEvidence:
    """The held-out log loss (mean over the predicted entities of both halves) of each way of calibrating."""

    global_loss: float
    per_type_loss: float
    entities: int

    @property
    def helps(self) -> bool:
        return self.per_type_loss < self.global_loss


@dataclass(frozen=True)
class MapEvidence:
    """The entity ECE of both halves' held-out scores (see the module), with the temperatures alone and with the map."""

    without_map: float
    with_map: float
    entities: int

    @property
    def helps(self) -> bool:
        return self.with_map < self.without_map


@dataclass(frozen=True)
class Fitted:
    """A fitted calibration, and the evidence that chose between one temperature and per-type ones (auto only),
    and the evidence for a score map (None when none was asked for, or a half predicts nothing)."""

    calibration: Calibration
    evidence: PerTypeEvidence | None = None
    map_evidence: MapEvidence | None = None

    def summary(self) -> str:
        """One line: the temperature, the ECE before and after on the fitting data, and the per-type evidence."""
        c = self.calibration
        text = f"{c.describe()} on {c.n} predicted entities of {c.fitted_on}"
        if c.ece_before is not None and c.ece_after is not None:
            text += f": ECE {c.ece_before:.4f} at T = 1, {c.ece_after:.4f} calibrated"
            text += " (the map held out: fitted on half the documents, measured on the other)" if c.score_map else ""
        elif c.ece_before is not None:
            text += f": ECE {c.ece_before:.4f} at T = 1 (the map's not measured: a half predicts no entity)"
        if self.map_evidence is not None:
            m = self.map_evidence
            verdict = "kept" if c.score_map is not None else "not kept"
            if c.score_map is None and m.helps:
                verdict += f": fewer than {MIN_MAP_ENTITIES} entities"
            text += (
                f"; score map {verdict} (held-out ECE {m.with_map:.4f} with it, {m.without_map:.4f} without, "
                f"{m.entities} entities)"
            )
        if self.evidence is not None:
            e = self.evidence
            verdict = "kept" if e.helps else "not kept"
            text += (
                f"; per-type temperatures {verdict} (held-out log loss {e.per_type_loss:.4f} per-type, "
                f"{e.global_loss:.4f} one temperature)"
            )
        return text


def model_folder(model: TaggingModel) -> Path:
    """The folder a model's calibration is saved in: its run, export, ensemble or local HF folder."""
    folder = Path(model.path)
    if not folder.is_dir():
        raise UserError(f"{model.path}: not a local folder, so a calibration cannot be saved with it; save it first")
    return folder


def fit_model(
    model: TaggingModel,
    sentences: Sequence[Sentence],
    fitted_on: str,
    per_type: str = "auto",
    batch_size: int = 64,
    progress: bool = False,
    word_scores: WordScores | None = None,
    isotonic: str = "no",
) -> Fitted:
    """The temperature that calibrates `model`'s entity probabilities on `sentences` (labelled).

    Args:
        fitted_on: recorded with the calibration, e.g. the data file.
        per_type: `yes`, `no`, or `auto` (see the module).
        word_scores: the model's raw scores of `sentences`, when they are at hand (not scored again).
        isotonic: a score map after the temperature (decoding/calibration.py): `yes`, `no`, or `auto` (see the
            module; auto without scikit-learn installed: no map, and the log says why).

    Raises:
        UserError: when the model predicts no entity in `sentences`, or `per_type` or `isotonic` is not a choice.
    """
    if per_type not in PER_TYPE_CHOICES:
        raise UserError(f"per_type must be one of {', '.join(PER_TYPE_CHOICES)}, not {per_type!r}")
    if isotonic not in ISOTONIC_CHOICES:
        raise UserError(f"isotonic must be one of {', '.join(ISOTONIC_CHOICES)}, not {isotonic!r}")
    if isotonic == "auto" and not _has_sklearn():
        logger.info("no score map considered: it needs scikit-learn (pip install scikit-learn)")
        isotonic = "no"
    if word_scores is None:
        words, documents = [s.words for s in sentences], [s.document for s in sentences]
        word_scores = model.word_scores(words, batch_size, progress, documents)
    gold = [chunks(s.tags) for s in sentences]
    labels, scheme = model.labels.tags, model.labels.scheme
    # held-out evidence (per-type temperatures, the score map) comes from two halves, split and decoded once
    needs_halves = per_type == "auto" or isotonic != "no"
    halves = _halves(word_scores, gold, sentences, labels, scheme, batch_size) if needs_halves else []
    evidence = None
    if per_type == "auto":
        evidence = _per_type_evidence(halves, labels, scheme, batch_size)
    use_per_type = per_type == "yes" or (evidence is not None and evidence.helps)
    map_evidence = None
    if isotonic != "no":
        map_evidence = _map_evidence(halves, labels, scheme, use_per_type, batch_size)
    keep_map = isotonic == "yes" or (
        map_evidence is not None and map_evidence.entities >= MIN_MAP_ENTITIES and map_evidence.helps
    )
    try:
        calibration = fit_calibration(
            word_scores, gold, labels, fitted_on, scheme, use_per_type, batch_size=batch_size, isotonic=keep_map
        )
    except ValueError as error:
        raise UserError(str(error)) from error
    if keep_map:  # in-sample, a map scores close to 0: record what it does on documents it was not fitted on
        held_out = None if map_evidence is None else map_evidence.with_map
        calibration = dataclasses.replace(calibration, ece_after=held_out)
    return Fitted(calibration=calibration, evidence=evidence, map_evidence=map_evidence)


def save_calibration(model: TaggingModel, calibration: Calibration) -> Path:
    """Write `calibration` into the model's folder (replacing an earlier one); the path written."""
    path = model_folder(model) / CALIBRATION_FILE
    write_calibration(path, calibration)
    return path


@dataclass(frozen=True)
class _Half:
    """One half of the calibration data (alternate documents), decoded once for both kinds of held-out evidence."""

    scores: WordScores
    gold: list[Sequence[Entity]]
    predicted: list[list[Entity]]
    correct: list[bool]
    """Whether each predicted entity is right, flattened over sentences."""


def _halves(
    scores: WordScores,
    gold: Sequence[Sequence[Entity]],
    sentences: Sequence[Sentence],
    labels: Sequence[str],
    scheme: Scheme,
    batch_size: int,
) -> list[_Half]:
    """The sentences of alternate documents (of alternate sentences where there is one document), as two halves."""
    documents = sorted({s.document for s in sentences})
    rank = {document: index for index, document in enumerate(documents)}
    if len(documents) < 2:
        sides = [list(range(side, len(sentences), 2)) for side in (0, 1)]
    else:
        sides = [[i for i, s in enumerate(sentences) if rank[s.document] % 2 == side] for side in (0, 1)]
    halves = []
    for indices in sides:
        half_scores, half_gold = _subset(scores, indices), [gold[i] for i in indices]
        predicted = entities_of(decode_words(half_scores, batch_size).label_ids, labels, scheme)
        correct = [c for row in entity_outcomes(half_gold, predicted) for c in row]
        halves.append(_Half(scores=half_scores, gold=half_gold, predicted=predicted, correct=correct))
    return halves


def _has_sklearn() -> bool:
    return importlib.util.find_spec("sklearn") is not None


def _map_evidence(
    halves: Sequence[_Half], labels: Sequence[str], scheme: Scheme, per_type: bool, batch_size: int
) -> MapEvidence | None:
    """The entity ECE of temperatures and a map fitted on one half (_halves) and applied to the other, both ways,
    over the entities of both, with the map and without; None when a half has no predicted entity."""
    with_map: list[float] = []
    without_map: list[float] = []
    correct: list[bool] = []
    for fit, test in (halves, halves[::-1]):
        try:
            fitted = fit_calibration(
                fit.scores, fit.gold, labels, "half", scheme, per_type, batch_size=batch_size, isotonic=True
            )
        except ValueError:  # nothing predicted in the fitting half
            return None
        correct += test.correct
        at_temperatures = dataclasses.replace(fitted, score_map=None)
        temperatures = [
            p for row in score_entities(test.scores, test.predicted, labels, at_temperatures, batch_size) for p in row
        ]
        with_map += fitted.map_scores(temperatures)
        without_map += temperatures
    if not correct:
        return None
    outcomes = np.asarray(correct, dtype=bool)
    return MapEvidence(
        without_map=reliability(np.asarray(without_map), outcomes).ece,
        with_map=reliability(np.asarray(with_map), outcomes).ece,
        entities=len(correct),
    )


def _per_type_evidence(
    halves: Sequence[_Half], labels: Sequence[str], scheme: Scheme, batch_size: int
) -> PerTypeEvidence | None:
    """Both halves' held-out log loss of a global and a per-type fit; None when a half has no predicted entity."""
    losses = {"global": 0.0, "per_type": 0.0}
    count = 0
    for fit, test in (halves, halves[::-1]):
        if not test.correct:
            return None
        for name, per_type in (("global", False), ("per_type", True)):
            try:
                fitted = fit_calibration(fit.scores, fit.gold, labels, "half", scheme, per_type, batch_size=batch_size)
            except ValueError:  # nothing predicted in the fitting half
                return None
            probabilities = [
                p for row in score_entities(test.scores, test.predicted, labels, fitted, batch_size) for p in row
            ]
            losses[name] += _log_loss(probabilities, test.correct)
        count += len(test.correct)
    return PerTypeEvidence(losses["global"] / count, losses["per_type"] / count, count)


def _subset(scores: WordScores, indices: Sequence[int]) -> WordScores:
    """The scores of the sentences `indices`, in that order."""
    rows = [np.arange(scores.offsets[i], scores.offsets[i + 1]) for i in indices]
    lengths = [len(row) for row in rows]
    offsets = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]).astype(np.int64)
    taken = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    return WordScores(scores.logits[taken], offsets, scores.crf)


def _log_loss(probabilities: Sequence[float], correct: Sequence[bool]) -> float:
    """The summed binary log loss of `correct` under `probabilities`, clipped away from 0 and 1."""
    epsilon = 1e-12
    total = 0.0
    for p, right in zip(probabilities, correct, strict=True):
        p = min(max(p, epsilon), 1.0 - epsilon)
        total -= math.log(p) if right else math.log1p(-p)
    return total


def calibrate_run(
    model: InferenceModel, valid: Sequence[Sentence], batch_size: int = 64, progress: bool = False
) -> tuple[InferenceModel, WordScores | None]:
    """What `bertner train` does once the best model is saved: fit the temperature on the valid split (one
    scoring pass), save it in the run folder and return the model with it, and the valid split's scores for
    its evaluation. Per-type temperatures and a score map are kept where held-out evidence says they help (the
    module). Where nothing can be fitted (no valid sentence, or no entity predicted in them) a stale
    calibration file is removed and the model returned as it was."""
    path = model_folder(model) / CALIBRATION_FILE
    if not valid:
        path.unlink(missing_ok=True)
        return model, None
    words, documents = [s.words for s in valid], [s.document for s in valid]
    scores = model.word_scores(words, batch_size, progress, documents)
    fitted_on = valid[0].source or "the valid split"
    try:
        fitted = fit_model(
            model, valid, f"valid split ({fitted_on})", "auto", batch_size, word_scores=scores, isotonic="auto"
        )
    except UserError as error:
        logger.warning("entity scores not calibrated: %s", error)
        path.unlink(missing_ok=True)
        return model, scores
    write_calibration(path, fitted.calibration)
    logger.info("entity scores calibrated: %s; wrote %s", fitted.summary(), path)
    return dataclasses.replace(model, calibration=fitted.calibration), scores
