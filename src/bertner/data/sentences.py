"""Words of a raw text -> sentences, so that a document is tagged a sentence at a time, as CoNLL was annotated.

A small rule set over the words of data/segment.py, not a library: the words already carry exact
character offsets, and the rules below are what CoNLL-style newswire needs. pysbd, the best-known
rule-based splitter on PyPI, works on characters, had its last release in 2021, and takes seconds on a
100k-character article; these rules take milliseconds and are tested in tests/data_layer/test_sentences.py.

A sentence ends after a word made only of `.`, `!`, `?` or `…` (and any closing quotes or brackets right
after it) when the next word opens like a sentence (an upper-case letter, a digit, an opening quote or
bracket), unless the `.` ends a known abbreviation (`Mr.`, `Jan.`) or a single-letter initial (`J. Smith`).
A blank line always ends a sentence. Abbreviations with inner dots (`U.S.`) are one word already.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bertner.data.segment import Word

_TERMINAL = frozenset(".!?…")
_CLOSERS = frozenset("\"')]}’”»")
_OPENERS = frozenset("\"'([{‘“«")
_BLANK_LINE = re.compile(r"\n[^\S\n]*\n")
_ABBREVIATIONS = frozenset(
    {
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "st",
        "jr",
        "sr",
        "vs",
        "etc",
        "gen",
        "gov",
        "sen",
        "rep",
        "lt",
        "col",
        "capt",
        "sgt",
        "cmdr",
        "adm",
        "maj",
        "rev",
        "hon",
        "pres",
        "inc",
        "co",
        "corp",
        "ltd",
        "bros",
        "no",
        "nos",
        "vol",
        "fig",
        "approx",
        "dept",
        "est",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "mt",
        "ft",
        "ave",
        "blvd",
        "rd",
    }
)


def _is_terminal(word: str) -> bool:
    return all(char in _TERMINAL for char in word)


def _opens_sentence(word: str) -> bool:
    first = word[0]
    return first.isupper() or first.isdigit() or first in _OPENERS


def _abbreviation_dot(words: Sequence[Word], index: int) -> bool:
    """Whether the `.` at `index` closes an abbreviation or an initial written against it (`Mr.`, `J.`)."""
    if words[index].text != "." or index == 0 or words[index - 1].end != words[index].start:
        return False
    before = words[index - 1].text
    return before.lower() in _ABBREVIATIONS or (len(before) == 1 and before.isalpha())


def split_sentences(text: str, words: Sequence[Word]) -> list[range]:
    """The sentences of `text` as ranges over `words` (its words in order, as data/segment.py gives them).

    Every word is in exactly one sentence, and sentences are in order; no sentence is empty.
    """
    sentences: list[range] = []
    start = 0
    index = 0
    while index < len(words):
        end = index + 1
        if _is_terminal(words[index].text) and not _abbreviation_dot(words, index):
            while end < len(words) and all(char in _CLOSERS for char in words[end].text):
                end += 1
            breaks = end == len(words) or _opens_sentence(words[end].text)
        else:
            breaks = False
        if not breaks and end < len(words):
            breaks = bool(_BLANK_LINE.search(text, words[end - 1].end, words[end].start))
        if breaks:
            sentences.append(range(start, end))
            start = end
        index = end
    if start < len(words):
        sentences.append(range(start, len(words)))
    return sentences
