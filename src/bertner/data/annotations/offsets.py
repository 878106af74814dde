"""Offsets in an export's unit -> code points, with the unit checked, never assumed.

Tools count characters three ways: code points (Python, Label Studio since label-studio-frontend#308), UTF-16
code units (JavaScript string lengths: doccano#2290, label-studio#1347) and grapheme clusters (doccano's grapheme
mode). They agree on ASCII text without CRLF, and drift apart after each astral character (an emoji, CJK
extension B), combining mark or `\\r\\n`. The text is never normalised: offsets index it as the export has it.

A file's unit is decided once for the whole file (`resolve`):
- where spans carry their text (Label Studio, often Prodigy), the first unit in which every such span's
  `text[start:end]` equals its text; none fitting stops the read, naming the span and both texts;
- where none does (doccano), code points when the units agree on every span; else the unit that puts strictly
  the most spans on word boundaries, and the read stops when none does (`--offsets` names the unit);
- `--offsets UNIT` skips the choice, and still checks the span texts.
The decision and its evidence are reported for the file.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

from bertner.data.annotations.records import CODEPOINTS, GRAPHEMES, UNITS, UTF16, AnnotatedText, Span
from bertner.data.segment import Word, segment
from bertner.errors import MissingExtraError, UserError

AUTO = "auto"


@dataclass(frozen=True)
class Offsets:
    """The unit a file's offsets were read in, and how it was decided (for the report)."""

    unit: str
    how: str


def _plain(text: str, unit: str) -> bool:
    """Whether `unit` counts exactly the code points of `text` (no per-text map needed)."""
    if unit == CODEPOINTS or text.isascii() and (unit == UTF16 or "\r" not in text):
        return True
    return unit == UTF16 and max(text) <= "\uffff"


@lru_cache(maxsize=8)
def _boundaries(text: str, unit: str) -> tuple[int, ...]:
    """For each offset in `unit`, the code point it falls on; -1 inside a surrogate pair. Length: units + 1."""
    if unit == UTF16:
        points: list[int] = []
        for index, char in enumerate(text):
            points.extend((index, -1) if char > "\uffff" else (index,))
        return (*points, len(text))
    try:
        import regex
    except ModuleNotFoundError as error:  # a dependency of transformers, so normally there
        raise MissingExtraError("grapheme clusters need the `regex` package: pip install regex") from error
    return (*(match.start() for match in regex.finditer(r"\X", text)), len(text))


def to_codepoints(text: str, start: int, end: int, unit: str) -> tuple[int, int] | None:
    """`[start, end)` counted in `unit` as code points; None when it runs past the text or cuts a surrogate pair."""
    if _plain(text, unit):
        return (start, end) if end <= len(text) else None
    points = _boundaries(text, unit)
    if end >= len(points) or points[start] < 0 or points[end] < 0:
        return None
    return points[start], points[end]


def from_codepoints(text: str, start: int, end: int, unit: str) -> tuple[int, int]:
    """Code-point offsets `[start, end)` counted in `unit` (a grapheme cluster cut by them is taken whole)."""
    if _plain(text, unit):
        return start, end
    if unit == UTF16:
        return start + _astral(text, 0, start), end + _astral(text, 0, end)
    points = _boundaries(text, unit)
    return bisect_right(points, start) - 1, bisect_left(points, end)


def _astral(text: str, start: int, end: int) -> int:
    """How many characters of `text[start:end]` lie outside the BMP (two UTF-16 code units each)."""
    return sum(char > "\uffff" for char in text[start:end])


def length(text: str, unit: str) -> int:
    return len(text) if _plain(text, unit) else len(_boundaries(text, unit)) - 1


def _converted(item: AnnotatedText, span: Span, unit: str) -> Span:
    found = to_codepoints(item.text, span.start, span.end, unit)
    if found is None:
        raise UserError(
            f"{item.where()}: span [{span.start}, {span.end}) {span.type} {span.text or ''!r} runs past the text "
            f"({length(item.text, unit)} {_NAMES[unit]}) or cuts a character in two"
        )
    converted = replace(span, start=found[0], end=found[1])
    if span.text is not None and item.text[found[0] : found[1]] != span.text:
        raise _misfit(item, span, unit)
    return converted


_NAMES = {CODEPOINTS: "code points", UTF16: "UTF-16 code units", GRAPHEMES: "grapheme clusters"}


def _misfit(item: AnnotatedText, span: Span, unit: str) -> UserError:
    found = to_codepoints(item.text, span.start, span.end, unit)
    there = "past the end of the text" if found is None else repr(item.text[found[0] : found[1]])
    return UserError(
        f"{item.where()}: span [{span.start}, {span.end}) {span.type}: the text there in {_NAMES[unit]} is {there}, "
        f"the export says {span.text!r}"
    )


