"""bertner as a spaCy pipeline component: `nlp.add_pipe("bertner", config={"model": "runs/mine"})`.

The factory is registered under the `spacy_factories` entry point (pyproject.toml), so spaCy finds it without an
import. A doc's entities are `Predictor.predict`'s on `doc.text`, exactly as `bertner predict` finds them: the text
is split into sentences and windows by bertner itself, so a long doc is tagged whole, never truncated.

- `doc.ents` is set to them (replacing entities an earlier pipe set), each with `span._.bertner_score`, the mean
  probability of its words.
- `doc.spans[spans_key]` ("bertner"; "" for none) holds every entity with attrs `scores`, `char_spans` (bertner's
  own `[start, end)`, which may differ from the tokens') and the doc's counts `realigned`, `unaligned`, `overlapping`.
- Alignment. bertner's words are not spaCy's tokens ("U.S.-based" is three bertner words, one spaCy token), so an
  entity's characters may end inside a token. `alignment_mode` says what then happens, as in `Doc.char_span`:
  `expand` (the default) widens it to the tokens it touches (counted as realigned), `contract` narrows it to the
  tokens inside it (realigned; left out and counted as unaligned when none is), `strict` leaves it out (unaligned).
  Two entities that widen onto the same token: the first is kept in `doc.ents`, the other counted as overlapping and
  kept in the span group only. The counts add up over the component's life in `component.counts`.
- `nlp.pipe(texts, batch_size=N)`: one `Predictor.predict` call per N docs (sentences of all of them batched).
- `nlp.to_disk(DIR)` stores a copy of the model's files in `DIR/<pipe name>/model/` (not its checkpoints, logs or
  reports), so the saved pipeline is self-contained; `spacy.load(DIR)` uses that copy, whatever the config's `model`
  says. An HF hub id is not copied: the loaded pipeline names it again. An ensemble made without `--copy` still
  points at its members' folders.
- The model is loaded on the first doc, not when the pipe is added or loaded.
"""

from __future__ import annotations

import logging
import shutil
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bertner.errors import MissingExtraError, UserError
from bertner.inference.predictor import Predictor, TextEntity
from bertner.layout import CUSTOM_ENCODER_DIR, LOCK_FILENAME, MEMBERS_DIR

try:
    from spacy.language import Language
    from spacy.tokens import Doc, Span, SpanGroup
    from spacy.util import minibatch
except ImportError as error:  # an extra
    raise MissingExtraError(f"the spaCy component needs spaCy: pip install 'bertner[spacy]' ({error})") from error

logger = logging.getLogger(__name__)

FACTORY = "bertner"
SCORE_EXTENSION = "bertner_score"
MODEL_DIR = "model"
"""Where `to_disk` puts the copy of the model, inside the component's folder of the saved pipeline."""
ALIGNMENT_MODES = ("expand", "contract", "strict")
COUNTS = ("entities", "realigned", "unaligned", "overlapping")
_MODEL_FOLDERS = (CUSTOM_ENCODER_DIR, MEMBERS_DIR)
"""The folders a model loads from (a custom layout's encoder, an ensemble's copied members); the others of a run
(checkpoints/, tensorboard/, eval/) are records of training."""

if not Span.has_extension(SCORE_EXTENSION):
    Span.set_extension(SCORE_EXTENSION, default=None)


class EntityPredictor(Protocol):
    """What the component needs of a Predictor (a test may wrap one to count its calls)."""

    def predict(self, texts: Sequence[str]) -> list[list[TextEntity]]: ...


@dataclass(frozen=True)
class AlignedEntities:
    """A doc's entities on its tokens: `spans` (every aligned entity), `scores` and bertner's `char_spans` in the
    same order, and which of them go into `doc.ents` (no two overlap)."""

    spans: tuple[Span, ...]
    scores: tuple[float, ...]
    char_spans: tuple[tuple[int, int], ...]
    ents: tuple[Span, ...]
    counts: dict[str, int]


def align(doc: Doc, entities: Sequence[TextEntity], mode: str) -> AlignedEntities:
    """`entities` (character offsets into `doc.text`, in order) as spans of `doc`'s tokens, by `mode`."""
    spans, scores, char_spans, ents = [], [], [], []
    counts = dict.fromkeys(COUNTS, 0)
    taken_until = 0  # the token after the last entity put into doc.ents
    for entity in entities:
        counts["entities"] += 1
        span = doc.char_span(entity.start, entity.end, label=entity.type, alignment_mode=mode)
        if span is None:
            counts["unaligned"] += 1
            continue
        if (span.start_char, span.end_char) != (entity.start, entity.end):
            counts["realigned"] += 1
        span._.set(SCORE_EXTENSION, entity.score)
        spans.append(span)
        scores.append(entity.score)
        char_spans.append((entity.start, entity.end))
        if span.start < taken_until:
            counts["overlapping"] += 1
            continue
        ents.append(span)
        taken_until = span.end
    return AlignedEntities(tuple(spans), tuple(scores), tuple(char_spans), tuple(ents), counts)


