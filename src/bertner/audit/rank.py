"""Sentences ranked by how likely their gold labels are wrong: cleanlab's `token_classification`, on word marginals.

Two cleanlab calls, on the words' label distributions (inference/probabilities.py: CRF marginals for a CRF
model, the members' mean for an ensemble) and the gold tags, both at the word level (a CoNLL token):

- `rank.get_label_quality_scores` scores each word (`self_confidence` by default: the probability the model gives
  the word's gold tag) and each sentence by its worst word (`min`); Wang & Mueller 2022 (arXiv 2210.03920) found
  that worst-word score the best of the 11 sentence scores they compared on CoNLL-2003 against CoNLL++. Sentences
  are ranked by it, lowest first.
- `filter.find_label_issues` (confident learning over all words at once) flags the words whose gold tag it judges
  wrong: those are a sentence's *suspect* words, and a sentence with one is *flagged*.

Gold tags are IOB2 (data/conll.py reads every scheme into it). A model whose tags are BIOES is read word by word
as IOB2 (B- and S- are B-, I- and E- are I-: their probabilities are summed); an IOB1 model's tags cannot be read
so (whether I-X opens an entity depends on the word before), and is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bertner.data.conll import Sentence
from bertner.errors import MissingExtraError, UserError
from bertner.labels import OUTSIDE, Scheme, split_tag

TOKEN_SCORE_METHODS = ("self_confidence", "normalized_margin", "confidence_weighted_entropy")


@dataclass(frozen=True)
class SuspectWord:
    """A word whose gold tag confident learning flags."""

    index: int
    word: str
    given: str
    suggested: str
    """The model's tag for the word (from its decoded path, so a legal IOB2 sequence)."""
    quality: float
    """cleanlab's label-quality score of the given tag (self_confidence: its probability); lower is worse."""


@dataclass(frozen=True)
class SentenceAudit:
    """One sentence's place in the audit."""

    sentence: int
    """Its index among the audited sentences (file order)."""
    score: float
    """cleanlab's sentence label-quality score: its worst word's; lower means more likely mislabelled."""
    worst: int
    """The index of its lowest-scoring word."""
    suggested: tuple[str, ...]
    """The model's IOB2 tags for the whole sentence."""
    suspects: tuple[SuspectWord, ...]

    @property
    def flagged(self) -> bool:
        return bool(self.suspects)


def iob2_columns(labels: Sequence[str], scheme: Scheme) -> tuple[tuple[str, ...], np.ndarray]:
    """The IOB2 tags a model's labels stand for word by word, and the (num_labels, num_tags) 0/1 matrix that turns a
    distribution over its labels into one over those tags. Raises UserError for IOB1 labels (see the module)."""
    if scheme is Scheme.IOB1:
        raise UserError(
            "the model's labels are IOB1 tags, which cannot be read as IOB2 word by word; audit with a model whose "
            "tags are IOB2 (every bertner run) or BIOES"
        )
    renamed = []
    for label in labels:
        prefix, entity_type = split_tag(label)
        renamed.append(OUTSIDE if prefix == OUTSIDE else f"{'B' if prefix in ('B', 'S') else 'I'}-{entity_type}")
    tags = tuple(dict.fromkeys(renamed))
    matrix = np.zeros((len(labels), len(tags)))
    matrix[np.arange(len(labels)), [tags.index(tag) for tag in renamed]] = 1.0
    return tags, matrix


def gold_ids(sentences: Sequence[Sentence], tags: Sequence[str]) -> list[list[int]]:
    """Each word's gold tag as an index of `tags`; a tag the model cannot give is a UserError naming the word."""
    index = {tag: i for i, tag in enumerate(tags)}
    rows = []
    for sentence in sentences:
        for position, tag in enumerate(sentence.tags):
            if tag not in index:
                raise UserError(
                    f"{sentence.where(position)}: tag {tag!r} is not one the model gives (its tags: {', '.join(tags)})"
                )
        rows.append([index[tag] for tag in sentence.tags])
    return rows


def _cleanlab() -> tuple[object, object]:
    try:
        from cleanlab.token_classification import filter, rank
    except ImportError as error:
        raise MissingExtraError("bertner audit needs cleanlab: pip install 'bertner[audit]'") from error
    return filter, rank


def audit_ranking(
    sentences: Sequence[Sentence],
    probabilities: Sequence[np.ndarray],
    suggested: Sequence[Sequence[str]],
    tags: Sequence[str],
    method: str = "self_confidence",
) -> list[SentenceAudit]:
    """The sentences ranked by cleanlab, most likely mislabelled first (ties in file order).

    Args:
        sentences: the labelled sentences (IOB2 gold tags).
        probabilities: per sentence, a (words, len(tags)) array: each word's distribution over `tags`.
        suggested: per sentence, the model's IOB2 tags.
        tags: the IOB2 tags the columns of `probabilities` stand for.
        method: cleanlab's token score (TOKEN_SCORE_METHODS).
    """
    if method not in TOKEN_SCORE_METHODS:
        raise UserError(f"the token score must be one of {', '.join(TOKEN_SCORE_METHODS)}, not {method!r}")
    if not sentences:
        raise UserError("nothing to audit: no sentences")
    labels = gold_ids(sentences, tags)
    # cleanlab checks that every row sums to 1; float64 marginals are off by rounding only
    pred_probs = [np.clip(p, 0.0, 1.0) / np.clip(p, 0.0, 1.0).sum(axis=1, keepdims=True) for p in probabilities]
    filter, rank = _cleanlab()
    sentence_scores, token_scores = rank.get_label_quality_scores(  # type: ignore[attr-defined]
        labels, pred_probs, token_score_method=method, sentence_score_method="min"
    )
    issues = _flagged(filter, labels, pred_probs)
    audits = []
    for number, sentence in enumerate(sentences):
        quality = np.asarray(token_scores[number], dtype=np.float64)
        suspects = tuple(
            SuspectWord(
                index=j,
                word=sentence.words[j],
                given=sentence.tags[j],
                suggested=suggested[number][j],
                quality=float(quality[j]),
            )
            for j in sorted(issues.get(number, ()))
        )
        audits.append(
            SentenceAudit(
                sentence=number,
                score=float(sentence_scores[number]),
                worst=int(np.argmin(quality)),
                suggested=tuple(suggested[number]),
                suspects=suspects,
            )
        )
    return sorted(audits, key=lambda audit: (audit.score, audit.sentence))


def _flagged(filter: object, labels: list[list[int]], pred_probs: list[np.ndarray]) -> dict[int, set[int]]:
    """Sentence -> the words confident learning flags. Confident learning needs every tag among the gold labels to
    have words the model thinks most likely to be it; where too few tags occur it has nothing to estimate."""
    if len({label for row in labels for label in row}) < 2:
        return {}
    # n_jobs=1: cleanlab otherwise forks a process pool, for a sum over at most a few hundred thousand words
    found = filter.find_label_issues(labels, pred_probs, n_jobs=1)  # type: ignore[attr-defined]
    issues: dict[int, set[int]] = {}
    for sentence, word in found:
        issues.setdefault(int(sentence), set()).add(int(word))
    return issues
