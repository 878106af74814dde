"""The probability that an entity is right: that the model's tag distribution gives exactly this span, this type.

An entity (start, end, type) is read from a sentence's tags by conlleval's rules (evaluation/spans.py) after
the tags are converted to IOB2 (labels.to_iob2). In IOB2 terms, words start..end-1 form that entity exactly
when

    A. word start is B-T, words start+1..end-1 are I-T, and word end (if there is one) is not I-T; or
    B. word start is I-T and the word before it is neither B-T nor I-T (or there is none: conlleval reads
       ``O I-PER`` as an entity), words start+1..end-1 are I-T, and word end is not I-T.

A and B are disjoint (word start differs), so P(entity) = P(A) + P(B). A model's tags in another scheme are
read through the same table (`EntityTags`): B- and S- open an entity (they become B- in IOB2), I- and E-
continue one (they become I-), as labels.to_iob2 converts them.

- **With a CRF** each event is a stretch of words whose tags lie in given sets, and its probability is a
  constrained forward-backward sum over all paths (decoding/marginals.py): alpha just before the stretch,
  the stretch's own scores, beta after it. Under IOB2 constraints event B is impossible and P(B) = 0.
- **Without a CRF** the words are independent with the softmax p_t of their scores, and the same sum is the
  product formula (exact under independence):

      P(entity) = [p_start(B-T) + p_start(I-T) * (1 - p_start-1(B-T) - p_start-1(I-T))]
                  * prod_{t = start+1}^{end-1} p_t(I-T) * (1 - p_end(I-T))

  where the factor (1 - p_start-1(...)) is 1 at the first word and (1 - p_end(I-T)) is 1 past the last.
  It equals the CRF computation under `LinearChain.independent` (the tests check both against brute force).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bertner.decoding.marginals import Posterior, forward_backward
from bertner.decoding.temperature import Calibration
from bertner.decoding.words import WordScores
from bertner.evaluation.spans import Entity, chunks
from bertner.labels import OUTSIDE, Scheme, split_tag, to_iob2

# Prefixes that become B- in IOB2; the others (I-, E-) become I-.
_OPENS = frozenset({"B", "S"})


@dataclass(frozen=True, eq=False)
class EntityTags:
    """For each entity type, the label ids that open an entity of it and those that continue one."""

    types: tuple[str, ...]
    begin: np.ndarray
    """(types, num_labels) bool: B-T (and S-T) of each type."""
    inside: np.ndarray
    """(types, num_labels) bool: I-T (and E-T) of each type."""

    @classmethod
    def from_labels(cls, labels: Sequence[str]) -> EntityTags:
        """The table of a model whose label ids name `labels` (IOB1, IOB2 or BIOES tags, in id order)."""
        parts = [split_tag(label) for label in labels]
        types = tuple(sorted({entity_type for prefix, entity_type in parts if prefix != OUTSIDE}))
        begin = np.zeros((len(types), len(labels)), dtype=bool)
        inside = np.zeros_like(begin)
        for label_id, (prefix, entity_type) in enumerate(parts):
            if prefix == OUTSIDE:
                continue
            row = types.index(entity_type)
            (begin if prefix in _OPENS else inside)[row, label_id] = True
        return cls(types, begin, inside)

    @property
    def num_labels(self) -> int:
        return int(self.begin.shape[1])

    def row(self, entity_type: str) -> int:
        try:
            return self.types.index(entity_type)
        except ValueError:
            raise ValueError(f"entity type {entity_type!r} is not among the model's types {list(self.types)}") from None


def entities_of(
    label_ids: Sequence[Sequence[int]], labels: Sequence[str], scheme: Scheme = Scheme.IOB2
) -> list[list[Entity]]:
    """The entities of decoded label ids, read as tagging does: converted to IOB2, then by conlleval's rules."""
    out = []
    for row in label_ids:
        tags = [labels[i] for i in row]
        out.append(chunks(tags if scheme is Scheme.IOB2 else to_iob2(tags, scheme)))
    return out


def score_entities(
    scores: WordScores,
    entities: Sequence[Sequence[Entity]],
    labels: Sequence[str],
    calibration: Calibration | None = None,
    batch_size: int = 64,
) -> list[list[float]]:
    """The probability of each entity of each sentence under `scores` (raw, as the model gave them) with
    `calibration` applied (its temperatures, then its score map); `labels` are the model's tags in label id
    order. See `entity_probabilities`."""
    if calibration is not None:
        scores = calibration.apply(scores, labels)
    probabilities = entity_probabilities(scores, entities, EntityTags.from_labels(labels), batch_size)
    if calibration is None or calibration.score_map is None:
        return probabilities
    return [calibration.map_scores(row) for row in probabilities]


