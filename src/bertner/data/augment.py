"""Training-data augmentation: new labelled sentences made from the training set, afresh each epoch.

Two methods of Dai & Adel (2020), "An Analysis of Simple Data Augmentation for Named Entity Recognition":

- `mention` (their MR): each entity mention is, with probability p, replaced by another mention of the same
  entity type drawn from the training set by frequency. The new words get `B-X, I-X, ...` for their own
  length, so the sentence stays legal IOB2 whatever the two mentions' lengths, and two adjacent mentions of
  one type stay two.
- `token` (their LwTR): each word is, with probability p, replaced by another training word with the same
  tag, drawn by frequency (their label-wise token distribution). Tags are unchanged.

Both methods on: mentions are drawn first, then the words outside the replaced mentions.

Choices of ours, where the paper leaves room:
- A replacement always differs from what it replaces, and every copy differs from its original: where no
  mention or word was drawn, the draw is repeated (so the copy is drawn conditioned on at least one change).
  A copy equal to its original would only count that sentence twice.
- A copy keeps its original's `document`, `starts_document`, `source` and `line`: it stands in its original's
  place, so document context (`[data] context`) is taken from the same document around it. Its `line`
  still names where the original starts; word i of a copy need not come from line `line + i`.
- Every epoch has the same number of copies (`copies_per_epoch`), which the HF Trainer needs: it counts an
  epoch's steps once, and resumes by counting steps.

Randomness is a `random.Random` per copy, seeded by (seed, epoch, round, original), so a copy depends on
nothing else: not on other sentences, on the order of generation, or on global random state.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

from bertner.config import AUGMENT_METHODS, TrainConfig
from bertner.data.conll import Sentence

__all__ = [
    "AugmentRound",
    "AugmentSettings",
    "Copy",
    "Mention",
    "ReplacementPool",
    "augment_epoch",
    "augment_sentence",
    "can_augment",
    "copies_per_epoch",
    "mentions_of",
]

# After this many draws of a different replacement by frequency, one is drawn uniformly among the others
# instead: a tag whose words are nearly all one word would otherwise take many draws.
_FREQUENCY_TRIES = 20


@dataclass(frozen=True)
class Mention:
    """Words [start, end) of a sentence, one entity of type `type` (IOB2: a B-X and the I-X after it)."""

    start: int
    end: int
    type: str


def mentions_of(tags: Sequence[str]) -> list[Mention]:
    """The mentions of a legal IOB2 tag sequence, in order."""
    mentions: list[Mention] = []
    for index, tag in enumerate(tags):
        if tag.startswith("B-"):
            mentions.append(Mention(index, index + 1, tag[2:]))
        elif tag.startswith("I-"):
            assert mentions and mentions[-1].end == index and mentions[-1].type == tag[2:], f"not IOB2: {tags}"
            mentions[-1] = replace(mentions[-1], end=index + 1)
    return mentions


@dataclass(frozen=True)
class ReplacementPool:
    """What replacements are drawn from: each mention's words by entity type and each word by tag, in the
    training set, repeats kept, so that a uniform draw is a draw by frequency."""

    mentions: Mapping[str, tuple[tuple[str, ...], ...]]
    words: Mapping[str, tuple[str, ...]]
    distinct_mentions: Mapping[str, tuple[tuple[str, ...], ...]]
    distinct_words: Mapping[str, tuple[str, ...]]

    @classmethod
    def from_sentences(cls, sentences: Sequence[Sentence]) -> ReplacementPool:
        mentions: defaultdict[str, list[tuple[str, ...]]] = defaultdict(list)
        words: defaultdict[str, list[str]] = defaultdict(list)
        for sentence in sentences:
            for mention in mentions_of(sentence.tags):
                mentions[mention.type].append(sentence.words[mention.start : mention.end])
            for word, tag in zip(sentence.words, sentence.tags, strict=True):
                words[tag].append(word)
        return cls(
            {t: tuple(m) for t, m in mentions.items()},
            {t: tuple(w) for t, w in words.items()},
            {t: tuple(sorted(set(m))) for t, m in mentions.items()},
            {t: tuple(sorted(set(w))) for t, w in words.items()},
        )

    def can_replace_mention(self, entity_type: str, words: tuple[str, ...]) -> bool:
        return any(other != words for other in self.distinct_mentions.get(entity_type, ())[:2])

    def can_replace_word(self, tag: str, word: str) -> bool:
        return any(other != word for other in self.distinct_words.get(tag, ())[:2])

    def draw_mention(self, entity_type: str, current: tuple[str, ...], rng: random.Random) -> tuple[str, ...]:
        return _draw_other(self.mentions[entity_type], self.distinct_mentions[entity_type], current, rng)

    def draw_word(self, tag: str, current: str, rng: random.Random) -> str:
        return _draw_other(self.words[tag], self.distinct_words[tag], current, rng)


_T = TypeVar("_T")


def _draw_other(by_frequency: Sequence[_T], distinct: Sequence[_T], current: _T, rng: random.Random) -> _T:
    """A draw from `by_frequency` other than `current`; `distinct` must hold something else."""
    for _ in range(_FREQUENCY_TRIES):
        drawn = rng.choice(by_frequency)
        if drawn != current:
            return drawn
    return rng.choice([item for item in distinct if item != current])


@dataclass(frozen=True)
class AugmentSettings:
    """The `[train] augment*` settings, with the seed resolved."""

    methods: tuple[str, ...]
    ratio: float
    probability: float
    seed: int

    @classmethod
    def from_config(cls, train: TrainConfig) -> AugmentSettings:
        seed = train.seed if train.augment_seed is None else train.augment_seed
        return cls(train.augment, train.augment_ratio, train.augment_probability, seed)

    def __post_init__(self) -> None:
        unknown = [m for m in self.methods if m not in AUGMENT_METHODS]
        if unknown or not self.methods:
            raise ValueError(f"augment methods must be some of {', '.join(AUGMENT_METHODS)}, not {self.methods!r}")
        if not 0 < self.probability <= 1:
            raise ValueError(f"augment probability must be in (0, 1], not {self.probability}")
        if not 0 < self.ratio < math.inf:
            raise ValueError(f"augment ratio must be a positive number, not {self.ratio}")


@dataclass(frozen=True)
class _Units:
    """What can be replaced in one sentence: its mentions and word positions that have another replacement."""

    mentions: tuple[Mention, ...]
    words: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.mentions) + len(self.words)


def _units(sentence: Sentence, pool: ReplacementPool, methods: Sequence[str]) -> _Units:
    mentions = (
        tuple(
            m for m in mentions_of(sentence.tags) if pool.can_replace_mention(m.type, sentence.words[m.start : m.end])
        )
        if "mention" in methods
        else ()
    )
    pairs = enumerate(zip(sentence.words, sentence.tags, strict=True))
    words = tuple(i for i, (w, t) in pairs if pool.can_replace_word(t, w)) if "token" in methods else ()
    return _Units(mentions, words)


def can_augment(sentence: Sentence, pool: ReplacementPool, methods: Sequence[str]) -> bool:
    """Whether some mention or word of `sentence` has a different replacement in `pool`."""
    return len(_units(sentence, pool, methods)) > 0


def augment_sentence(
    sentence: Sentence, pool: ReplacementPool, methods: Sequence[str], probability: float, rng: random.Random
) -> Sentence:
    """A copy of `sentence` with each replaceable mention, then each replaceable word outside the replaced
    mentions, replaced with `probability`; at least one is. `sentence` unchanged if nothing can be replaced."""
    units = _units(sentence, pool, methods)
    if not units:
        return sentence
    while True:
        mentions = [m for m in units.mentions if rng.random() < probability]
        inside = {i for m in mentions for i in range(m.start, m.end)}
        words = [i for i in units.words if i not in inside and rng.random() < probability]
        if mentions or words:
            break
    starts = {m.start: m for m in mentions}
    replaced_words = set(words)
    out_words: list[str] = []
    out_tags: list[str] = []
    index = 0
    while index < len(sentence.words):
        mention = starts.get(index)
        if mention is not None:
            new = pool.draw_mention(mention.type, sentence.words[mention.start : mention.end], rng)
            out_words += new
            out_tags += [f"B-{mention.type}"] + [f"I-{mention.type}"] * (len(new) - 1)
            index = mention.end
            continue
        word, tag = sentence.words[index], sentence.tags[index]
        out_words.append(pool.draw_word(tag, word, rng) if index in replaced_words else word)
        out_tags.append(tag)
        index += 1
    return replace(sentence, words=tuple(out_words), tags=tuple(out_tags))


@dataclass(frozen=True)
class Copy:
    """An augmented sentence and the index of its original among the training sentences."""

    origin: int
    sentence: Sentence


@dataclass(frozen=True)
class AugmentRound:
    """Copies of some training sentences, ordered by original: with each copy in its original's place, one
    augmented version of the training set (document context of a copy is read from that version)."""

    copies: tuple[Copy, ...]

    def version_of(self, sentences: Sequence[Sentence]) -> list[Sentence]:
        """`sentences` with each copy in its original's place."""
        version = list(sentences)
        for copy in self.copies:
            version[copy.origin] = copy.sentence
        return version


