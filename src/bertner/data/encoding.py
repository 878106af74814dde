"""Words -> encoder inputs, with long sentences split into overlapping windows.

No sentence is ever truncated (docs/FIELD.md #1, #3): a sentence longer than the encoder's limit is
cut into windows that share some context, and each word is *owned* by exactly one window. Only the
owner labels the word in training and predicts it in evaluation and prediction, so every word gets
exactly one label and one prediction.

With document context (`data.context`, as in FLERT: Schweter & Akbik 2020), a window that starts or ends
a sentence is widened with whole words of the sentences before and after it in the same document, as many
sub-tokens as `context` allows on each side and the room left in `max_length`. Context tokens belong to no
word of the sentence (`word_ids` None), so they are never labelled and never predicted.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bertner.config import DataConfig
from bertner.data.alignment import align_all, align_first, first_subtokens
from bertner.data.features import PAD_SHAPE, word_shape
from bertner.labels import LabelSet


@dataclass(frozen=True)
class Span:
    """A window over words [start, end) that owns (predicts) the words [own_start, own_end)."""

    start: int
    end: int
    own_start: int
    own_end: int


@dataclass(frozen=True)
class Window:
    """One encoder input. `word_ids[k]` is the sentence word of sub-token k (None for special tokens)."""

    sentence: int
    input_ids: tuple[int, ...]
    word_ids: tuple[int | None, ...]
    own_start: int
    own_end: int
    shape_ids: tuple[int, ...]
    labels: tuple[int, ...] | None = None

    def word_starts(self) -> list[int]:
        """1 at the first sub-token of each word this window owns, else 0: where a CRF over words reads."""
        starts = [0] * len(self.word_ids)
        for position in first_subtokens(self.word_ids):
            word = self.word_ids[position]
            assert word is not None
            if self.own_start <= word < self.own_end:
                starts[position] = 1
        return starts

    def features(self) -> dict[str, list[int]]:
        """The model inputs of this window, unpadded."""
        item = {"input_ids": list(self.input_ids), "shape_ids": list(self.shape_ids), "word_starts": self.word_starts()}
        if self.labels is not None:
            item["labels"] = list(self.labels)
        return item


_SPECIALS: weakref.WeakKeyDictionary[Any, SpecialTokens] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class SpecialTokens:
    """The ids a tokenizer puts before and after a single sequence ([CLS] ... [SEP] for BERT)."""

    prefix: tuple[int, ...]
    suffix: tuple[int, ...]

    @classmethod
    def of(cls, tokenizer: Any) -> SpecialTokens:
        # Cached per tokenizer: the probe is a tokenizer call, as costly as a short sentence's encoding, and
        # raw-text prediction encodes one sentence per call.
        cached = _SPECIALS.get(tokenizer)
        if cached is None:
            probe = tokenizer([["a"]], is_split_into_words=True, add_special_tokens=True)
            ids, word_ids = probe["input_ids"][0], probe.word_ids(0)
            content = [k for k, w in enumerate(word_ids) if w is not None]
            cached = _SPECIALS[tokenizer] = cls(tuple(ids[: content[0]]), tuple(ids[content[-1] + 1 :]))
        return cached

    def __len__(self) -> int:
        return len(self.prefix) + len(self.suffix)


def plan_windows(piece_counts: Sequence[int], budget: int, overlap: int) -> list[Span]:
    """Cover words with windows of at most `budget` sub-tokens, neighbours sharing about `overlap`.

    Each word's count must be in [1, budget]. Where two windows overlap, the first owns the first half of
    the shared words and the second owns the rest, so each word keeps context on both sides.
    """
    n = len(piece_counts)
    if n == 0:
        return []
    bounds: list[tuple[int, int]] = []
    start = 0
    while True:
        end, total = start, 0
        while end < n and total + piece_counts[end] <= budget:
            total += piece_counts[end]
            end += 1
        bounds.append((start, end))
        if end == n:
            break
        next_start, shared = end, 0
        while next_start - 1 > start and shared + piece_counts[next_start - 1] <= overlap:
            next_start -= 1
            shared += piece_counts[next_start]
        start = next_start
    cuts = [0] + [(bounds[i + 1][0] + bounds[i][1]) // 2 for i in range(len(bounds) - 1)] + [n]
    spans = [Span(s, e, cuts[i], cuts[i + 1]) for i, (s, e) in enumerate(bounds)]
    return [span for span in spans if span.own_end > span.own_start]


@dataclass(frozen=True)
class EncodingPlan:
    """Everything needed to turn words into windows for one tokenizer."""

    tokenizer: Any
    max_length: int
    overlap: int
    alignment: str = "first"
    inside_of: tuple[int, ...] = ()
    context: int = 0
    """Most sub-tokens of neighbouring sentences on each side of a sentence (0: none)."""

    @classmethod
    def for_config(cls, config: DataConfig, tokenizer: Any, label_set: LabelSet) -> EncodingPlan:
        return cls(
            tokenizer,
            min(config.max_length, model_limit(tokenizer)),
            config.window_overlap,
            config.alignment,
            tuple(label_set.inside_of()),
            config.context,
        )

    def specials(self) -> SpecialTokens:
        return SpecialTokens.of(self.tokenizer)


def model_limit(tokenizer: Any) -> int:
    """The most sub-tokens the encoder takes; some tokenizers report a huge sentinel when none is recorded."""
    limit = getattr(tokenizer, "model_max_length", 512)
    return limit if 8 <= limit <= 100_000 else 512


def _word_pieces(tokenizer: Any, words: Sequence[str], ids: list[int], word_ids: list[int | None]) -> list[list[int]]:
    pieces: list[list[int]] = [[] for _ in words]
    for token, word in zip(ids, word_ids, strict=True):
        if word is not None:
            pieces[word].append(token)
    # A word the tokenizer drops entirely (control characters, some symbols) still needs a prediction.
    return [p if p else [tokenizer.unk_token_id] for p in pieces]


def encode(
    plan: EncodingPlan,
    sentences: Sequence[Sequence[str]],
    word_labels: Sequence[Sequence[int]] | None = None,
    documents: Sequence[int] | None = None,
) -> list[Window]:
    """Tokenise whole sentences at once and cut each into windows of at most `plan.max_length` sub-tokens.

    With `plan.context` > 0 and `documents` (sentence s belongs to document `documents[s]`; the sentences
    of a document are consecutive, in order), windows get the neighbouring sentences' sub-tokens as context.
    """
    specials = plan.specials()
    budget = plan.max_length - len(specials)
    if budget < 1:
        raise ValueError(f"max_length {plan.max_length} leaves no room beside {len(specials)} special tokens")
    if documents is not None and len(documents) != len(sentences):
        raise ValueError(f"{len(documents)} document ids for {len(sentences)} sentences")
    batch = plan.tokenizer([list(words) for words in sentences], is_split_into_words=True, add_special_tokens=False)
    pieces = [
        [p[:budget] for p in _word_pieces(plan.tokenizer, words, batch["input_ids"][index], batch.word_ids(index))]
        for index, words in enumerate(sentences)
    ]
    shapes = [[word_shape(w) for w in words] for words in sentences]
    neighbours = _Neighbours(pieces, shapes, documents) if plan.context > 0 and documents is not None else None
    windows: list[Window] = []
    for index in range(len(sentences)):
        labels = word_labels[index] if word_labels is not None else None
        counts = [len(p) for p in pieces[index]]
        for span in plan_windows(counts, budget, plan.overlap):
            left = right = _NO_CONTEXT
            if neighbours is not None:
                room = budget - sum(counts[span.start : span.end])
                edges = (span.start == 0, span.end == len(counts))
                left, right = neighbours.around(index, room, plan.context, edges)
            windows.append(_window(plan, specials, index, span, pieces[index], shapes[index], labels, left, right))
    return windows


@dataclass(frozen=True)
class _Context:
    """Sub-tokens of neighbouring sentences beside a window, with their words' shapes."""

    input_ids: tuple[int, ...] = ()
    shape_ids: tuple[int, ...] = ()


