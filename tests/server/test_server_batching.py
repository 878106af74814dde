"""Micro-batching: concurrent requests share predictor calls, and each still gets what the Predictor gives alone."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest

pytest.importorskip("fastapi", reason="the server needs the serve extra: pip install 'bertner[serve]'")

from serving import CountingPredictor, serving

from bertner.inference.predictor import Predictor
from bertner.serving.app import create_app
from bertner.serving.batching import MicroBatcher
from bertner.serving.settings import ServeSettings

TEXTS = [
    "Maria Okafor flew to Lisbon .",
    "Quill Systems hired Anika Berg in Aarhus on Monday .",
    "",
    "Danish and Brazilian fans met at New Haven Harbour Trust .",
    "Leo Rao 🙂 Tomas",
    "the U.S. , 3.5 % , 1996-08-22 .",
    "Lisbon",
    "Okafor Maria Okafor Maria Okafor Maria",
]


def _key(entities: list[dict]) -> list[tuple]:
    return [(e["start"], e["end"], e["text"], e["type"]) for e in entities]


def test_concurrent_requests_are_tagged_together_with_the_entities_of_each_alone(random_predictor: Predictor) -> None:
    counting = CountingPredictor(random_predictor)
    # A long wait makes the test independent of the machine's speed: all eight arrive within it.
    app = create_app(counting, ServeSettings(batch_wait_ms=300, max_batch_texts=64))

    async def send() -> list[httpx.Response]:
        async with serving(app) as client:
            return await asyncio.gather(*(client.post("/v1/ner", json={"text": text}) for text in TEXTS))

    responses = asyncio.run(send())
    assert len(counting.calls) < len(TEXTS)
    assert sorted(text for call in counting.calls for text in call) == sorted(TEXTS)
    assert app.state.batcher.stats.largest_batch_requests > 1
    found_any = False
    for text, response in zip(TEXTS, responses, strict=True):
        assert response.status_code == 200
        got = response.json()["entities"]
        [alone] = random_predictor.predict([text])
        assert _key(got) == _key([e.to_dict() for e in alone])
        assert [e["score"] for e in got] == pytest.approx([e.score for e in alone], abs=1e-3)
        found_any |= bool(got)
    assert found_any  # the oracle compared real entities, not only empty lists


def test_batches_hold_at_most_max_batch_texts_and_a_larger_request_runs_alone(keyword_predictor: Predictor) -> None:
    counting = CountingPredictor(keyword_predictor)
    app = create_app(counting, ServeSettings(batch_wait_ms=200, max_batch_texts=4))
    requests = [{"texts": ["Maria", "Lisbon"]}] * 5 + [{"texts": ["Danish"] * 6}]

    async def send() -> list[httpx.Response]:
        async with serving(app) as client:
            return await asyncio.gather(*(client.post("/v1/ner", json=body) for body in requests))

    responses = asyncio.run(send())
    sizes = sorted(len(call) for call in counting.calls)
    assert sizes[-1] == 6 and all(size <= 4 for size in sizes[:-1])
    assert sum(sizes) == 16
    assert len(counting.calls) <= 4  # five pairs need at least three batches of at most four, the six one more
    for body, response in zip(requests, responses, strict=True):
        types = [[e["type"] for e in r["entities"]] for r in response.json()["results"]]
        assert types == [[{"Maria": "PER", "Lisbon": "LOC", "Danish": "MISC"}[t]] for t in body["texts"]]


def _batcher(release: threading.Event, calls: list[list[str]]) -> MicroBatcher[str]:
    def predict(texts: list[str]) -> list[str]:
        calls.append(texts)
        release.wait(5)
        if "boom" in texts:
            raise ValueError("boom")
        return [text.upper() for text in texts]

    return MicroBatcher(predict, max_wait_s=0.05, max_texts=8)


def test_requests_queued_during_a_batch_form_the_next_one_and_failures_stay_in_their_batch() -> None:
    calls: list[list[str]] = []
    release = threading.Event()
    batcher = _batcher(release, calls)

    async def scenario() -> list[object]:
        first = asyncio.ensure_future(batcher.predict(["a"]))
        await asyncio.sleep(0.1)  # the first batch is running (blocked on `release`)
        later = [asyncio.ensure_future(batcher.predict(texts)) for texts in (["b", "c"], ["boom"], ["d"])]
        cancelled = asyncio.ensure_future(batcher.predict(["gone"]))
        await asyncio.sleep(0.05)
        cancelled.cancel()
        release.set()
        results = await asyncio.gather(first, *later, return_exceptions=True)
        after = await batcher.predict(["e"])  # the worker carries on after a failed batch
        await batcher.aclose()
        return [*results, after]

    first, bc, boom, d, after = asyncio.run(scenario())
    assert calls == [["a"], ["b", "c", "boom", "d"], ["e"]]  # the cancelled request was never tagged
    assert first == ["A"] and after == ["E"]
    assert isinstance(bc, ValueError) and isinstance(boom, ValueError) and isinstance(d, ValueError)
    assert batcher.stats.to_dict() == {
        "requests": 2,
        "texts": 2,
        "batches": 2,
        "largest_batch_texts": 1,
        "largest_batch_requests": 1,
        "failed_batches": 1,
    }


def test_the_batcher_checks_its_settings_and_answers_no_texts_without_a_call() -> None:
    with pytest.raises(ValueError, match="max_texts must be at least 1, not 0"):
        MicroBatcher(lambda texts: texts, 0.0, 0)
    calls: list[list[str]] = []
    batcher = _batcher(threading.Event(), calls)
    assert asyncio.run(batcher.predict([])) == []
    assert calls == []
