"""Offsets in code points, UTF-16 code units and grapheme clusters: converted exactly, checked against span texts,
inferred from word boundaries only when that is unambiguous, and every misfit stopped with both texts."""

from __future__ import annotations

import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from bertner.data.annotations.offsets import from_codepoints, resolve, to_codepoints
from bertner.data.annotations.records import CODEPOINTS, GRAPHEMES, UNITS, UTF16, AnnotatedText, Span
from bertner.data.annotations.words import WordPolicy, tag_text
from bertner.errors import UserError

ASTRAL = ["😀", "🎉", "𠀋", "𪜀", "👍🏽", "👨‍🚒"]  # emoji, CJK extension B, a skin tone, a ZWJ sequence
WORD = st.one_of(
    st.text(st.sampled_from("abcdefgXYZéßжא"), min_size=1, max_size=6),
    st.sampled_from([*ASTRAL, "e\u0301", "Zoe\u0301", "x😀y"]),
)
SEPARATOR = st.sampled_from([" ", "  ", "\r\n", "\n", " \r\n ", "\t"])
Case = tuple[str, list[tuple[int, int]]]


def _in_unit(text: str, index: int, unit: str) -> int:
    """The oracle: a code-point index counted in `unit`, computed directly from the prefix."""
    prefix = text[:index]
    if unit == UTF16:
        return len(prefix.encode("utf-16-le")) // 2
    if unit == GRAPHEMES:
        return len(regex.findall(r"\X", prefix))
    return index


def _recurs(text: str, part: str) -> bool:
    """Whether `part` occurs at two or more places of `text` (overlaps count)."""
    first = text.find(part)
    return first >= 0 and text.find(part, first + 1) >= 0


@st.composite
def annotated(draw: st.DrawFn) -> Case:
    """A text of words and separators, and some of its words (code points) as spans."""
    words = draw(st.lists(WORD, min_size=1, max_size=10))
    text, bounds = "", []
    for index, word in enumerate(words):
        if index:
            text += draw(SEPARATOR)
        bounds.append((len(text), len(text) + len(word)))
        text += word
    chosen = draw(st.lists(st.sampled_from(bounds), min_size=1, max_size=4, unique=True))
    return text, sorted(chosen)


@settings(deadline=None, max_examples=80)
@given(annotated(), st.sampled_from(UNITS))
def test_conversion_matches_the_oracle_and_inverts(case: Case, unit: str) -> None:
    text, spans = case
    for start, end in spans:
        counted = (_in_unit(text, start, unit), _in_unit(text, end, unit))
        assert from_codepoints(text, start, end, unit) == counted
        assert to_codepoints(text, *counted, unit) == (start, end)


@settings(deadline=None, max_examples=80)
@given(annotated(), st.sampled_from(UNITS))
def test_spans_with_their_text_are_read_in_the_unit_that_fits(case: Case, unit: str) -> None:
    text, bounds = case
    spans = tuple(
        Span(start=_in_unit(text, s, unit), end=_in_unit(text, e, unit), type="X", text=text[s:e]) for s, e in bounds
    )
    item = AnnotatedText(text=text, spans=spans, source="f.json", line=3)
    try:
        resolved, offsets = resolve([item], "f.json")
    except UserError as error:
        # Another unit fits too but places a span elsewhere (its text recurs at a shifted place, as a word or inside
        # one): never guessed.
        assert "--offsets" in str(error) and any(_recurs(text, text[s:e]) for s, e in bounds)
        resolved, offsets = resolve([item], "f.json", unit)
    assert [(s.start, s.end) for s in resolved[0].spans] == bounds


