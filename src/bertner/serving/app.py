"""`bertner serve`: the Predictor behind a FastAPI app, with micro-batching, request limits and a web page.

Routes: `POST /v1/ner` ({"text": ...} or {"texts": [...]}), `GET /v1/model`, `GET /health`, `GET /v1/stats`
(this worker's batching counters), `GET /` (the page, from static/, no CDN), `/openapi.json` and `/docs`, and a
Label Studio ML backend under `/labelstudio` (serving/labelstudio.py).
`/docs` is FastAPI's Swagger UI with its scripts and styles served by the app (fastapi-offline) instead of
FastAPI's default CDN, so it works offline too.

Entities are computed by the same `Predictor.predict` as `bertner predict` and the Python API; the server adds
only the batching (serving/batching.py) and the HTTP layer. Every error is a JSON `{"detail": ...}`:
413 for a body over `max_body_bytes` or more than `max_texts` texts, 422 for anything that is not a valid
request, 500 only for a failure of the model itself.
"""

from __future__ import annotations

import gc
import json
import logging
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

from bertner.errors import MissingExtraError

try:
    from fastapi import FastAPI, HTTPException, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import FileResponse, Response
    from fastapi.staticfiles import StaticFiles
    from fastapi_offline import FastAPIOffline
except ImportError as error:  # the server's libraries are an extra
    raise MissingExtraError(
        f"bertner serve needs FastAPI and uvicorn: pip install 'bertner[serve]' ({error})"
    ) from error

from bertner.evaluation.predictions import parse_type_map
from bertner.inference.predictor import Predictor, TextEntity, above
from bertner.inference.tagging import TaggingModel
from bertner.serving.batching import MicroBatcher
from bertner.serving.body_limit import BodyLimit
from bertner.serving.labelstudio import PREFIX as LABELSTUDIO_PREFIX
from bertner.serving.labelstudio import labelstudio_router
from bertner.serving.labelstudio_config import check_type_map
from bertner.serving.model_info import model_scores
from bertner.serving.schema import (
    ErrorBody,
    Health,
    Limits,
    ModelInfo,
    NerBatchResult,
    NerRequest,
    NerResult,
    Stats,
)
from bertner.serving.settings import SETTINGS_ENV, ServeSettings

logger = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
# The page runs only its own script and style: a stray CDN link or inline script fails in the browser test.
PAGE_POLICY = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'"


class EntityPredictor(Protocol):
    """What the app needs of a Predictor (a test may wrap one to count its calls)."""

    @property
    def model(self) -> TaggingModel: ...

    def predict(self, texts: Sequence[str]) -> list[list[TextEntity]]: ...


def _error(status: int, detail: Any) -> Response:
    # ensure_ascii: a field name may hold an unpaired surrogate, which cannot be encoded as UTF-8 but can be escaped.
    return Response(json.dumps({"detail": detail}), status_code=status, media_type="application/json")


def _validation_errors(request: Request, error: RequestValidationError) -> list[dict[str, Any]]:
    """pydantic's errors without the input they quote (up to the whole body, and maybe not encodable)."""
    errors = []
    for found in error.errors():
        message = found["msg"]
        if found["type"] == "json_invalid" and "error" in found.get("ctx", {}):
            message = f"{message}: {found['ctx']['error']}"
        errors.append({"type": found["type"], "loc": list(found["loc"]), "msg": message})
    content_type = request.headers.get("content-type", "application/json")
    if "json" not in content_type:
        errors.append(
            {
                "type": "content_type",
                "loc": ["header", "content-type"],
                "msg": f"send the body as JSON with Content-Type: application/json, not {content_type}",
            }
        )
    return errors


def _model_info(model: TaggingModel, settings: ServeSettings) -> ModelInfo:
    return ModelInfo(
        name=Path(model.path).name or model.path,
        kind=model.kind,
        backend=model.backend,
        encoder=model.config.model.encoder,
        labels=list(model.labels.tags),
        types=list(model.types),
        scores=model_scores(model),
        calibration=None if model.calibration is None else model.calibration.to_dict(),
        limits=Limits(
            max_body_bytes=settings.max_body_bytes,
            max_texts=settings.max_texts,
            max_batch_texts=settings.max_batch_texts,
            batch_wait_ms=settings.batch_wait_ms,
        ),
    )


