"""Run the app (serving/app.py) on uvicorn: one worker in this process, or several spawned workers.

The parent of several workers imports neither FastAPI, torch nor the model: it checks once, in a throwaway
process, that the model loads, then hands the settings to uvicorn's workers through the environment.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from dataclasses import replace
from multiprocessing.connection import Connection
from typing import Any

from bertner.errors import MissingExtraError, UserError
from bertner.serving.settings import FACTORY, SETTINGS_ENV, ServeSettings

logger = logging.getLogger(__name__)


def _load_once(settings_json: str, sender: Connection) -> None:
    """In a throwaway process: load the model as a worker would; send back "" or what went wrong."""
    try:
        from bertner.serving.app import app_for

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
        raise UserError(f"{settings.model}: the model cannot be served: {message}")


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
        raise MissingExtraError(
            f"bertner serve needs uvicorn and FastAPI: pip install 'bertner[serve]' ({error})"
        ) from error
    if settings.workers == 1:
        from bertner.serving.app import app_for

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