@settings(deadline=None, max_examples=80)
@given(annotated())
def test_utf16_offsets_without_texts_map_to_the_right_words_or_are_refused(case: Case) -> None:
    text, bounds = case
    spans = tuple(Span(start=_in_unit(text, s, UTF16), end=_in_unit(text, e, UTF16), type="X") for s, e in bounds)
    item = AnnotatedText(text=text, spans=spans, source="d.jsonl", line=1)
    try:
        resolved, offsets = resolve([item], "d.jsonl")
    except UserError as error:
        # Whole words fit in UTF-16 units; another unit can at most tie with it, and a tie is never guessed.
        assert "--offsets" in str(error) and "d.jsonl:1" in str(error)
        resolved, offsets = resolve([item], "d.jsonl", UTF16)
    assert [(s.start, s.end) for s in resolved[0].spans] == bounds
    tagged = tag_text(resolved[0], 0, WordPolicy())
    words = [w for s in tagged.sentences for w in s.words]
    tags = [t for s in tagged.sentences for t in s.tags]
    entities = [words[i] for i, tag in enumerate(tags) if tag == "B-X"]
    # Each span is one or more whole segment() words; its first word is where an entity starts.
    assert len(entities) == len(bounds) and not tagged.changes


def test_doccano_emoji_example_is_read_in_utf16() -> None:
    # doccano#2290: "firetrucks" is 22-32 in doccano, 19-29 in Python.
    text = "👨🏻‍🚒 firemen drive firetrucks"
    item = AnnotatedText(text=text, spans=(Span(start=22, end=32, type="VEHICLE"),), source="d.jsonl", line=1)
    resolved, offsets = resolve([item, AnnotatedText(text="plain", source="d.jsonl", line=2)], "d.jsonl")
    assert offsets.unit == UTF16 and "inferred" in offsets.how
    assert text[resolved[0].spans[0].start : resolved[0].spans[0].end] == "firetrucks"


def test_span_texts_that_fit_two_readings_are_refused() -> None:
    text = "X\r\nX\r\nX X"
    item = AnnotatedText(text=text, spans=(Span(start=6, end=7, type="A", text="X"),), source="g.json", line=1)
    with pytest.raises(UserError, match=r"fits in code points and grapheme clusters.*--offsets"):
        resolve([item], "g.json")
    assert resolve([item], "g.json", GRAPHEMES)[0][0].spans[0].start == 8


def test_a_crlf_text_with_grapheme_offsets_and_span_texts_is_read_in_graphemes() -> None:
    text = "Zoe\u0301\r\nParis"  # 5 code points + CRLF: graphemes count é and \r\n as one each
    span = Span(start=4, end=9, type="LOC", text="Paris")
    resolved, offsets = resolve([AnnotatedText(text=text, spans=(span,), source="g.json", line=1)], "g.json")
    assert offsets.unit == GRAPHEMES
    assert (resolved[0].spans[0].start, resolved[0].spans[0].end) == (6, 11)


def test_a_file_no_unit_fits_stops_with_the_span_and_both_texts() -> None:
    span = Span(start=0, end=4, type="PER", text="Anne")
    item = AnnotatedText(text="Anna met Bo.", spans=(span,), source="x.json", line=7)
    with pytest.raises(UserError) as caught:
        resolve([item], "x.json")
    message = str(caught.value)
    assert message.startswith("x.json:7: span [0, 4) PER")
    assert "'Anna'" in message and "'Anne'" in message and "no offset unit fits" in message


@pytest.mark.parametrize("unit", ["auto", CODEPOINTS, UTF16])
def test_a_span_past_the_text_is_located(unit: str) -> None:
    item = AnnotatedText(text="short", spans=(Span(start=2, end=9, type="X"),), source="p.jsonl", line=4)
    with pytest.raises(UserError, match=r"^p\.jsonl:4: span \[2, 9\) X .*runs past the text"):
        resolve([item], "p.jsonl", unit)


def test_a_forced_unit_still_checks_span_texts() -> None:
    item = AnnotatedText(text="a 😀 Bo", spans=(Span(start=4, end=6, type="PER", text="Bo"),), source="f", line=1)
    assert resolve([item], "f", CODEPOINTS)[0][0].spans[0].start == 4
    with pytest.raises(UserError, match="the export says 'Bo'"):
        resolve([item], "f", UTF16)