def _result(entities: list[TextEntity], min_score: float = 0.0) -> NerResult:
    # Read from the dataclasses' attributes: `to_dict` (dataclasses.asdict deep-copies) cost 5x more per request.
    return NerResult.model_validate({"entities": above(entities, min_score)}, from_attributes=True)


def create_app(predictor: EntityPredictor, settings: ServeSettings | None = None) -> FastAPI:
    """The app serving `predictor`. Its micro-batcher is `app.state.batcher`; it starts with the app's
    lifespan, or on the first request where no lifespan runs."""
    settings = settings or ServeSettings()
    batcher: MicroBatcher[list[TextEntity]] = MicroBatcher(
        predictor.predict, settings.batch_wait_ms / 1000, settings.max_batch_texts
    )
    info = _model_info(predictor.model, settings)
    type_map = parse_type_map(settings.label_map)
    check_type_map(type_map, predictor.model.types)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        batcher.start()
        yield
        await batcher.aclose()

    app = FastAPIOffline(
        redoc_url=None,
        title="bertner",
        summary="Named-entity recognition: entities with character offsets in raw text.",
        version="1",
        lifespan=lifespan,
        strict_content_type=False,  # a JSON body without a Content-Type is still read as JSON
    )
    app.state.batcher = batcher
    app.state.settings = settings
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> Response:
        return _error(422, _validation_errors(request, error))

    @app.exception_handler(Exception)
    async def _internal_error(request: Request, error: Exception) -> Response:
        logger.exception("%s %s failed", request.method, request.url.path, exc_info=error)
        return _error(500, f"internal error: {type(error).__name__}")

    @app.post(
        "/v1/ner",
        response_model=NerResult | NerBatchResult,
        responses={413: {"model": ErrorBody}, 422: {"model": ErrorBody}, 500: {"model": ErrorBody}},
        tags=["ner"],
    )
    async def ner(request: NerRequest) -> NerResult | NerBatchResult:
        """The entities of `text`, or of each of `texts`, scored at least `min_score`; the texts of concurrent
        requests are tagged together."""
        texts = [request.text] if request.text is not None else (request.texts or [])
        if len(texts) > settings.max_texts:
            raise HTTPException(413, f"{len(texts)} texts in one request; the limit is {settings.max_texts}")
        found = await batcher.predict(texts)
        if request.text is not None:
            return _result(found[0], request.min_score)
        return NerBatchResult(results=[_result(entities, request.min_score) for entities in found])

    @app.get("/v1/model", response_model=ModelInfo, tags=["model"])
    async def model() -> ModelInfo:
        """The labels, types and encoder of the model served, its recorded scores, and the request limits."""
        return info

    @app.get("/v1/stats", response_model=Stats, tags=["model"])
    async def stats() -> Stats:
        """Batching counters of the worker process that answers (each of `--workers` has its own)."""
        return Stats(pid=os.getpid(), **batcher.stats.to_dict())

    @app.get("/health", response_model=Health, tags=["model"])
    async def health() -> Health:
        return Health(status="ok")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Content-Security-Policy": PAGE_POLICY})

    version = settings.model_version or info.name
    app.include_router(
        labelstudio_router(batcher.predict, list(predictor.model.types), type_map, version), prefix=LABELSTUDIO_PREFIX
    )
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def app_for(settings: ServeSettings) -> FastAPI:
    """The app serving the model `settings.model`, loaded on the backend and threads the settings ask for."""
    predictor = Predictor.load(
        settings.model,
        backend=settings.backend,
        threads=settings.threads,
        batch_size=settings.batch_size,
        bf16=settings.bf16,
    )
    # The model and the libraries live as long as the worker: moved out of the collector's generations, so
    # that full collections triggered by request objects do not walk them all again.
    gc.collect()
    gc.freeze()
    return create_app(predictor, settings)


def app_from_environment() -> FastAPI:
    """The app factory each uvicorn worker calls when `serve` runs several: settings from SETTINGS_ENV."""
    text = os.environ.get(SETTINGS_ENV)
    if text is None:
        raise RuntimeError(f"{SETTINGS_ENV} is not set; start the server with `bertner serve`")
    return app_for(ServeSettings.from_json(text))
