"""Unlabelled text for distillation: files of raw text, JSONL or CoNLL, as sentences of words.

Files are read as `bertner pretrain` reads them (pretraining/texts.py: `auto` tells JSONL, CoNLL and plain text
apart, plain text being one text per line or blank-line-separated blocks). A CoNLL file's sentences are taken
as they are (its tags, if any, are ignored); every other text is split into words and sentences as
`bertner predict` splits raw text (data/segment.py, data/sentences.py), each text one document, so that a
teacher or student with document context sees the text's other sentences.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bertner.data.conll import read_conll
from bertner.data.segment import segment
from bertner.data.sentences import split_sentences
from bertner.errors import UserError
from bertner.pretraining.texts import detect_format, read_texts

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class UnlabeledSentences:
    """Sentences without tags, each with its document (documents are numbered across all files)."""

    words: tuple[tuple[str, ...], ...]
    documents: tuple[int, ...]


def read_unlabeled(paths: Sequence[Path], format: str = "auto") -> UnlabeledSentences:
    """The sentences of `paths`, in order.

    Raises:
        UserError: a file cannot be read, holds no text, or is not valid in its format (`path:line: what`).
    """
    words: list[tuple[str, ...]] = []
    documents: list[int] = []
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError as error:
            raise UserError(f"{path}: cannot read the unlabelled text: {error.strerror}") from error
        chosen = detect_format(path, data) if format == "auto" else format
        first = len(words)
        base = documents[-1] + 1 if documents else 0
        if chosen == "conll":
            for sentence in read_conll(path):
                words.append(sentence.words)
                documents.append(base + sentence.document)
        else:
            texts, _ = read_texts([path], chosen)
            for number, text in enumerate(texts):
                found = segment(text.text)
                for span in split_sentences(text.text, found):
                    words.append(tuple(found[index].text for index in span))
                    documents.append(base + number)
        if len(words) == first:
            raise UserError(f"{path}: no words in it, read as {chosen}")
        logger.info("%s: %d unlabelled sentences, read as %s", path, len(words) - first, chosen)
    return UnlabeledSentences(words=tuple(words), documents=tuple(documents))
