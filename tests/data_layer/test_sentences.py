"""Sentence splitting of raw text: the rules on hand-made cases, and a partition of the words on any text."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bertner.data.segment import segment
from bertner.data.sentences import split_sentences


def _sentences(text: str) -> list[str]:
    words = segment(text)
    return [text[words[r.start].start : words[r.stop - 1].end] for r in split_sentences(text, words)]


def test_a_news_paragraph_splits_at_each_full_stop() -> None:
    text = "Germany beat France 2-1 on Sunday. The match was in Berlin! Was it fair? Fans said yes."
    assert _sentences(text) == [
        "Germany beat France 2-1 on Sunday.",
        "The match was in Berlin!",
        "Was it fair?",
        "Fans said yes.",
    ]


def test_abbreviations_initials_and_lower_case_continuations_do_not_split() -> None:
    text = "Mr. Smith met J. R. Ewing in the U.S. on Jan. 5 and left. then he came back."
    assert _sentences(text) == [text]


def test_closing_quotes_stay_with_their_sentence_and_digits_open_one() -> None:
    text = '"We won." 1996 was a good year.) (Reuters) said so.'
    assert _sentences(text) == ['"We won."', "1996 was a good year.)", "(Reuters) said so."]


def test_a_blank_line_always_ends_a_sentence_and_a_single_newline_does_not() -> None:
    text = "LONDON 1996-08-30\n\nWest Indian all-rounder Phil Simmons\ntook four for 38"
    assert _sentences(text) == ["LONDON 1996-08-30", "West Indian all-rounder Phil Simmons\ntook four for 38"]


def test_no_words_no_sentences() -> None:
    assert split_sentences("  \n ", segment("  \n ")) == []


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab A.!?\"')\n 1")), max_size=80) | st.text(max_size=80))
def test_sentences_partition_the_words_in_order(text: str) -> None:
    words = segment(text)
    sentences = split_sentences(text, words)
    assert [i for r in sentences for i in r] == list(range(len(words)))
    assert all(len(r) > 0 for r in sentences)
