"""CoNLL sentences <-> annotated texts, by a detokenisation defined here.

CoNLL -> texts: each document (the sentences after a `-DOCSTART-` line) becomes one text, its sentences joined
by a blank line (`\\n\\n`) and each sentence's words by single spaces; a file without `-DOCSTART-` lines gives
one text per sentence. Each entity (an IOB2 chunk) becomes the span from its first word's first character to its
last word's last. Read back with `whitespace` words (words.py: a line is a sentence, whitespace separates words),
a text gives exactly its words and tags again, since CoNLL words hold no whitespace; with `segment` words a
blank line always ends a sentence (data/sentences.py), so the sentences are CoNLL's, some split further.

Texts -> CoNLL: the sentences of words.py written as `word tag` lines, a blank line after each sentence, and a
`-DOCSTART- O` line before each text (each task or document), so document context survives.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bertner.data.annotations.records import AnnotatedText, Span
from bertner.data.conll import DOCSTART, Sentence
from bertner.errors import UserError


def entity_spans(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """The entities of IOB2 `tags` as word ranges `(first, last, type)`, last exclusive."""
    found: list[tuple[int, int, str]] = []
    for index, tag in enumerate(tags):
        if tag.startswith("B-") or (tag.startswith("I-") and (not found or found[-1][1] != index)):
            found.append((index, index + 1, tag[2:]))
        elif tag.startswith("I-"):
            first, _, entity = found[-1]
            found[-1] = (first, index + 1, entity)
    return found


def _documents(sentences: Sequence[Sentence]) -> list[list[Sentence]]:
    if not any(s.starts_document for s in sentences):
        return [[s] for s in sentences]
    groups: list[list[Sentence]] = []
    for sentence in sentences:
        if not groups or sentence.document != groups[-1][-1].document:
            groups.append([])
        groups[-1].append(sentence)
    return groups


def texts_from_sentences(sentences: Sequence[Sentence]) -> list[AnnotatedText]:
    """One text per document (or per sentence, where the file marks no documents), with its entities as spans."""
    texts = []
    for group in _documents(sentences):
        parts: list[str] = []
        spans: list[Span] = []
        offset = 0
        for sentence in group:
            starts = []
            for word in sentence.words:
                starts.append(offset)
                offset += len(word) + 1  # the space after it
            offset += 1  # the last word's "space" was the first of the two line breaks after the sentence
            parts.append(" ".join(sentence.words))
            for first, last, entity in entity_spans(sentence.tags):
                end = starts[last - 1] + len(sentence.words[last - 1])
                spans.append(Span(start=starts[first], end=end, type=entity))
        text = "\n\n".join(parts)
        spans = [Span(start=s.start, end=s.end, type=s.type, text=text[s.start : s.end]) for s in spans]
        texts.append(AnnotatedText(text=text, spans=tuple(spans), source=group[0].source, line=group[0].line))
    return texts


def conll_lines(documents: Iterable[Sequence[Sentence]]) -> Iterable[str]:
    """`word tag` lines of each document's sentences, each document opened by a `-DOCSTART- O` line."""
    for sentences in documents:
        yield f"{DOCSTART} O\n\n"
        for sentence in sentences:
            for word, tag in zip(sentence.words, sentence.tags, strict=True):
                if any(char.isspace() for char in tag):
                    raise UserError(
                        f"{sentence.where()}: the type in {tag!r} holds whitespace, which a CoNLL column cannot; "
                        "rename it"
                    )
                yield f"{word} {tag}\n"
            yield "\n"
