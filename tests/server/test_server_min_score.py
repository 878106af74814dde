"""The server's `min_score` and the calibration it reports (issue 23)."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("fastapi", reason="the server needs the serve extra: pip install 'bertner[serve]'")

from serving import keyword_model, serving

from bertner.decoding.temperature import Calibration
from bertner.inference.predictor import Predictor
from bertner.serving.app import create_app

TEXTS = ["Maria Okafor met Danish fans in Lisbon .", "Quill Systems hired Maria in Lisbon ."]
# A temperature of 4 softens the keyword model: one-word entities score about 0.87, two-word ones about 0.76.
CALIBRATION = Calibration(temperature=4.0, fitted_on="by hand", n=7)


def _requests(app: Any, *bodies: Any) -> list[httpx.Response]:
    async def send() -> list[httpx.Response]:
        async with serving(app) as client:
            return [await client.post("/v1/ner", json=body) for body in bodies] + [await client.get("/v1/model")]

    return asyncio.run(send())


def test_min_score_drops_exactly_the_entities_below_it(tiny_bert: Path) -> None:
    predictor = Predictor(dataclasses.replace(keyword_model(tiny_bert), calibration=CALIBRATION))
    every = predictor.predict(TEXTS)
    scores = sorted({e.score for row in every for e in row})
    assert len(scores) >= 2, "the oracle needs entities of different scores"
    threshold = scores[-1]  # the highest score is kept, every lower one goes
    one, many, too_high, model = _requests(
        create_app(predictor),
        {"text": TEXTS[0], "min_score": threshold},
        {"texts": TEXTS, "min_score": threshold},
        {"text": TEXTS[0], "min_score": 1.5},
    )
    expected = [[e.to_dict() for e in row if e.score >= threshold] for row in every]
    assert one.json() == {"entities": expected[0]}
    assert many.json() == {"results": [{"entities": row} for row in expected]}
    assert 0 < sum(map(len, expected)) < sum(map(len, every))
    assert too_high.status_code == 422 and too_high.json()["detail"][0]["loc"] == ["body", "min_score"]
    assert model.json()["calibration"] == CALIBRATION.to_dict()


def test_without_min_score_every_entity_comes_back(tiny_bert: Path) -> None:
    predictor = Predictor(keyword_model(tiny_bert))
    answer, model = _requests(create_app(predictor), {"text": TEXTS[0]})
    assert answer.json() == {"entities": [e.to_dict() for e in predictor.predict(TEXTS[:1])[0]]}
    assert model.json()["calibration"] is None
