"""Raw text -> words with character offsets, tokenised the way CoNLL-2003 is.

The `tokenizers` library does the splitting (whitespace, then a word pattern), so offsets are exact
character positions into the input: `text[word.start:word.end] == word.text` always holds.
The pattern keeps abbreviations (`U.S.`), numbers and dates (`3.5`, `1996-08-22`) and hyphenated or
apostrophe words (`New-York`, `Zürich's`) whole, as CoNLL does, and isolates other punctuation.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from tokenizers import Regex, pre_tokenizers

# Combining marks (\p{M}) belong to their letter: without them a decomposed `Zürich` or any Devanagari
# word would be cut apart at every accent or vowel sign.
_WORD_PATTERN = r"(?:\p{L}\p{M}*\.){2,}|\p{N}+(?:[.,:/-]\p{N}+)*|[\p{L}\p{M}\p{N}_]+(?:['’\-&][\p{L}\p{M}\p{N}_]+)*|\S"


@dataclass(frozen=True)
class Word:
    text: str
    start: int
    end: int


@cache
def _splitter() -> pre_tokenizers.PreTokenizer:
    return pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Split(Regex(_WORD_PATTERN), behavior="isolated")]
    )


def segment(text: str) -> list[Word]:
    """Split `text` into words with character offsets (end exclusive)."""
    return [Word(piece, start, end) for piece, (start, end) in _splitter().pre_tokenize_str(text)]