def _fits(item: AnnotatedText, span: Span, unit: str) -> bool:
    found = to_codepoints(item.text, span.start, span.end, unit)
    return found is not None and item.text[found[0] : found[1]] == span.text


def _on_words(item: AnnotatedText, words: Sequence[Word], span: Span, unit: str) -> bool:
    """Whether `span`, read in `unit`, is in the text, cuts none of its `words` and covers one."""
    found = to_codepoints(item.text, span.start, span.end, unit)
    if found is None:
        return False
    start, end = found
    cut = any(w.start < start < w.end or w.start < end < w.end for w in words)
    return not cut and any(start <= w.start and w.end <= end for w in words)


def _checked(texts: Sequence[AnnotatedText], path: str) -> Offsets:
    """The unit in which every span text fits; raises naming a misfit when none does, and when units that place
    the spans differently all fit (identical span texts at shifted places), naming --offsets."""
    checkable = [(item, span) for item in texts for span in item.spans if span.text is not None]
    fitting = [unit for unit in UNITS if all(_fits(item, span, unit) for item, span in checkable)]
    if not fitting:
        item, span = next((i, s) for i, s in checkable if not _fits(i, s, CODEPOINTS))
        misfits = {unit: sum(not _fits(i, s, unit) for i, s in checkable) for unit in UNITS}
        counts = ", ".join(f"{n} in {_NAMES[unit]}" for unit, n in misfits.items())
        raise UserError(
            f"{_misfit(item, span, CODEPOINTS)}; no offset unit fits every span of {path} (spans that do not fit: "
            f"{counts} of {len(checkable)})"
        )
    readings: dict[tuple[object, ...], list[str]] = {}
    for unit in fitting:
        readings.setdefault(tuple(to_codepoints(i.text, s.start, s.end, unit) for i, s in checkable), []).append(unit)
    if len(readings) > 1:
        units = " and ".join(_NAMES[units[0]] for units in readings.values())
        raise UserError(
            f"{path}: every span text fits in {units}, which place the spans differently (the same words recur); "
            f"name the unit with --offsets {'|'.join(UNITS)}"
        )
    return Offsets(fitting[0], f"checked: the text of all {len(checkable)} spans that carry one matches")


def _inferred(texts: Sequence[AnnotatedText], path: str) -> Offsets:
    """Code points when every unit gives every span the same offsets; else the unit with strictly the most spans
    on word boundaries (units that agree on every span count as one, the first named)."""
    spans = [(item, span) for item in texts for span in item.spans]
    read = {unit: [to_codepoints(item.text, span.start, span.end, unit) for item, span in spans] for unit in UNITS}
    readings: dict[tuple[object, ...], list[str]] = {}
    for unit in UNITS:
        readings.setdefault(tuple(read[unit]), []).append(unit)
    if len(readings) == 1:
        return Offsets(CODEPOINTS, "no span texts to check, and every unit gives the same offsets")
    differ = [k for k in range(len(spans)) if len({read[unit][k] for unit in UNITS}) > 1]
    words = {id(spans[k][0]): segment(spans[k][0].text) for k in differ}
    fits = {
        units[0]: sum(_on_words(spans[k][0], words[id(spans[k][0])], spans[k][1], units[0]) for k in differ)
        for units in readings.values()
    }
    ranked = sorted(fits, key=lambda unit: -fits[unit])
    named = {units[0]: " = ".join(_NAMES[u] for u in units) for units in readings.values()}
    counts = ", ".join(f"{fits[unit]} in {named[unit]}" for unit in ranked)
    if fits[ranked[0]] > fits[ranked[1]]:
        return Offsets(
            ranked[0], f"inferred from word boundaries: of {len(differ)} spans where the units differ, {counts} fit"
        )
    item, span = spans[differ[0]]
    raise UserError(
        f"{item.where()}: the spans of {path} carry no text to check their offsets, and here the units give "
        f"span [{span.start}, {span.end}) {span.type} different characters; word boundaries do not tell which "
        f"unit is meant ({counts} of {len(differ)} spans fit): name it with --offsets {'|'.join(UNITS)}"
    )


def resolve(texts: Sequence[AnnotatedText], path: str, declared: str = AUTO) -> tuple[list[AnnotatedText], Offsets]:
    """`texts` with their spans in code points, and the unit they were read in (see the module's docstring)."""
    if declared == AUTO:
        carry_text = any(span.text is not None for item in texts for span in item.spans)
        offsets = _checked(texts, path) if carry_text else _inferred(texts, path)
    elif declared in UNITS:
        offsets = Offsets(declared, "named with --offsets")
    else:
        raise UserError(f"the offset unit must be auto or one of {', '.join(UNITS)}, not {declared!r}")
    resolved = [
        replace(item, spans=tuple(_converted(item, span, offsets.unit) for span in item.spans)) for item in texts
    ]
    return resolved, offsets
