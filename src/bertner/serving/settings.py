"""`bertner serve`'s settings: the one place their defaults live (the CLI's flags take them from here).

Kept apart from app.py so that the CLI reads the defaults, and the parent process of several workers runs,
without importing FastAPI, torch or the model.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, fields

from bertner.errors import UserError

logger = logging.getLogger(__name__)

SETTINGS_ENV = "BERTNER_SERVE_SETTINGS"
"""How `serve` hands its settings to each uvicorn worker process when there are several (a JSON object)."""
FACTORY = "bertner.serving.app:app_from_environment"
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
    bf16: bool | str = "auto"
    """bf16 autocast of a run folder on PyTorch: True, False or "auto" (precision.py, bf16_at_load)."""
    max_body_bytes: int = 1_000_000
    max_texts: int = 256
    batch_wait_ms: float = 5.0
    max_batch_texts: int = 64
    batch_size: int = 8
    """Windows per forward pass. A micro-batch holds texts of any length; smaller length-sorted batches pad
    less: 32 random CoNLL sentences took 58 ms at 8 and 136 ms at 64 (MiniLM int8, docs/results.md)."""
    access_log: bool = False
    label_map: str = ""
    """The Label Studio backend's renames of the model's types to a project's labels: `PER=Person,MISC=O`."""
    model_version: str = ""
    """The version the Label Studio backend marks its predictions with (default: the model folder's name)."""

    def __post_init__(self) -> None:
        for name in ("workers", "max_body_bytes", "max_texts", "max_batch_texts", "batch_size"):
            if getattr(self, name) < 1:
                raise UserError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.threads is not None and self.threads < 1:
            raise UserError(f"threads must be at least 1, not {self.threads}")
        if self.batch_wait_ms < 0:
            raise UserError(f"batch_wait_ms must be at least 0, not {self.batch_wait_ms}")
        if self.bf16 not in (True, False, "auto"):
            raise UserError(f"bf16 must be true, false or 'auto', not {self.bf16!r}")
        if not 0 <= self.port <= 65535:
            raise UserError(f"port must be in 0..65535, not {self.port}")

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServeSettings:
        values = json.loads(text)
        known = {f.name for f in fields(cls)}
        if not isinstance(values, dict) or not set(values) <= known:
            raise ValueError(f"{SETTINGS_ENV}: expected a JSON object with keys among {sorted(known)}")
        return cls(**values)
