"""Active learning: the most informative texts of a pool for annotators, each with the model's pre-annotations.

Each text is split into words and sentences as `bertner predict` splits it (data/segment.py, data/sentences.py,
each text one document), scored by the model's uncertainty about its words (selection/uncertainty.py), ranked,
and walked in rank order keeping texts that are not near-duplicates of one kept before (selection/dedup.py)
until the budget is met. The chosen texts are tagged (the model's decoded tags, each entity with its
probability, decoding/entities.py) so that annotators correct rather than start from nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from bertner.data.annotations.records import Span
from bertner.data.segment import Word, segment
from bertner.data.sentences import split_sentences
from bertner.decoding.entities import entities_of, score_entities
from bertner.decoding.words import decode_words
from bertner.inference.probabilities import word_probabilities
from bertner.inference.tagging import TaggingModel
from bertner.selection.dedup import THRESHOLD, choose
from bertner.selection.pool import Pool, PoolText
from bertner.selection.uncertainty import MODEL_STRATEGIES, STRATEGIES, ranking, text_uncertainties

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SelectedText:
    """A chosen text: its place in the selection (1 = most informative), its score (None for random) and the
    model's entities in it (code points, each with its probability as `score`)."""

    rank: int
    text: PoolText
    score: float | None
    entities: tuple[Span, ...]


@dataclass(frozen=True)
class Selection:
    chosen: tuple[SelectedText, ...]
    duplicates: tuple[tuple[PoolText, PoolText], ...]
    """Texts passed over as near-duplicates: (the text, the chosen one it repeats)."""
    strategy: str
    seed: int
    pool: int
    model: str
    skipped: dict[str, int] = field(default_factory=dict)
    threshold: float = THRESHOLD
    """The near-duplicate Jaccard threshold used."""


@dataclass(frozen=True)
class SplitTexts:
    """Texts as sentences of words: sentence s is words[text_of[s]][sentences[s]]."""

    words: tuple[tuple[Word, ...], ...]
    text_of: tuple[int, ...]
    sentences: tuple[range, ...]

    def sentence_words(self) -> list[list[str]]:
        pairs = zip(self.text_of, self.sentences, strict=True)
        return [[w.text for w in self.words[t][span.start : span.stop]] for t, span in pairs]


def split_texts(texts: Sequence[str]) -> SplitTexts:
    words = [tuple(segment(text)) for text in texts]
    pairs = [(t, span) for t, text in enumerate(texts) for span in split_sentences(text, words[t])]
    return SplitTexts(tuple(words), tuple(t for t, _ in pairs), tuple(span for _, span in pairs))


def pool_uncertainties(
    model: TaggingModel, texts: Sequence[str], strategy: str, batch_size: int = 64, progress: bool = False
) -> np.ndarray:
    """(texts,) the uncertainty of each text under `model` (selection/uncertainty.py)."""
    split = split_texts(texts)
    found = word_probabilities(model, split.sentence_words(), batch_size, progress, documents=list(split.text_of))
    return text_uncertainties(found.sentences(), split.text_of, len(texts), strategy)


def pre_annotate(model: TaggingModel, texts: Sequence[str], batch_size: int = 64) -> list[tuple[Span, ...]]:
    """The model's entities in each text, with character offsets and each entity's probability (calibrated as
    `bertner predict` calibrates it)."""
    split = split_texts(texts)
    scores = model.word_scores(split.sentence_words(), batch_size, documents=list(split.text_of))
    labels = model.labels.tags
    entities = entities_of(decode_words(scores, batch_size).label_ids, labels, model.labels.scheme)
    # the model's calibration (a fitted temperature, decoding/temperature.py), where it has one, as predict applies it
    calibration = getattr(model, "calibration", None)
    probabilities = score_entities(scores, entities, labels, calibration, batch_size)
    found: list[list[Span]] = [[] for _ in texts]
    for t, span, sentence, scored in zip(split.text_of, split.sentences, entities, probabilities, strict=True):
        words = split.words[t][span.start : span.stop]
        for entity, probability in zip(sentence, scored, strict=True):
            start, end = words[entity.start].start, words[entity.end - 1].end
            found[t].append(Span(start, end, entity.type, texts[t][start:end], round(float(probability), 4)))
    return [tuple(spans) for spans in found]


def select_texts(
    model: TaggingModel,
    pool: Pool,
    budget: int,
    strategy: str = "entropy",
    seed: int = 0,
    batch_size: int = 64,
    progress: bool = False,
    threshold: float = THRESHOLD,
) -> Selection:
    """The `budget` most informative texts of `pool` (fewer only if the pool runs out), pre-annotated."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, not {strategy!r}")
    texts = [item.text for item in pool.texts]
    scores = pool_uncertainties(model, texts, strategy, batch_size, progress) if strategy in MODEL_STRATEGIES else None
    order = ranking(scores, len(texts), strategy, seed)
    chosen = choose(order, texts, budget, threshold)
    if len(chosen.kept) < budget:
        logger.warning("the pool holds only %d distinct texts for a budget of %d", len(chosen.kept), budget)
    entities = pre_annotate(model, [texts[i] for i in chosen.kept], batch_size)
    return Selection(
        chosen=tuple(
            SelectedText(
                rank=rank,
                text=pool.texts[index],
                score=None if scores is None else float(scores[index]),
                entities=found,
            )
            for rank, (index, found) in enumerate(zip(chosen.kept, entities, strict=True), start=1)
        ),
        duplicates=tuple((pool.texts[dropped], pool.texts[kept]) for dropped, kept in chosen.duplicates),
        strategy=strategy,
        seed=seed,
        pool=len(texts),
        model=model.path,
        skipped=dict(pool.skipped),
        threshold=threshold,
    )
