"""CoNLL -> spans -> CoNLL is the identity on words and tags: in memory, and through every span file format."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bertner.config import DataConfig
from bertner.data.annotations.conll_text import entity_spans, texts_from_sentences
from bertner.data.annotations.read import ReadOptions, read_texts, tag_texts
from bertner.data.annotations.words import WHITE_SPACE, WordPolicy
from bertner.data.annotations.write import SPAN_TARGETS, convert, span_lines
from bertner.data.conll import Sentence, read_conll
from bertner.errors import UserError

# Words as a CoNLL file can hold them: no whitespace; astral characters and marks included.
WORDS = st.text(
    st.characters(codec="utf-8", exclude_characters="".join(WHITE_SPACE) + "\x1c\x1d\x1e\x1f\x85"),
    min_size=1,
    max_size=6,
).filter(lambda word: word != "-DOCSTART-" and not any(c.isspace() for c in word))
TYPES = st.sampled_from(["PER", "LOC", "ORG", "MISC"])


@st.composite
def iob2_tags(draw: st.DrawFn, length: int) -> list[str]:
    tags: list[str] = []
    for _ in range(length):
        choice = draw(st.sampled_from(["O", "B", "I"]))
        if choice == "I" and tags and tags[-1] != "O":
            tags.append("I-" + tags[-1][2:])
        elif choice == "O":
            tags.append("O")
        else:
            tags.append("B-" + draw(TYPES))
    return tags


@st.composite
def documents(draw: st.DrawFn) -> list[Sentence]:
    sentences = []
    for document in range(draw(st.integers(1, 3))):
        for index in range(draw(st.integers(1, 3))):
            words = draw(st.lists(WORDS, min_size=1, max_size=8))
            tags = draw(iob2_tags(len(words)))
            sentences.append(Sentence(tuple(words), tuple(tags), document, index == 0, "mem", 1))
    return sentences


def _pairs(sentences: list[Sentence]) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    return [(s.words, s.tags) for s in sentences]


@settings(deadline=None, max_examples=60)
@given(documents())
def test_conll_to_texts_and_back_with_whitespace_words_is_the_identity(sentences: list[Sentence]) -> None:
    texts = texts_from_sentences(sentences)
    assert len(texts) == len({s.document for s in sentences})
    # Every span covers exactly its entity's words, joined by single spaces.
    for item in texts:
        assert all(item.text[span.start : span.end] == span.text for span in item.spans)
    documents_back, changes, joined = tag_texts(texts, WordPolicy(words="whitespace"))
    assert not changes and joined == 0
    back = [s for document in documents_back for s in document]
    assert _pairs(back) == _pairs(sentences)
    assert [s.starts_document for s in back] == [s.starts_document for s in sentences]


@settings(deadline=None, max_examples=60)
@given(documents())
def test_conll_to_texts_and_back_with_predict_words_keeps_every_entity(sentences: list[Sentence]) -> None:
    # segment() may split a CoNLL word ("'s", "--") and sentences.py may split a sentence, but a span starts and
    # ends at spaces, so no span cuts a word, and a blank line ends every CoNLL sentence. (A split inside an
    # entity, after "!" in "!0", is undone: `joined`.)
    documents_back, changes, _ = tag_texts(texts_from_sentences(sentences), WordPolicy())
    assert not changes
    back = [s for document in documents_back for s in document]
    assert len(back) >= len(sentences)
    types = sorted(t[2:] for s in sentences for t in s.tags if t.startswith("B-"))
    assert sorted(t[2:] for s in back for t in s.tags if t.startswith("B-")) == types


def test_entity_spans_reads_iob2_chunks() -> None:
    tags = ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC"]
    assert entity_spans(tags) == [(0, 2, "PER"), (3, 4, "LOC"), (4, 6, "LOC")]


@pytest.mark.parametrize("to", SPAN_TARGETS)
@settings(deadline=None, max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sentences=documents())
def test_conll_through_each_file_format_and_back_is_the_identity(
    tmp_path: Path, to: str, sentences: list[Sentence]
) -> None:
    path = tmp_path / f"round.{'json' if to == 'labelstudio' else 'jsonl'}"
    path.write_text("".join(span_lines(texts_from_sentences(sentences), to)), encoding="utf-8")
    try:
        _, texts, _ = read_texts(path, ReadOptions())
    except UserError as error:
        # doccano writes no span texts: its UTF-16 offsets are inferred from word boundaries, where the spans
        # written (whole words) all fit in UTF-16 units. Another unit can at most tie, and a tie is refused.
        assert to == "doccano" and "--offsets" in str(error)
        _, texts, _ = read_texts(path, ReadOptions(offsets="utf16"))
    documents_back, changes, _ = tag_texts(texts, WordPolicy(words="whitespace"))
    assert not changes
    assert _pairs([s for document in documents_back for s in document]) == _pairs(sentences)


def test_the_tiny_conll_files_survive_convert_both_ways(tiny_data: Path, tmp_path: Path) -> None:
    config = DataConfig(words="whitespace")
    for name in ("train.conll", "dev.conll", "test.conll"):
        exported = convert(tiny_data / name, "labelstudio", config, conll=True)
        path = tmp_path / f"{name}.json"
        path.write_text("".join(exported.parts["all"]), encoding="utf-8")
        back = convert(path, "conll", config, conll=False)
        (tmp_path / name).write_text("".join(back.parts["all"]), encoding="utf-8")
        assert _pairs(read_conll(tmp_path / name)) == _pairs(read_conll(tiny_data / name))
        assert back.report.entities == exported.report.entities == back.report.spans
