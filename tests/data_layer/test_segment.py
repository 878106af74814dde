"""Raw text -> words with character offsets: a hypothesis property over any text, and hand cases for the
CoNLL-style tokens (abbreviations, dates, hyphenated words, combining marks)."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bertner.data.segment import Word, segment

# The Unicode White_Space property (PropList.txt). Python's str.isspace() also counts U+001C..U+001F, which
# Unicode classes as control characters, not spaces; segment keeps those as words of their own.
WHITE_SPACE = frozenset(
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)

_TRICKY = [*" \t\n\r\x0b\x0c\x85\xa0\u2028\u3000.,-'’&:/_😀\u0301\u0308\u200bé1Aa", "\r\n", "👍🏽", "U.S.", "3.5"]
# Any code point a str read from UTF-8 can hold (no lone surrogates), mixed with separators, marks and emoji.
TEXTS = st.lists(st.one_of(st.characters(codec="utf-8"), st.sampled_from(_TRICKY)), max_size=40).map("".join)


@settings(deadline=None)  # the machine may be busy; speed is not what is tested
@given(TEXTS)
def test_offsets_are_exact_ordered_and_cover_all_non_space(text: str) -> None:
    words = segment(text)
    covered = set()
    previous_end = 0
    for word in words:
        assert text[word.start : word.end] == word.text
        assert word.text
        assert previous_end <= word.start < word.end
        assert not WHITE_SPACE & set(word.text)
        covered.update(range(word.start, word.end))
        previous_end = word.end
    # Nothing but whitespace is dropped.
    assert covered == {k for k, c in enumerate(text) if c not in WHITE_SPACE}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("U.S.", ["U.S."]),
        ("1996-08-22", ["1996-08-22"]),
        ("New-York,", ["New-York", ","]),
        ("the U.S. economy grew 3.5%.", ["the", "U.S.", "economy", "grew", "3.5", "%", "."]),
        ("O'Neil (AT&T) said:", ["O'Neil", "(", "AT&T", ")", "said", ":"]),
        ("Zürich’s 10:30 1,000", ["Zürich’s", "10:30", "1,000"]),
        ("", []),
        (" \t\n ", []),
        # Combining marks stay with their letter: decomposed (NFD) Latin, Devanagari vowel signs.
        (unicodedata.normalize("NFD", "Zürich café"), [unicodedata.normalize("NFD", "Zürich"), "cafe\u0301"]),
        ("नमस्ते दुनिया", ["नमस्ते", "दुनिया"]),
        (unicodedata.normalize("NFD", "é.ü. x"), [unicodedata.normalize("NFD", "é.ü."), "x"]),
    ],
)
def test_hand_cases(text: str, expected: list[str]) -> None:
    words = segment(text)
    assert [w.text for w in words] == expected
    assert all(text[w.start : w.end] == w.text for w in words)


def test_offsets_count_characters_not_bytes() -> None:
    assert segment("😀 Paris\tné") == [Word("😀", 0, 1), Word("Paris", 2, 7), Word("né", 8, 10)]


def test_lone_surrogate_is_a_value_error() -> None:
    # Possible in a str (json.loads('"\\ud800"')), but not Unicode text; the error names the position.
    with pytest.raises(ValueError, match="position 2"):
        segment("ab\ud800")
