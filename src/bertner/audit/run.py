"""An audit from end to end: a model's (or K fold models') word marginals on labelled sentences, ranked by cleanlab.

The library entry points of `bertner audit`; audit/write.py writes what they return.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bertner.audit.folds import FoldPlan
from bertner.audit.rank import SentenceAudit, audit_ranking, iob2_columns
from bertner.data.conll import Sentence
from bertner.decoding.words import decode_words
from bertner.inference.probabilities import word_probabilities
from bertner.inference.tagging import TaggingModel
from bertner.labels import Scheme, to_iob2


@dataclass(frozen=True)
class AuditResult:
    """The audited sentences (file order) and their ranking, worst first."""

    sentences: tuple[Sentence, ...]
    ranking: tuple[SentenceAudit, ...]
    model: str
    data: str
    method: str
    folds: FoldPlan | None = None

    @property
    def flagged(self) -> int:
        return sum(audit.flagged for audit in self.ranking)


@dataclass(frozen=True)
class ScoredSentences:
    """Per sentence: each word's distribution over `tags` (IOB2), and the model's IOB2 tags."""

    probabilities: tuple[np.ndarray, ...]
    suggested: tuple[tuple[str, ...], ...]
    tags: tuple[str, ...]


def score_sentences(
    model: TaggingModel, sentences: Sequence[Sentence], batch_size: int = 64, progress: bool = False
) -> ScoredSentences:
    """The word marginals (inference/probabilities.py) of `sentences` read as IOB2 tags, and the decoded tags."""
    found = word_probabilities(
        model, [s.words for s in sentences], batch_size, progress, documents=[s.document for s in sentences]
    )
    tags, matrix = iob2_columns(model.labels.tags, model.labels.scheme)
    labels = model.labels.tags
    decoded = decode_words(found.scores, batch_size)
    suggested = []
    for row in decoded.label_ids:
        named = [labels[i] for i in row]
        suggested.append(tuple(named if model.labels.scheme is Scheme.IOB2 else to_iob2(named, model.labels.scheme)))
    # (words, num_labels) @ (num_labels, num_tags) per sentence
    return ScoredSentences(
        probabilities=tuple(sentence @ matrix for sentence in found.sentences()),
        suggested=tuple(suggested),
        tags=tags,
    )


def audit_with_model(
    model: TaggingModel,
    sentences: Sequence[Sentence],
    data: str,
    method: str = "self_confidence",
    batch_size: int = 64,
    progress: bool = False,
) -> AuditResult:
    """Rank `sentences` (read from `data`) with one model's (or ensemble's) probabilities."""
    scored = score_sentences(model, sentences, batch_size, progress)
    ranking = audit_ranking(sentences, scored.probabilities, scored.suggested, scored.tags, method)
    return AuditResult(tuple(sentences), tuple(ranking), model.path, data, method)


def audit_with_folds(
    folders: Sequence[Path],
    plan: FoldPlan,
    sentences: Sequence[Sentence],
    data: str,
    method: str = "self_confidence",
    batch_size: int = 64,
    progress: bool = False,
    backend: str = "auto",
    threads: int | None = None,
) -> AuditResult:
    """Rank `sentences` with out-of-fold probabilities: fold k's model (folders[k]) scores the sentences it held out."""
    from bertner.inference.load import load_inference_model

    probabilities: list[np.ndarray | None] = [None] * len(sentences)
    suggested: list[tuple[str, ...] | None] = [None] * len(sentences)
    tags: tuple[str, ...] | None = None
    for folder, held in zip(folders, plan.held_out, strict=True):
        model = load_inference_model(str(folder), backend, threads)
        scored = score_sentences(model, [sentences[i] for i in held], batch_size, progress)
        if tags is not None and scored.tags != tags:
            raise ValueError(f"{folder}: its tags {scored.tags} are not the other fold models' {tags}")
        tags = scored.tags
        for index, found, chosen in zip(held, scored.probabilities, scored.suggested, strict=True):
            probabilities[index], suggested[index] = found, chosen
    assert tags is not None and all(p is not None for p in probabilities), "every sentence is in one fold"
    ranking = audit_ranking(
        sentences, [p for p in probabilities if p is not None], [s for s in suggested if s is not None], tags, method
    )
    return AuditResult(tuple(sentences), tuple(ranking), str(folders[0].parent), data, method, plan)
