"""Raw text -> entities with character offsets: the one path behind `bertner predict`, the server and the API.

Each text is split into words with exact offsets (data/segment.py) and into sentences (data/sentences.py),
so a document is tagged a sentence at a time as the model was trained. The sentences of many texts are
tagged together in length-sorted batches, on whichever backend the model was loaded with, and each
entity is mapped back to the characters of its first and last word, so that
`text[entity.start:entity.end] == entity.text` always holds, whatever the tokenizer does to the words.
An entity's score is its probability (inference/tagging.py, decoding/entities.py), calibrated with the
temperature saved beside the model; `min_score` drops the entities scored below it.

    from bertner import Predictor
    predictor = Predictor.load("runs/mine")           # a run, export or ensemble folder, or an HF model
    predictor.predict(["Angela Merkel visited Paris ."])
    for entities in predictor.predict_stream(open("big.txt", encoding="utf-8")):  # bounded memory
        ...
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from bertner.data.segment import Word, segment
from bertner.data.sentences import split_sentences
from bertner.evaluation.spans import Entity
from bertner.inference.ensemble.folder import load_tagging_model
from bertner.inference.tagging import TaggingModel, tag_words


@dataclass(frozen=True)
class TextEntity:
    """An entity in raw text: characters [start, end), its type, and its probability (rounded to 4 digits): the
    model's probability that exactly these words, with this type, are an entity (calibrated where the model is)."""

    start: int
    end: int
    text: str
    type: str
    score: float

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Predictor:
    """Tags raw texts with a loaded model. `batch_size` windows per forward pass; `chunk_size` texts per
    tagging call in `predict_stream` (the memory bound when streaming). Entities whose (reported, rounded)
    score is below `min_score` are left out.

    Batches are small by default: sorted by length they pad little, and an int8 export quantizes its
    activations per batch, so a long sentence widens its batch-mates' ranges (MiniLM-L6 int8 test F1: 84.66 at
    batch 1, 84.62 at 8, 84.50 at 16, 84.45 at 64; PyTorch 84.84). On 2 cores 8 to 32 were equally fast.
    """

    model: TaggingModel
    batch_size: int = 8
    chunk_size: int = 512
    min_score: float = 0.0

    def __post_init__(self) -> None:
        check_min_score(self.min_score)

    @classmethod
    def load(
        cls,
        path: str | Path,
        backend: str = "auto",
        threads: int | None = None,
        batch_size: int = 8,
        chunk_size: int = 512,
        min_score: float = 0.0,
        bf16: bool | str = "auto",
    ) -> Predictor:
        """A predictor on the model at `path`: a run folder, an export folder, an ensemble folder, or an HF
        token-classification model (folder or hub id). `backend` is auto, torch or onnx, and `bf16` auto, True or False
        (see inference/load.py)."""
        if batch_size < 1 or chunk_size < 1:
            raise ValueError(f"batch_size and chunk_size must be at least 1, not {batch_size} and {chunk_size}")
        check_min_score(min_score)
        return cls(load_tagging_model(path, backend, threads, bf16), batch_size, chunk_size, min_score)

    def predict(self, texts: Sequence[str], progress: bool = False) -> list[list[TextEntity]]:
        """The entities of each text, in order of appearance."""
        words = [segment(text) for text in texts]
        sentences = [
            (t, span)
            for t, (text, ws) in enumerate(zip(texts, words, strict=True))
            for span in split_sentences(text, ws)
        ]
        # Each text is one document: a model trained with document context sees the text's other sentences.
        tagged = tag_words(
            self.model,
            [[words[t][i].text for i in span] for t, span in sentences],
            self.batch_size,
            progress,
            documents=[t for t, _ in sentences],
        )
        found: list[list[TextEntity]] = [[] for _ in texts]
        for (t, span), entities, scores in zip(sentences, tagged.entities, tagged.scores, strict=True):
            found[t].extend(_entities(texts[t], words[t][span.start : span.stop], entities, scores))
        if self.min_score > 0.0:
            found = [above(entities, self.min_score) for entities in found]
        return found

    def predict_stream(self, texts: Iterable[str]) -> Iterator[list[TextEntity]]:
        """`predict` over an iterable of any length, `chunk_size` texts at a time; results come in input order."""
        iterator = iter(texts)
        while chunk := list(itertools.islice(iterator, self.chunk_size)):
            yield from self.predict(chunk)


def above(entities: Sequence[TextEntity], min_score: float) -> list[TextEntity]:
    """The entities whose score is at least `min_score`, in order."""
    return [entity for entity in entities if entity.score >= min_score]


def check_min_score(min_score: float) -> None:
    if not 0.0 <= min_score <= 1.0:
        raise ValueError(f"min_score must be a probability in [0, 1], not {min_score}")


def _entities(
    text: str, words: Sequence[Word], entities: Sequence[Entity], scores: Sequence[float]
) -> list[TextEntity]:
    found = []
    for entity, probability in zip(entities, scores, strict=True):
        start, end = words[entity.start].start, words[entity.end - 1].end
        found.append(TextEntity(start, end, text[start:end], entity.type, round(probability, 4)))
    return found
