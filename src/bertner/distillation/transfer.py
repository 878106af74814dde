"""A transfer set made from the training data: augmented copies of its sentences, tagged by the teacher.

Where no unlabelled text of the domain exists, new sentences for the teacher to tag can be made from the
training set itself, the idea of TinyBERT's data augmentation for distillation (Jiao et al. 2020, who replace
words by a masked LM's and GloVe's neighbours). Here the replacements are Dai & Adel's: each copy has mentions
replaced by other mentions of the same type and words by other words with the same tag (data/augment.py, the
augmentation of `[train] augment`, both methods, with `train.augment_probability`). The
copies are trained on with the teacher's targets only, like unlabelled text; the tags augmentation would give
them are not used (a replaced word can make them wrong, and the teacher reads the whole copy).

The copies depend on the training sentences, `distill.transfer_copies` and `distill.transfer_seed` only, never
on the student's seed, so every student of one teacher and one training set shares them and the teacher
scores them once (distillation/cache.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bertner.config import AUGMENT_METHODS
from bertner.data.augment import AugmentSettings, ReplacementPool, augment_epoch, can_augment
from bertner.data.conll import Sentence


@dataclass(frozen=True)
class TransferSet:
    """Sentences without tags, each with its document id (consecutive sentences of one id share context)."""

    words: tuple[tuple[str, ...], ...]
    documents: tuple[int, ...]


def transfer_set(
    sentences: Sequence[Sentence], copies: float, probability: float, seed: int, first_document: int = 0
) -> TransferSet:
    """`copies` augmented copies per sentence of `sentences` that can be augmented (1.5: every one once and
    half of them twice), in rounds, each round ordered by original.

    A copy's document is its original's, renumbered per round from `first_document` up, so that copies of one
    document in one round share context and nothing else does (not the copies of another round, nor sentences
    numbered below `first_document`).
    """
    if copies <= 0 or not sentences:
        return TransferSet(words=(), documents=())
    pool = ReplacementPool.from_sentences(sentences)
    candidates = [index for index, sentence in enumerate(sentences) if can_augment(sentence, pool, AUGMENT_METHODS)]
    settings = AugmentSettings(methods=AUGMENT_METHODS, ratio=copies, probability=probability, seed=seed)
    span = max(sentence.document for sentence in sentences) + 1
    words: list[tuple[str, ...]] = []
    documents: list[int] = []
    for number, made in enumerate(augment_epoch(sentences, pool, settings, 0, candidates)):
        for copy in made.copies:
            words.append(copy.sentence.words)
            documents.append(first_document + number * span + copy.sentence.document)
    return TransferSet(words=tuple(words), documents=tuple(documents))
