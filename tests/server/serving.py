"""Test helpers for the server: models with known entities, a counting predictor, and ways to run the app.

`keyword_model` tags a few words of the tiny vocabulary (Maria Okafor = PER, Lisbon = LOC, Quill Systems = ORG,
Danish = MISC) through the real tokenizer, windows and decoding, so that a test knows what to expect.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import uvicorn
from fastapi import FastAPI

from bertner.inference.hf_labels import ModelLabels
from bertner.inference.model import InferenceModel
from bertner.inference.predictor import Predictor, TextEntity
from bertner.labels import LabelSet, Scheme
from bertner.model.tokenizer import load_tokenizer
from tiny_models import built_run_config, plain_model_config

LABELS = LabelSet.from_types(["LOC", "MISC", "ORG", "PER"])
KEYWORDS = {
    "maria": "B-PER",
    "okafor": "I-PER",
    "lisbon": "B-LOC",
    "quill": "B-ORG",
    "systems": "I-ORG",
    "danish": "B-MISC",
}


@dataclass(frozen=True)
class KeywordScorer:
    """A WindowScorer that labels each sub-token by its id alone (KEYWORDS; O elsewhere)."""

    label_of_token: dict[int, int]
    outside: int
    num_labels: int

    @property
    def crf(self) -> None:
        return None

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        ids = batch["input_ids"]  # (batch, seq_len)
        labels = np.full_like(ids, self.outside)
        for token, label in self.label_of_token.items():
            labels[ids == token] = label
        scores = np.full((*ids.shape, self.num_labels), -8.0, dtype=np.float32)  # (batch, seq_len, num_labels)
        np.put_along_axis(scores, labels[..., None], 8.0, axis=-1)
        return scores


def keyword_model(tiny_bert: Path, path: str = "") -> InferenceModel:
    tokenizer = load_tokenizer(str(tiny_bert))
    ids = LABELS.label2id
    scorer = KeywordScorer(
        {tokenizer.convert_tokens_to_ids(word): ids[tag] for word, tag in KEYWORDS.items()},
        ids["O"],
        len(LABELS.labels),
    )
    config = built_run_config(plain_model_config(tiny_bert))
    labels = ModelLabels(LABELS.labels, Scheme.IOB2)
    return InferenceModel(scorer, tokenizer, labels, config, "run", path or str(tiny_bert), "torch")


@dataclass
class CountingPredictor:
    """A Predictor that records the texts of each `predict` call."""

    predictor: Predictor
    calls: list[list[str]] = field(default_factory=list)

    @property
    def model(self) -> InferenceModel:
        return self.predictor.model

    def predict(self, texts: Sequence[str]) -> list[list[TextEntity]]:
        self.calls.append(list(texts))
        return self.predictor.predict(texts)


@asynccontextmanager
async def serving(app: FastAPI, raise_app_exceptions: bool = True) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the app in this event loop, with the app's lifespan (its batcher) running."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
        async with httpx.AsyncClient(transport=transport, base_url="http://bertner.test") as client:
            yield client


@contextmanager
def live_server(app: FastAPI) -> Iterator[str]:
    """The app on a real uvicorn, in a thread, on a free loopback port; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