class BertnerComponent:
    """The pipe: see the module's docstring. `predictor` may be given (tests); otherwise `model` is loaded with
    `Predictor.load(model, backend, threads, batch_size)` on the first doc."""

    def __init__(
        self,
        name: str,
        model: str,
        backend: str = "auto",
        threads: int | None = None,
        batch_size: int = 8,
        alignment_mode: str = "expand",
        spans_key: str = FACTORY,
        predictor: EntityPredictor | None = None,
    ) -> None:
        if not model and predictor is None:
            raise UserError(f'the {FACTORY} pipe needs a model: nlp.add_pipe("{FACTORY}", config={{"model": RUN}})')
        if alignment_mode not in ALIGNMENT_MODES:
            raise UserError(f"alignment_mode must be one of {', '.join(ALIGNMENT_MODES)}, not {alignment_mode!r}")
        if batch_size < 1:
            raise UserError(f"batch_size must be at least 1, not {batch_size}")
        self.name = name
        self.model = model
        self.backend = backend
        self.threads = threads
        self.batch_size = batch_size
        self.alignment_mode = alignment_mode
        self.spans_key = spans_key
        self._predictor = predictor
        self.counts: Counter[str] = Counter(dict.fromkeys(COUNTS, 0))

    @property
    def predictor(self) -> EntityPredictor:
        if self._predictor is None:
            logger.info("%s: loading the model %s", self.name, self.model)
            self._predictor = Predictor.load(
                self.model, backend=self.backend, threads=self.threads, batch_size=self.batch_size
            )
        return self._predictor

    def __call__(self, doc: Doc) -> Doc:
        return self._annotate(doc, self.predictor.predict([doc.text])[0])

    def pipe(self, stream: Iterable[Doc], batch_size: int = 128) -> Iterator[Doc]:
        """The docs of `stream` in order, tagged `batch_size` docs per Predictor call."""
        for docs in minibatch(stream, size=batch_size):
            found = self.predictor.predict([doc.text for doc in docs])
            for doc, entities in zip(docs, found, strict=True):
                yield self._annotate(doc, entities)

    def _annotate(self, doc: Doc, entities: Sequence[TextEntity]) -> Doc:
        aligned = align(doc, entities, self.alignment_mode)
        doc.ents = list(aligned.ents)
        if self.spans_key:
            attrs = {"scores": list(aligned.scores), "char_spans": [list(pair) for pair in aligned.char_spans]}
            attrs.update((name, aligned.counts[name]) for name in COUNTS[1:])
            doc.spans[self.spans_key] = SpanGroup(doc, name=self.spans_key, attrs=attrs, spans=list(aligned.spans))
        self.counts.update(aligned.counts)
        if aligned.counts["unaligned"] or aligned.counts["overlapping"]:
            logger.debug("%s: %s", self.name, aligned.counts)
        return doc

    def to_disk(self, path: str | Path, exclude: Iterable[str] = ()) -> None:
        """A copy of the model's files in `path/model/` (nothing for a model that is not a local folder)."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        source = Path(self.model)
        if not source.is_dir():
            logger.warning(
                "%s: %s is not a local folder; the saved pipeline names it, without a copy", self.name, source
            )
            return
        target = folder / MODEL_DIR
        if target.exists() and target.resolve() == source.resolve():
            return
        staging = folder / f".{MODEL_DIR}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        _copy_model(source, staging)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)

    def from_disk(self, path: str | Path, exclude: Iterable[str] = ()) -> BertnerComponent:
        """Use the copy of the model `to_disk` stored in `path`, if it stored one."""
        stored = Path(path) / MODEL_DIR
        if stored.is_dir():
            self.model = str(stored)
            self._predictor = None
        return self


def _copy_model(source: Path, target: Path) -> None:
    target.mkdir(parents=True)
    for path in source.iterdir():
        if path.is_file() and path.name != LOCK_FILENAME:
            shutil.copy2(path, target / path.name)
        elif path.is_dir() and path.name in _MODEL_FOLDERS:
            shutil.copytree(path, target / path.name)


@Language.factory(
    FACTORY,
    assigns=["doc.ents", "token.ent_iob", "token.ent_type", "doc.spans"],
    default_config={
        "model": "",
        "backend": "auto",
        "threads": None,
        "batch_size": 8,
        "alignment_mode": "expand",
        "spans_key": FACTORY,
    },
)
def make_bertner(
    nlp: Language,
    name: str,
    model: str,
    backend: str,
    threads: int | None,
    batch_size: int,
    alignment_mode: str,
    spans_key: str,
) -> BertnerComponent:
    """The `bertner` pipe: `model` a run, export or ensemble folder or an HF model; `batch_size` windows per
    forward pass (as `bertner predict --batch-size`); `alignment_mode` expand, contract or strict."""
    return BertnerComponent(name, model, backend, threads, batch_size, alignment_mode, spans_key)