_NO_CONTEXT = _Context()


@dataclass(frozen=True)
class _Neighbours:
    """The sentences of each document, to take context from. Sentences of a document are consecutive."""

    pieces: Sequence[Sequence[Sequence[int]]]
    shapes: Sequence[Sequence[int]]
    documents: Sequence[int]

    def around(self, sentence: int, room: int, limit: int, edges: tuple[bool, bool]) -> tuple[_Context, _Context]:
        """Left and right context of a window of `sentence` with `room` free sub-tokens, at most `limit` a side.

        `edges`: whether the window starts and ends the sentence; only those sides get other sentences.
        Each side gets half the room, and a side with less to give leaves the rest to the other.
        """
        want_left = self._words(sentence, -1, min(limit, room)) if edges[0] else []
        want_right = self._words(sentence, +1, min(limit, room)) if edges[1] else []
        right_size = sum(len(self.pieces[s][w]) for s, w in want_right)
        left_quota = max(room // 2, room - right_size)
        left = self._take(want_left, left_quota)
        right = self._take(want_right, room - sum(len(self.pieces[s][w]) for s, w in left))
        return self._context(list(reversed(left))), self._context(right)

    def _words(self, sentence: int, step: int, limit: int) -> list[tuple[int, int]]:
        """(sentence, word) pairs moving away from `sentence` in direction `step`, at most `limit` sub-tokens,
        whole words only, within its document."""
        found: list[tuple[int, int]] = []
        size, other = 0, sentence + step
        while 0 <= other < len(self.pieces) and self.documents[other] == self.documents[sentence]:
            words = range(len(self.pieces[other]))
            for word in reversed(words) if step < 0 else words:
                size += len(self.pieces[other][word])
                if size > limit:
                    return found
                found.append((other, word))
            other += step
        return found

    def _take(self, words: list[tuple[int, int]], quota: int) -> list[tuple[int, int]]:
        """The nearest of `words` (nearest first) that fit in `quota` sub-tokens."""
        taken, size = [], 0
        for sentence, word in words:
            size += len(self.pieces[sentence][word])
            if size > quota:
                break
            taken.append((sentence, word))
        return taken

    def _context(self, words: list[tuple[int, int]]) -> _Context:
        ids = [t for s, w in words for t in self.pieces[s][w]]
        shapes = [self.shapes[s][w] for s, w in words for _ in self.pieces[s][w]]
        return _Context(tuple(ids), tuple(shapes))


def _window(
    plan: EncodingPlan,
    specials: SpecialTokens,
    sentence: int,
    span: Span,
    pieces: list[list[int]],
    shapes: list[int],
    labels: Sequence[int] | None,
    left: _Context = _NO_CONTEXT,
    right: _Context = _NO_CONTEXT,
) -> Window:
    ids = list(specials.prefix) + list(left.input_ids)
    word_ids: list[int | None] = [None] * len(ids)
    for word in range(span.start, span.end):
        ids += pieces[word]
        word_ids += [word] * len(pieces[word])
    ids += right.input_ids
    ids += specials.suffix
    word_ids += [None] * (len(right.input_ids) + len(specials.suffix))
    shape_ids = (
        [PAD_SHAPE] * len(specials.prefix)
        + list(left.shape_ids)
        + [shapes[w] for w in word_ids if w is not None]
        + list(right.shape_ids)
        + [PAD_SHAPE] * len(specials.suffix)
    )
    aligned = None
    if labels is not None:
        owned = range(span.own_start, span.own_end)
        if plan.alignment == "all":
            aligned = tuple(align_all(word_ids, labels, plan.inside_of, owned))
        else:
            aligned = tuple(align_first(word_ids, labels, owned))
    return Window(sentence, tuple(ids), tuple(word_ids), span.own_start, span.own_end, tuple(shape_ids), aligned)
