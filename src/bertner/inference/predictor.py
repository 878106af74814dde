"""Raw text -> entities with character offsets.

Texts are split into words with exact offsets (data/segment.py), tagged at word level in length-sorted
batches, and each entity is mapped back to the characters of its first and last word, so that
`text[entity.start:entity.end] == entity.text` always holds, whatever the tokenizer does to the words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bertner.data.segment import Word, segment
from bertner.evaluation.spans import chunks
from bertner.inference.evaluate import predict_tags
from bertner.model.build import LoadedModel, load_model


@dataclass(frozen=True)
class TextEntity:
    """An entity in raw text: characters [start, end), its type, and the mean word probability."""

    start: int
    end: int
    text: str
    type: str
    score: float

    def to_dict(self) -> dict[str, object]:
        return {
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "type": self.type,
            "score": self.score,
        }


@dataclass(frozen=True)
class Predictor:
    model: LoadedModel
    batch_size: int = 64

    @classmethod
    def load(cls, run_dir: Path, batch_size: int = 64) -> Predictor:
        return cls(load_model(run_dir), batch_size)

    def predict(self, texts: Sequence[str], progress: bool = False) -> list[list[TextEntity]]:
        """The entities of each text, in order of appearance."""
        words = [segment(text) for text in texts]
        tags, confidences, _ = predict_tags(
            self.model, [[w.text for w in ws] for ws in words], self.batch_size, progress
        )
        return [_entities(text, ws, t, c) for text, ws, t, c in zip(texts, words, tags, confidences, strict=True)]


def _entities(text: str, words: Sequence[Word], tags: Sequence[str], confidences: Sequence[float]) -> list[TextEntity]:
    found = []
    for entity in chunks(tags):
        start, end = words[entity.start].start, words[entity.end - 1].end
        mean = sum(confidences[entity.start : entity.end]) / (entity.end - entity.start)
        found.append(TextEntity(start, end, text[start:end], entity.type, round(mean, 4)))
    return found