def entity_probabilities(
    scores: WordScores, entities: Sequence[Sequence[Entity]], tags: EntityTags, batch_size: int = 64
) -> list[list[float]]:
    """The probability of each entity of each sentence, as the module defines it.

    Args:
        scores: the sentences' scores: emissions and the CRF's chain, or logits without a CRF.
        entities: the entities to score in each sentence (usually those its decoded tags give).
        tags: which labels open and continue each type.

    Returns:
        One list of probabilities per sentence, parallel to `entities`.
    """
    if len(entities) != scores.num_sentences:
        raise ValueError(f"{scores.num_sentences} sentences of scores but entities for {len(entities)}")
    if scores.num_labels != tags.num_labels:
        raise ValueError(f"scores of {scores.num_labels} labels, but {tags.num_labels} labels in the tag table")
    if scores.crf is not None and scores.crf.num_tags != tags.num_labels:
        raise ValueError(f"the CRF has {scores.crf.num_tags} tags, the labels are {tags.num_labels}")
    lengths = np.diff(scores.offsets)
    for index, found in enumerate(entities):
        for entity in found:
            if not 0 <= entity.start < entity.end <= lengths[index]:
                raise ValueError(f"sentence {index}: entity {entity} does not fit its {lengths[index]} words")
    # Only the sentences with an entity to score, as one flat array of their words.
    wanted = [index for index, found in enumerate(entities) if found]
    if not wanted:
        return [[] for _ in entities]
    rows = np.concatenate([np.arange(scores.offsets[s], scores.offsets[s + 1]) for s in wanted])
    offsets = np.concatenate([[0], np.cumsum(lengths[wanted])]).astype(np.int64)
    # (entities,) each: its sentence's first row in `rows`, its sentence's length, start, end and type's row
    counts = [len(entities[s]) for s in wanted]
    base = np.repeat(offsets[:-1], counts)
    words = np.repeat(lengths[wanted], counts)
    start = np.array([e.start for s in wanted for e in entities[s]], dtype=np.int64)
    end = np.array([e.end for s in wanted for e in entities[s]], dtype=np.int64)
    kind = np.array([tags.row(e.type) for s in wanted for e in entities[s]], dtype=np.int64)
    if scores.crf is None:
        probabilities = _product(scores.logits[rows], base, words, start, end, kind, tags)
    else:
        posterior = forward_backward(scores.crf, scores.logits[rows], offsets, batch_size)
        probabilities = _chain(posterior, base, words, start, end, kind, tags)
    out: list[list[float]] = [[] for _ in entities]
    for s, begin, count in zip(wanted, np.cumsum([0, *counts[:-1]]).tolist(), counts, strict=True):
        out[s] = probabilities[begin : begin + count].tolist()
    return out


# Which tags a word of an event may carry, by code: B-T, I-T, not I-T, neither B-T nor I-T. A code past the
# end of an event is never read.
_BEGIN, _INSIDE, _NOT_INSIDE, _NEITHER = range(4)


def _chain(
    posterior: Posterior,
    base: np.ndarray,
    words: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    kind: np.ndarray,
    tags: EntityTags,
) -> np.ndarray:
    """P(A) + P(B) of the module for every entity, each a constrained forward-backward sum; arguments are
    (entities,) arrays: the first row of the entity's sentence, its number of words, start, end, type row."""
    # (types, 4, num_labels): the tag sets of the codes above, for each type
    table = np.stack([tags.begin, tags.inside, ~tags.inside, ~(tags.begin | tags.inside)], axis=1)
    length, closed, opened = end - start, (end < words).astype(np.int64), (start > 0).astype(np.int64)
    # (entities, k): word s of event A is B-T at s = 0, I-T up to the entity's end, then not I-T
    step = np.arange(int((opened + length + closed).max()))[None, :]
    code_a = np.where(step == 0, _BEGIN, np.where(step < length[:, None], _INSIDE, _NOT_INSIDE))
    # event B starts a word earlier (if there is one) with neither B-T nor I-T, then I-T, then not I-T
    from_b = step - opened[:, None]
    code_b = np.where(from_b < 0, _NEITHER, np.where(from_b < length[:, None], _INSIDE, _NOT_INSIDE))
    firsts = np.concatenate([base + start, base + start - opened])
    steps = np.concatenate([length + closed, opened + length + closed])
    masks = table[np.concatenate([kind, kind])[:, None], np.concatenate([code_a, code_b])]
    log_p = posterior.log_probabilities(firsts, masks, steps)
    return np.exp(log_p[: len(kind)]) + np.exp(log_p[len(kind) :])


def _product(
    logits: np.ndarray,
    base: np.ndarray,
    words: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    kind: np.ndarray,
    tags: EntityTags,
) -> np.ndarray:
    """The product formula of the module from the words' softmaxes; arguments as for `_chain`."""
    # (all words, num_labels) in float64
    probabilities = np.exp(logits.astype(np.float64) - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    # (all words, types): each word's probability of opening an entity of each type, of continuing one, of not
    # continuing one, and of being neither; the complements summed directly, not as 1 - p, to keep their digits
    p_begin = probabilities @ tags.begin.T
    p_inside = probabilities @ tags.inside.T
    p_not_inside = probabilities @ ~tags.inside.T
    p_neither = probabilities @ ~(tags.begin | tags.inside).T
    last = len(logits) - 1
    first = base + start
    before = np.where(start > 0, p_neither[np.maximum(first - 1, 0), kind], 1.0)
    out = p_begin[first, kind] + p_inside[first, kind] * before
    for step in range(1, int((end - start).max())):
        out *= np.where(step < end - start, p_inside[np.minimum(first + step, last), kind], 1.0)
    return out * np.where(end < words, p_not_inside[np.minimum(base + end, last), kind], 1.0)
