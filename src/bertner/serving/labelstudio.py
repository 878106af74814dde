"""A Label Studio ML backend inside `bertner serve`: Label Studio pre-annotates a project's tasks with the model.

Label Studio calls an ML backend at the URL it was given (here `http://HOST:PORT/labelstudio`) with the routes of
the label-studio-ml-backend protocol (label_studio/ml/api_connector.py in Label Studio, label_studio_ml/api.py in
label-studio-ml-backend):

- `GET  /labelstudio/health`: any JSON answer with 200 means "up" (`{"status": "UP", ...}`).
- `POST /labelstudio/setup` `{"project": "ID.TIMESTAMP", "schema": LABEL_CONFIG, ...}` -> `{"model_version"}`;
  a label config bertner cannot fill is refused (422), and Label Studio shows the backend as failing.
- `POST /labelstudio/predict` `{"tasks": [{"id", "data": {...}, ...}], "label_config", "project", "params"}` ->
  `{"results": [{"model_version", "score", "result": [...]}], "model_version"}`, one prediction per task in
  the order of `tasks` (Label Studio pairs them by position). Result items are
  `{"id", "from_name", "to_name", "type": "labels", "value": {"start", "end", "text", "labels": [LABEL]}, "score"}`.
- `GET  /labelstudio/stats`: what this worker's backend has done, with the entities left out per type.

`from_name`, `to_name`, the task field holding the text and the label names come from the label config each request
carries (serving/labelstudio_config.py). Offsets are code points, the unit Label Studio stores
(label-studio-frontend#308; data/annotations/labelstudio.py writes the items). Texts are tagged by the same
micro-batcher as `/v1/ner`, so predictions equal `bertner predict`'s. Training from Label Studio (`/train`,
`/webhook`) is not offered: export the project and run `bertner train --data EXPORT`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from bertner.data.annotations.labelstudio import prediction
from bertner.data.annotations.records import Span
from bertner.evaluation.predictions import TypeMap
from bertner.inference.predictor import TextEntity
from bertner.serving.labelstudio_config import LabelMapping, choose_target
from bertner.serving.schema import ErrorBody, check_encodable

logger = logging.getLogger(__name__)

PREFIX = "/labelstudio"
"""Where the backend's routes are mounted: the URL to give Label Studio is the server's URL plus this."""

PredictTexts = Callable[[list[str]], Awaitable[list[list[TextEntity]]]]


class Task(BaseModel):
    """A task as Label Studio sends it; only `data` is read (its other fields, counts and annotations, are kept)."""

    model_config = ConfigDict(extra="allow")

    id: int | None = None
    data: dict[str, Any]


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    tasks: list[Task]
    label_config: StrictStr = Field(description="the project's label config (XML)")
    project: str | int | None = Field(None, description='"ID.TIMESTAMP" of the project')
    params: dict[str, Any] | None = None


class SetupRequest(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    label_config: StrictStr | None = Field(None, alias="schema", description="the project's label config (XML)")
    project: str | int | None = None


class SetupResponse(BaseModel):
    model_version: str


class LabelValue(BaseModel):
    start: int = Field(description="code points, as Label Studio counts them")
    end: int
    text: str
    labels: list[str]


class ResultItem(BaseModel):
    id: str
    from_name: str
    to_name: str
    type: Literal["labels"]
    value: LabelValue
    score: float | None = None


class TaskPrediction(BaseModel):
    model_version: str
    score: float | None = Field(None, description="the lowest entity score; absent without entities")
    result: list[ResultItem]


class PredictResponse(BaseModel):
    results: list[TaskPrediction] = Field(description="one per task, in the order of the request's tasks")
    model_version: str


class BackendHealth(BaseModel):
    status: Literal["UP"]
    model_class: str
    model_version: str


class BackendStats(BaseModel):
    requests: int
    tasks: int
    entities: int = Field(description="entities sent back as predictions")
    left_out: dict[str, int] = Field(
        description="entities left out per model type: no label in the project, or mapped to O with --map"
    )


@dataclass
class _Counts:
    requests: int = 0
    tasks: int = 0
    entities: int = 0
    left_out: Counter[str] = field(default_factory=Counter)
    warned: set[tuple[str, tuple[str, ...]]] = field(default_factory=set)


def _mapping(config: str, types: Sequence[str], type_map: TypeMap, where: list[str]) -> LabelMapping:
    try:
        return choose_target(config, types, type_map)
    except ValueError as error:
        raise HTTPException(422, [{"type": "label_config", "loc": where, "msg": str(error)}]) from error


def _texts(tasks: Sequence[Task], key: str) -> list[str]:
    """The text of each task (its `data[key]`); 422 naming every task without one."""
    texts, errors = [], []
    for index, task in enumerate(tasks):
        value = task.data.get(key)
        where = ["body", "tasks", index, "data", key]
        name = f"task {task.id}" if task.id is not None else f"task {index}"
        if not isinstance(value, str):
            found = "nothing" if value is None else type(value).__name__
            message = f"{name}: data[{key!r}] must be the text the label config's <Text> shows, not {found}"
            errors.append({"type": "task_text", "loc": where, "msg": message})
            continue
        try:
            texts.append(check_encodable(value))
        except ValueError as error:
            errors.append({"type": "task_text", "loc": where, "msg": f"{name}: {error}"})
    if errors:
        raise HTTPException(422, errors)
    return texts


def labelstudio_router(predict: PredictTexts, types: Sequence[str], type_map: TypeMap, model_version: str) -> APIRouter:
    """The backend's routes (mount them at PREFIX): `predict` tags texts (the app's micro-batcher), `types` are the
    model's entity types, renamed by `type_map` to the project's labels."""
    router = APIRouter(tags=["label studio"], responses={422: {"model": ErrorBody}, 500: {"model": ErrorBody}})
    counts = _Counts()

    def _warn_left_out(mapping: LabelMapping) -> None:
        for entity_type in mapping.left_out:
            key = (entity_type, mapping.target.labels)
            if key not in counts.warned:
                counts.warned.add(key)
                logger.warning(
                    "Label Studio: the model's type %s has no label in <Labels name=%r> (%s); its entities are "
                    "left out (serve --map %s=LABEL to map it)",
                    entity_type,
                    mapping.target.from_name,
                    ", ".join(mapping.target.labels),
                    entity_type,
                )

    @router.get("/health", response_model=BackendHealth)
    async def health() -> BackendHealth:
        """Label Studio's health check: any JSON answer with status 200 counts as up."""
        return BackendHealth(status="UP", model_class="bertner", model_version=model_version)

    @router.post("/setup", response_model=SetupResponse)
    async def setup(request: SetupRequest) -> SetupResponse:
        """Called when a project connects: the model version, once the label config is known to be fillable."""
        if request.label_config is not None:
            _warn_left_out(_mapping(request.label_config, types, type_map, ["body", "schema"]))
        return SetupResponse(model_version=model_version)

    @router.post("/predict", response_model=PredictResponse, response_model_exclude_none=True)
    async def predict_tasks(request: PredictRequest) -> dict[str, Any]:
        """One prediction per task, in order: the model's entities whose type has a label in the project."""
        mapping = _mapping(request.label_config, types, type_map, ["body", "label_config"])
        _warn_left_out(mapping)
        texts = _texts(request.tasks, mapping.target.data_key)
        found = await predict(texts) if texts else []
        target = mapping.target
        results = []
        for text, entities in zip(texts, found, strict=True):
            spans = []
            for entity in entities:
                label = mapping.labels.get(entity.type)
                if label is None:
                    counts.left_out[entity.type] += 1
                    continue
                spans.append(Span(start=entity.start, end=entity.end, type=label, score=entity.score))
            counts.entities += len(spans)
            results.append(prediction(text, spans, model_version, target.from_name, target.to_name))
        counts.requests += 1
        counts.tasks += len(texts)
        return {"results": results, "model_version": model_version}

    @router.get("/stats", response_model=BackendStats)
    async def stats() -> BackendStats:
        """What this worker's backend has done since it started (each of `--workers` counts its own)."""
        return BackendStats(
            requests=counts.requests, tasks=counts.tasks, entities=counts.entities, left_out=dict(counts.left_out)
        )

    return router
