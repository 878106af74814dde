"""Spans -> IOB2 on words: each misaligned and overlap policy does what it says (against brute-force oracles over
segment()'s words), whitespace is trimmed, and the entities are always the spans read minus the spans dropped."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bertner.data.annotations.records import AnnotatedText, Span
from bertner.data.annotations.words import WordPolicy, tag_text, words_of
from bertner.data.segment import segment
from bertner.errors import UserError

TEXT = st.lists(
    st.one_of(st.text(st.sampled_from("abcXY"), min_size=1, max_size=5), st.sampled_from([",", ".", "(", "'s"])),
    min_size=1,
    max_size=10,
).flatmap(
    lambda words: st.lists(st.sampled_from([" ", "", "  ", "\n"]), min_size=len(words), max_size=len(words)).map(
        lambda gaps: "".join(g + w for g, w in zip(gaps, words, strict=True)) + " "
    )
)


@st.composite
def spans_on(draw: st.DrawFn, text: str, count: int = 4) -> list[Span]:
    spans = []
    for _ in range(draw(st.integers(0, count))):
        start = draw(st.integers(0, len(text) - 1))
        end = draw(st.integers(start + 1, len(text)))
        spans.append(Span(start=start, end=end, type=draw(st.sampled_from(["A", "B"]))))
    return spans


Case = tuple[str, list[Span]]
CASES = TEXT.flatmap(lambda text: st.tuples(st.just(text), spans_on(text)))


def _trimmed(text: str, span: Span) -> tuple[int, int]:
    start, end = span.start, span.end
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _touched(text: str, start: int, end: int) -> list[tuple[int, int]]:
    return [(w.start, w.end) for w in segment(text) if w.start < end and start < w.end]


def _entities(item: AnnotatedText, policy: WordPolicy) -> tuple[list[tuple[int, int, str]], object]:
    """The entities tagged, as character ranges over the text, and the TaggedText."""
    tagged = tag_text(item, 0, policy)
    words, _ = words_of(item.text, policy.words)
    tags = [tag for sentence in tagged.sentences for tag in sentence.tags]
    found: list[tuple[int, int, str]] = []
    for index, tag in enumerate(tags):
        if tag.startswith("B-"):
            found.append((words[index].start, words[index].end, tag[2:]))
        elif tag.startswith("I-"):
            found[-1] = (found[-1][0], words[index].end, found[-1][2])
    return found, tagged


def _cuts(text: str, start: int, end: int) -> bool:
    return any(a < start < b or a < end < b for a, b in _touched(text, start, end))


@settings(deadline=None, max_examples=150)
@given(CASES, st.sampled_from(["expand", "contract", "skip"]), st.sampled_from(["longest", "first"]))
def test_every_span_is_an_entity_or_listed_as_dropped(case: Case, misaligned: str, overlaps: str) -> None:
    text, spans = case
    item = AnnotatedText(text=text, spans=tuple(spans), source="t", line=1)
    entities, tagged = _entities(item, WordPolicy(misaligned=misaligned, overlaps=overlaps))
    dropped = [c for c in tagged.changes if c.kept is None]
    assert len(entities) == len(spans) - len(dropped)
    kept = sorted(c.kept for c in tagged.changes if c.kept is not None)
    # Every span changed but kept is an entity exactly where the change says.
    assert set(kept) <= {(s, e) for s, e, _ in entities}
    # Kept entities never share a word.
    assert all(a[1] <= b[0] for a, b in zip(entities, entities[1:], strict=False))


@settings(deadline=None, max_examples=150)
@given(CASES)
def test_expand_widens_to_the_words_touched(case: Case) -> None:
    text, spans = case
    spans = spans[:1]  # one span: no overlaps to resolve
    entities, tagged = _entities(AnnotatedText(text=text, spans=tuple(spans)), WordPolicy(misaligned="expand"))
    for span in spans:
        start, end = _trimmed(text, span)
        if start == end:
            assert not entities and tagged.changes[0].actions == ("blank",)
            continue
        touched = _touched(text, start, end)
        assert entities == [(touched[0][0], touched[-1][1], span.type)]
        actions = tagged.changes[0].actions if tagged.changes else ()
        assert ("expanded" in actions) == _cuts(text, start, end)
        assert ("trimmed" in actions) == ((start, end) != (span.start, span.end))


@settings(deadline=None, max_examples=150)
@given(CASES)
def test_contract_narrows_to_the_words_covered_whole(case: Case) -> None:
    text, spans = case
    spans = spans[:1]
    entities, tagged = _entities(AnnotatedText(text=text, spans=tuple(spans)), WordPolicy(misaligned="contract"))
    for span in spans:
        start, end = _trimmed(text, span)
        inside = [(a, b) for a, b in _touched(text, start, end) if start <= a and b <= end]
        if start == end or not inside:
            assert not entities and tagged.changes[0].kept is None
        else:
            assert entities == [(inside[0][0], inside[-1][1], span.type)]


@settings(deadline=None, max_examples=150)
@given(CASES)
def test_skip_drops_exactly_the_spans_that_cut_a_word_and_error_raises_for_them(case: Case) -> None:
    text, spans = case
    spans = spans[:1]
    item = AnnotatedText(text=text, spans=tuple(spans), source="f.json", line=9)
    entities, tagged = _entities(item, WordPolicy(misaligned="skip"))
    cutting = [s for s in spans if _trimmed(text, s)[0] < _trimmed(text, s)[1] and _cuts(text, *_trimmed(text, s))]
    assert [c.actions[-1] for c in tagged.changes if c.kept is None and "skipped" in c.actions] == ["skipped"] * len(
        cutting
    )
    if cutting:
        with pytest.raises(UserError, match=r"^f\.json:9: span \[\d+, \d+\) \w+ .* cuts through the word"):
            tag_text(item, 0, WordPolicy())
    else:
        assert _entities(item, WordPolicy())[0] == entities


@st.composite
def word_spans(draw: st.DrawFn) -> tuple[str, list[Span]]:
    """Spans that fit words exactly (so only overlaps are at stake)."""
    text = draw(TEXT)
    words = segment(text)
    spans = []
    for _ in range(draw(st.integers(0, 5))):
        first = draw(st.integers(0, len(words) - 1))
        last = draw(st.integers(first, min(first + 3, len(words) - 1)))
        spans.append(Span(start=words[first].start, end=words[last].end, type=draw(st.sampled_from(["A", "B"]))))
    return text, spans


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


@settings(deadline=None, max_examples=150)
@given(word_spans(), st.sampled_from(["longest", "first"]))
def test_overlap_policies_keep_the_longest_or_the_first(case: Case, overlaps: str) -> None:
    text, spans = case
    item = AnnotatedText(text=text, spans=tuple(spans))
    entities, tagged = _entities(item, WordPolicy(overlaps=overlaps))
    kept = [(s, e) for s, e, _ in entities]
    for change in tagged.changes:
        assert change.kept is None and change.actions[0] in ("overlap", "duplicate")
        rivals = [k for k in kept if _overlap(k, (change.start, change.end))]
        assert rivals  # dropped only for a kept span it shares words with
        if overlaps == "longest":
            assert any(b - a >= change.end - change.start for a, b in rivals)
        else:
            assert any(a <= change.start for a, _ in rivals)
    distinct = {(s.start, s.end, s.type) for s in spans}
    clash = any(_overlap((a[0], a[1]), (b[0], b[1])) for a in distinct for b in distinct if a != b)
    if clash:
        with pytest.raises(UserError, match="share words"):
            tag_text(item, 0, WordPolicy())
    else:
        assert len(entities) == len(distinct)


def test_whitespace_at_the_edges_is_trimmed_and_recorded() -> None:
    item = AnnotatedText(text="Ask Nora Lind\r\n today", spans=(Span(start=3, end=15, type="PER"),), line=2)
    entities, tagged = _entities(item, WordPolicy())
    assert entities == [(4, 13, "PER")]
    assert [(c.actions, c.kept) for c in tagged.changes] == [(("trimmed",), (4, 13))]


def test_a_span_across_a_sentence_boundary_joins_the_sentences() -> None:
    text = "They met at Acme . Bar Corp today . Then they left ."
    start = text.index("Acme")
    item = AnnotatedText(text=text, spans=(Span(start=start, end=text.index(" today"), type="ORG"),))
    assert len(words_of(text, "segment")[1]) == 3
    tagged = tag_text(item, 0, WordPolicy())
    assert tagged.joined == 1 and len(tagged.sentences) == 2
    assert tagged.sentences[0].tags[3:7] == ("B-ORG", "I-ORG", "I-ORG", "I-ORG")
