"""Word-shape ids: the capitalisation signal that uncased encoders throw away.

CoNLL-2003 is mostly newswire in which names are capitalised; an uncased encoder (MiniLM, MPNet here)
sees `Bush` and `bush` as one token. A shape id per word, added to the input embeddings by the model
(`ModelConfig.case_features`), gives that signal back cheaply.
"""

from __future__ import annotations

from functools import lru_cache

PAD_SHAPE = 0
SHAPES = ("pad", "lower", "title", "upper", "mixed", "digit", "other")
NUM_SHAPES = len(SHAPES)


# Cached: a corpus repeats its words, and shapes are computed for every word that is encoded.
@lru_cache(maxsize=1 << 16)
def word_shape(word: str) -> int:
    """The shape id of a word: lower, Title, UPPER, mIxed, has-digit or other (punctuation, symbols)."""
    letters = [c for c in word if c.isalpha()]
    if any(c.isdigit() for c in word):
        return SHAPES.index("digit")
    if not letters:
        return SHAPES.index("other")
    if all(c.islower() for c in letters):
        return SHAPES.index("lower")
    if all(c.isupper() for c in letters):
        # A single capital letter (`A`, `I`) reads as Title case rather than an acronym.
        return SHAPES.index("upper" if len(letters) > 1 else "title")
    if letters[0].isupper() and all(c.islower() for c in letters[1:]):
        return SHAPES.index("title")
    return SHAPES.index("mixed")
