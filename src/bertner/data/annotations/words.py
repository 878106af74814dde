"""Spans on a text -> IOB2 tags on its words, every change to a span recorded.

Words and sentences come from the same segmentation `bertner predict` applies to raw text (data/segment.py,
data/sentences.py), so a model trains on the words it will be asked to tag; `whitespace` segmentation instead
takes each line as a sentence and each whitespace-separated token as a word, the inverse of the detokenisation
that `convert` applies to CoNLL files (conll.py), so that CoNLL -> spans -> CoNLL gives back the same words.

Each span is, in order:
1. trimmed of whitespace at its edges (label-studio#3078: a double-click selects the space after a word);
2. fitted to words: a span that cuts through a word is an error, or per `misaligned` widened to the words it
   touches (`expand`), narrowed to the words it covers whole (`contract`), or dropped (`skip`) (spaCy's
   W030 dropped such spans silently, spaCy#5727);
3. checked against the other spans: the same words with the same type twice keep one; spans sharing a word are
   an error, or per `overlaps` the longest (in characters) or the first in the text is kept, greedily.
A sentence boundary inside a kept span is removed (the sentences are joined), so no entity is cut in two.
Every span changed or dropped is a SpanChange; the entities on the words are the spans read minus those dropped.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from typing import Any

from bertner.config import MISALIGNED_POLICIES, OVERLAP_POLICIES, WORD_SEGMENTATIONS
from bertner.data.annotations.records import AnnotatedText, Span
from bertner.data.conll import Sentence
from bertner.data.segment import Word, segment
from bertner.data.sentences import split_sentences
from bertner.errors import UserError

SEGMENTATIONS = WORD_SEGMENTATIONS
MISALIGNED = MISALIGNED_POLICIES
OVERLAPS = OVERLAP_POLICIES
# Unicode's White_Space property: what data/segment.py (the tokenizers library) splits words on.
WHITE_SPACE = frozenset(
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
_TOKEN = re.compile(f"[^{re.escape(''.join(sorted(WHITE_SPACE)))}]+")


@dataclass(frozen=True)
class WordPolicy:
    """How words are found and what happens to spans that do not fit them (DataConfig's words, misaligned,
    overlaps)."""

    words: str = "segment"
    misaligned: str = "error"
    overlaps: str = "error"

    def __post_init__(self) -> None:
        for name, value, allowed in (
            ("words", self.words, SEGMENTATIONS),
            ("misaligned", self.misaligned, MISALIGNED),
            ("overlaps", self.overlaps, OVERLAPS),
        ):
            if value not in allowed:
                raise UserError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")


@dataclass(frozen=True)
class SpanChange:
    """A span as read (code points) and what became of it: `kept` is its new `[start, end)`, None if dropped."""

    line: int
    id: Any
    start: int
    end: int
    type: str
    text: str
    actions: tuple[str, ...]
    kept: tuple[int, int] | None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        made: dict[str, Any] = {"line": self.line, "id": self.id, "start": self.start, "end": self.end}
        made |= {"type": self.type, "text": self.text, "actions": list(self.actions)}
        made["kept"] = None if self.kept is None else list(self.kept)
        return made | ({"detail": self.detail} if self.detail else {})


@dataclass(frozen=True)
class TaggedText:
    """A text's sentences with IOB2 tags, the spans changed or dropped on the way, and how many sentence
    boundaries were removed because a span crossed them."""

    sentences: tuple[Sentence, ...]
    changes: tuple[SpanChange, ...]
    joined: int = 0


@dataclass(frozen=True)
class _Fitted:
    first: int  # word indices [first, last)
    last: int
    span: Span
    start: int  # characters after trimming and fitting
    end: int
    actions: tuple[str, ...]
    detail: str


def words_of(text: str, segmentation: str) -> tuple[list[Word], list[range]]:
    """The words of `text` and its sentences as ranges over them."""
    if segmentation == "segment":
        words = segment(text)
        return words, split_sentences(text, words)
    words = [Word(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text)]
    starts = [i for i in range(1, len(words)) if "\n" in text[words[i - 1].end : words[i].start]]
    bounds = [0, *starts, len(words)]
    return words, [range(a, b) for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


def _change(item: AnnotatedText, span: Span, actions: tuple[str, ...], kept: Any, detail: str = "") -> SpanChange:
    covered = item.text[span.start : span.end]
    return SpanChange(item.line, item.id, span.start, span.end, span.type, covered, actions, kept, detail)


def _fit(
    item: AnnotatedText, words: list[Word], bounds: tuple[list[int], list[int]], span: Span, misaligned: str
) -> _Fitted | SpanChange:
    """`span` trimmed and fitted to `words` (whose starts and ends are `bounds`), or the record of its dropping."""
    start, end = span.start, span.end
    while start < end and item.text[start] in WHITE_SPACE:
        start += 1
    while end > start and item.text[end - 1] in WHITE_SPACE:
        end -= 1
    if start == end:
        return _change(item, span, ("empty" if span.start == span.end else "blank",), None)
    actions = ("trimmed",) if (start, end) != (span.start, span.end) else ()
    first = bisect_right(bounds[1], start)
    last = bisect_left(bounds[0], end)
    cut = [w for w in (words[first], words[last - 1]) if w.start < start < w.end or w.start < end < w.end]
    if not cut:
        return _Fitted(first, last, span, start, end, actions, "")
    detail = "cuts through " + " and ".join(f"the word {w.text!r} [{w.start}, {w.end})" for w in dict.fromkeys(cut))
    if misaligned == "error":
        raise UserError(
            f"{item.where()}: span {item.describe(span)} {detail} (--misaligned expand|contract|skip to fit or drop it)"
        )
    if misaligned == "skip":
        return _change(item, span, (*actions, "skipped"), None, detail)
    if misaligned == "contract":
        first += words[first].start < start
        last -= words[last - 1].end > end
        if first >= last:
            return _change(item, span, (*actions, "contracted"), None, detail + ", and covers no word whole")
        return _Fitted(first, last, span, words[first].start, words[last - 1].end, (*actions, "contracted"), detail)
    return _Fitted(first, last, span, words[first].start, words[last - 1].end, (*actions, "expanded"), detail)


def _resolve_overlaps(item: AnnotatedText, fitted: list[_Fitted], overlaps: str) -> tuple[list[_Fitted], list[Any]]:
    """The spans kept (in text order) and the changes recording those dropped."""
    dropped: list[Any] = []
    if overlaps == "longest":
        order = sorted(range(len(fitted)), key=lambda i: (fitted[i].start - fitted[i].end, fitted[i].start, i))
    else:
        order = sorted(range(len(fitted)), key=lambda i: (fitted[i].start, fitted[i].start - fitted[i].end, i))
    kept: list[_Fitted] = []
    for index in order:
        candidate = fitted[index]
        rival = next((k for k in kept if k.first < candidate.last and candidate.first < k.last), None)
        if rival is None:
            kept.append(candidate)
            continue
        rival_text = f"[{rival.start}, {rival.end}) {rival.span.type} {item.text[rival.start : rival.end]!r}"
        if (rival.first, rival.last, rival.span.type) == (candidate.first, candidate.last, candidate.span.type):
            same = f"the same words and type as {rival_text}"
            dropped.append(_change(item, candidate.span, ("duplicate",), None, same))
            continue
        if overlaps == "error":
            raise UserError(
                f"{item.where()}: spans {item.describe(candidate.span)} and {rival_text} share words "
                "(--overlaps longest|first to keep one)"
            )
        dropped.append(_change(item, candidate.span, ("overlap",), None, f"overlaps {rival_text}, which was kept"))
    return sorted(kept, key=lambda k: (k.first, k.last)), dropped


def tag_text(item: AnnotatedText, document: int, policy: WordPolicy) -> TaggedText:
    """`item`'s sentences with IOB2 tags (its spans in code points), as document `document`."""
    words, sentences = words_of(item.text, policy.words)
    changes: list[SpanChange] = []
    fitted: list[_Fitted] = []
    bounds = ([w.start for w in words], [w.end for w in words])
    for span in item.spans:
        result = _fit(item, words, bounds, span, policy.misaligned)
        if isinstance(result, SpanChange):
            changes.append(result)
        else:
            fitted.append(result)
    kept, dropped = _resolve_overlaps(item, fitted, policy.overlaps)
    # With "error" an overlap has raised; the order puts the one kept first either way.
    changes += dropped
    changes += [_change(item, k.span, k.actions, (k.start, k.end), k.detail) for k in kept if k.actions]
    tags = ["O"] * len(words)
    boundaries = {r.start for r in sentences[1:]}
    joined = 0
    for k in kept:
        tags[k.first : k.last] = [f"B-{k.span.type}"] + [f"I-{k.span.type}"] * (k.last - k.first - 1)
        inside = {b for b in boundaries if k.first < b < k.last}
        joined += len(inside)
        boundaries -= inside
    cuts = [0, *sorted(boundaries), len(words)] if words else []
    made = tuple(
        Sentence(
            tuple(w.text for w in words[a:b]),
            tuple(tags[a:b]),
            document=document,
            starts_document=a == 0,
            source=item.source,
            line=item.line,
            word_lines=False,
        )
        for a, b in zip(cuts, cuts[1:], strict=False)
    )
    changes.sort(key=lambda c: (c.start, c.end, c.type))
    return TaggedText(made, tuple(changes), joined)
