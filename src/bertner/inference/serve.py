"""`bertner serve`: its settings (the one place their defaults live; the CLI's flags take them from here)
and the function that runs the app (inference/server.py) on uvicorn.

Kept apart from server.py so that the CLI reads the defaults, and the parent process of several workers runs,
without importing FastAPI, torch or the model.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
from dataclasses import asdict, dataclass, fields, replace
from multiprocessing.connection import Connection
from typing import Any

logger = logging.getLogger(__name__)

SETTINGS_ENV = "BERTNER_SERVE_SETTINGS"
"""How `serve` hands its settings to each uvicorn worker process when there are several (a JSON object)."""
FACTORY = "bertner.inference.server:app_from_environment"
"""What each of several workers calls to build its app (uvicorn's factory form)."""


@dataclass(frozen=True)
class ServeSettings:
    """`bertner serve`'s options; the limits apply per request, the batching per worker process."""

    model: str = ""
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    backend: str = "auto"
    threads: int | None = None
    max_body_bytes: int = 1_000_000
    max_texts: int = 256
    batch_wait_ms: float = 5.0
    max_batch_texts: int = 64
    batch_size: int = 8
    """Windows per forward pass. A micro-batch holds texts of any length; smaller length-sorted batches pad
    less: 32 random CoNLL sentences took 58 ms at 8 and 136 ms at 64 (MiniLM int8, docs/results.md)."""
    access_log: bool = False

    def __post_init__(self) -> None:
        for name in ("workers", "max_body_bytes", "max_texts", "max_batch_texts", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be at least 1, not {self.threads}")
        if self.batch_wait_ms < 0:
            raise ValueError(f"batch_wait_ms must be at least 0, not {self.batch_wait_ms}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in 0..65535, not {self.port}")

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServeSettings:
        values = json.loads(text)
        known = {f.name for f in fields(cls)}
        if not isinstance(values, dict) or not set(values) <= known:
            raise ValueError(f"{SETTINGS_ENV}: expected a JSON object with keys among {sorted(known)}")
        return cls(**values)


def _load_once(settings_json: str, sender: Connection) -> None:
    """In a throwaway process: load the model as a worker would; send back "" or what went wrong."""
    try:
        from bertner.inference.server import app_for

        app_for(ServeSettings.from_json(settings_json))
    except Exception as error:  # whatever stops a worker stops the server before it starts
        sender.send(f"{type(error).__name__}: {error}")
    else:
        sender.send("")


def _check_model_loads(settings: ServeSettings) -> None:
    """Several workers each load the model, and uvicorn restarts a worker that dies, forever: so the model is
    loaded once first, in a process of its own (the parent stays free of torch), and a failure stops here."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_load_once, args=(settings.to_json(), sender), name="bertner-check-model")
    process.start()
    sender.close()
    try:
        message = receiver.recv()
    except EOFError:
        message = "the process loading it died"
    process.join()
    if message:
        raise ValueError(f"{settings.model}: the model cannot be served: {message}")


def serve(settings: ServeSettings) -> None:
    """Serve until interrupted. One worker: the model loads here, before the port opens. Several: uvicorn
    starts `workers` processes, each loading the model and batching on its own."""
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "access_log": settings.access_log,
        "log_level": "info",
    }
    try:
        import uvicorn
    except ImportError as error:
        raise ImportError(f"bertner serve needs uvicorn and FastAPI: pip install 'bertner[serve]' ({error})") from error
    if settings.workers == 1:
        from bertner.inference.server import app_for

        uvicorn.run(app_for(settings), **options)
        return
    if settings.threads is None:
        # Each worker's backend would otherwise take every core, and N workers would fight over them.
        settings = replace(settings, threads=max(1, (os.cpu_count() or 1) // settings.workers))
        logger.info("%d workers, %d intra-op threads each (--threads to change)", settings.workers, settings.threads)
    _check_model_loads(settings)
    # The workers are spawned, not forked: the environment is what they inherit from this process.
    os.environ[SETTINGS_ENV] = settings.to_json()
    try:
        uvicorn.run(FACTORY, factory=True, workers=settings.workers, **options)
    finally:
        del os.environ[SETTINGS_ENV]