def copies_per_epoch(candidates: int, ratio: float) -> int:
    """How many copies an epoch has: every candidate `floor(ratio)` times, plus the fraction of them left."""
    whole = math.floor(ratio)
    return whole * candidates + round((ratio - whole) * candidates)


def augment_epoch(
    sentences: Sequence[Sentence],
    pool: ReplacementPool,
    settings: AugmentSettings,
    epoch: int,
    candidates: Sequence[int],
) -> list[AugmentRound]:
    """This epoch's copies of `sentences[i]` for i in `candidates` (sentences `can_augment` accepts), in rounds.

    Each of the first `floor(ratio)` rounds copies every candidate; a last round copies a random subset, of
    `copies_per_epoch`'s size, drawn afresh each epoch. Same arguments, same copies.
    """
    whole = math.floor(settings.ratio)
    partial = copies_per_epoch(len(candidates), settings.ratio) - whole * len(candidates)
    chosen = [list(candidates)] * whole
    if partial:
        subset = random.Random(f"{settings.seed}/{epoch}/subset").sample(list(candidates), partial)
        chosen.append(sorted(subset))
    rounds = []
    for number, origins in enumerate(chosen):
        copies = []
        for origin in origins:
            rng = random.Random(f"{settings.seed}/{epoch}/{number}/{origin}")
            copy = augment_sentence(sentences[origin], pool, settings.methods, settings.probability, rng)
            copies.append(Copy(origin, copy))
        rounds.append(AugmentRound(tuple(copies)))
    return rounds
