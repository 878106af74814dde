"""A brute-force oracle for an entity's probability when words are tagged independently (no CRF)."""

from __future__ import annotations

import itertools

import numpy as np

from bertner.evaluation.spans import Entity, chunks
from bertner.labels import LabelSet


def independent_entity_probability(probabilities: np.ndarray, entity: Entity, labels: LabelSet) -> float:
    """P(conlleval reads `entity` from the tags), for (words, num_labels) `probabilities` in `labels` order and
    independent words. Only the words from one before the entity to one after it matter, and of their tags only
    whether each is B-T, I-T or anything else (O stands for the rest), so every path over those three classes of
    those words is enumerated."""
    ids = labels.label2id
    low, high = max(entity.start - 1, 0), min(entity.end + 1, len(probabilities))
    # (window words, 3): P(B-T), P(I-T), P(anything else)
    begin, inside = probabilities[low:high, ids[f"B-{entity.type}"]], probabilities[low:high, ids[f"I-{entity.type}"]]
    classes = np.stack([begin, inside, 1 - begin - inside], axis=1)
    names = (f"B-{entity.type}", f"I-{entity.type}", "O")
    shifted = Entity(entity.start - low, entity.end - low, entity.type)
    return sum(
        float(np.prod(classes[np.arange(high - low), path]))
        for path in itertools.product(range(3), repeat=high - low)
        if shifted in chunks([names[i] for i in path])
    )
