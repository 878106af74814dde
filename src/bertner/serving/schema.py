"""The HTTP API's request and response bodies (pydantic), shown in the OpenAPI schema at /docs.

Entities are the objects `bertner predict` prints: `start`/`end` are character offsets (code points, as
Python counts them) with an exclusive end, and `text == input[start:end]`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator, model_validator


def check_encodable(text: str) -> str:
    """A JSON string may hold an unpaired surrogate escape (\\ud800); it is not text and no tokenizer takes it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(
            f"the text holds an unpaired surrogate U+{ord(text[error.start]):04X} at character {error.start}"
        ) from error
    return text


class NerRequest(BaseModel):
    """Exactly one of `text` and `texts`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"text": "Angela Merkel visited Paris on Monday ."},
                {"texts": ["Angela Merkel visited Paris .", "EU rejects German call to boycott British lamb ."]},
            ]
        },
    )

    text: StrictStr | None = Field(None, description="one text; the answer is {'entities': [...]}")
    texts: list[StrictStr] | None = Field(
        None, description="several texts, at most the server's max_texts; the answer is {'results': [...]}"
    )
    min_score: float = Field(
        0.0, ge=0.0, le=1.0, description="leave out the entities whose score is below this (0: every entity)"
    )

    @field_validator("text")
    @classmethod
    def _text_is_unicode(cls, text: str | None) -> str | None:
        return None if text is None else check_encodable(text)

    @field_validator("texts")
    @classmethod
    def _texts_are_unicode(cls, texts: list[str] | None) -> list[str] | None:
        return None if texts is None else [check_encodable(text) for text in texts]

    @model_validator(mode="after")
    def _exactly_one(self) -> NerRequest:
        if (self.text is None) == (self.texts is None):
            raise ValueError("give exactly one of 'text' (a string) and 'texts' (a list of strings)")
        return self


class EntityOut(BaseModel):
    """An entity: characters [start, end) of the text, its type, and its score: the model's probability that
    exactly this span, with this type, is an entity (calibrated where the model is), rounded to 4 digits."""

    start: int
    end: int
    text: str
    type: str
    score: float


class NerResult(BaseModel):
    """The entities of one text, in order of appearance (empty for an empty text)."""

    entities: list[EntityOut]


class NerBatchResult(BaseModel):
    """One result per text of `texts`, in the same order."""

    results: list[NerResult]


class ErrorBody(BaseModel):
    """Every error answer: 413 (body or texts over a limit), 422 (not a valid request), 500."""

    detail: str | list[dict[str, Any]] = Field(
        description="what was wrong; for 422, pydantic's list of errors with their location"
    )


class Limits(BaseModel):
    max_body_bytes: int
    max_texts: int
    max_batch_texts: int
    batch_wait_ms: float


class ModelInfo(BaseModel):
    """The model being served, and the scores recorded beside it (empty where none were)."""

    name: str = Field(description="the model folder's name, or the HF hub id")
    kind: str = Field(description="run (a bertner run folder), export (an ONNX export) or hf")
    backend: str = Field(description="torch or onnx")
    encoder: str
    labels: list[str] = Field(description="the model's tags, in id order")
    types: list[str] = Field(description="the entity types it finds")
    scores: dict[str, Any] = Field(
        description="valid/test: overall precision, recall, f1 from eval/<split>/metrics.json; best_valid_f1 "
        "from metrics.jsonl; export: the export manifest (quantization and the parity check's figures)"
    )
    calibration: dict[str, Any] | None = Field(
        None,
        description="the temperature applied to the entity scores (calibration.json: temperature, per_type, "
        "fitted_on, n, ece_before, ece_after); null: none was fitted, scores are at T = 1",
    )
    limits: Limits


class Health(BaseModel):
    status: str


class Stats(BaseModel):
    """This worker process's micro-batcher: `batches` predictor calls served `requests` requests."""

    pid: int
    requests: int
    texts: int
    batches: int
    largest_batch_texts: int
    largest_batch_requests: int
    failed_batches: int
