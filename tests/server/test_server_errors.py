"""Every error answer: its status and its JSON body. None of the client's mistakes is a 500."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import pytest

pytest.importorskip("fastapi", reason="the server needs the serve extra: pip install 'bertner[serve]'")

from serving import serving

from bertner.inference.model import InferenceModel
from bertner.inference.predictor import Predictor, TextEntity
from bertner.serving.app import create_app
from bertner.serving.settings import ServeSettings

SMALL = ServeSettings(max_body_bytes=2_000, max_texts=3)


def _send(predictor: Any, settings: ServeSettings, **request: Any) -> httpx.Response:
    async def send() -> httpx.Response:
        async with serving(create_app(predictor, settings)) as client:
            return await client.request(request.pop("method", "POST"), request.pop("url", "/v1/ner"), **request)

    return asyncio.run(send())


def _detail(response: httpx.Response) -> Any:
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"detail"}
    return body["detail"]


def _messages(response: httpx.Response) -> str:
    return " ".join(error["msg"] for error in _detail(response))


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"text": "Maria', "JSON decode error"),
        (b"", "Field required"),
        (b"{}", "exactly one of 'text'"),
        (b'{"txt": "Maria"}', "Extra inputs are not permitted"),
        (b'{"text": "Maria", "texts": ["Lisbon"]}', "exactly one of 'text'"),
        (b'{"text": null}', "exactly one of 'text'"),
        (b'{"text": 5}', "Input should be a valid string"),
        (b'{"text": ["Maria"]}', "Input should be a valid string"),
        (b'{"texts": "Maria"}', "Input should be a valid list"),
        (b'{"texts": ["Maria", 5]}', "Input should be a valid string"),
        (b'["Maria"]', "Input should be a valid dictionary"),
        (b'{"text": "Maria \\ud800 Okafor"}', "unpaired surrogate U+D800 at character 6"),
        (b'{"text": "Maria", "\\udfff": 1}', "unable to parse raw data as a unicode string"),
    ],
)
def test_a_request_that_is_not_valid_gets_422(keyword_predictor: Predictor, content: bytes, expected: str) -> None:
    response = _send(keyword_predictor, SMALL, content=content, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert expected.lower() in _messages(response).lower()


def test_a_body_that_is_not_sent_as_json_says_so(keyword_predictor: Predictor) -> None:
    # curl -d sends application/x-www-form-urlencoded unless told otherwise
    form = {"content-type": "application/x-www-form-urlencoded"}
    response = _send(keyword_predictor, SMALL, content=b'{"text": "Maria"}', headers=form)
    assert response.status_code == 422
    assert "send the body as JSON with Content-Type: application/json" in _messages(response)
    untyped = _send(keyword_predictor, SMALL, content=b'{"text": "Maria"}', headers={"content-type": ""})
    assert untyped.status_code == 200 and untyped.json()["entities"][0]["text"] == "Maria"


def test_more_texts_than_the_limit_get_413(keyword_predictor: Predictor) -> None:
    assert _send(keyword_predictor, SMALL, json={"texts": ["a"] * 3}).status_code == 200
    response = _send(keyword_predictor, SMALL, json={"texts": ["a"] * 4})
    assert response.status_code == 413
    assert _detail(response) == "4 texts in one request; the limit is 3"


def test_a_body_over_the_size_limit_gets_413_whether_declared_or_streamed(keyword_predictor: Predictor) -> None:
    at_limit = b'{"text": "' + b"a" * (SMALL.max_body_bytes - 12) + b'"}'
    assert len(at_limit) == SMALL.max_body_bytes
    assert _send(keyword_predictor, SMALL, content=at_limit).status_code == 200
    over = at_limit[:-2] + b'a"}'
    declared = _send(keyword_predictor, SMALL, content=over)
    assert declared.status_code == 413
    assert _detail(declared) == f"the request body is {len(over)} bytes; the limit is 2000"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked transfer encoding
        for start in range(0, len(over), 300):
            yield over[start : start + 300]

    streamed = _send(keyword_predictor, SMALL, content=chunks())
    assert streamed.request.headers.get("content-length") is None
    assert streamed.status_code == 413
    assert _detail(streamed) == "the request body is over the limit of 2000 bytes"


def test_an_unknown_route_or_method_gets_a_json_error(keyword_predictor: Predictor) -> None:
    missing = _send(keyword_predictor, SMALL, method="GET", url="/v2/ner")
    assert missing.status_code == 404 and _detail(missing) == "Not Found"
    wrong = _send(keyword_predictor, SMALL, method="GET")
    assert wrong.status_code == 405 and _detail(wrong) == "Method Not Allowed"


class _Broken:
    """A predictor whose model fails on one word: the one case that is the server's fault."""

    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor
        self.model: InferenceModel = predictor.model

    def predict(self, texts: Sequence[str]) -> list[list[TextEntity]]:
        if any("boom" in text for text in texts):
            raise RuntimeError("the backend is gone")
        return self.predictor.predict(texts)


def test_a_failing_model_gets_a_json_500_and_the_server_carries_on(keyword_predictor: Predictor) -> None:
    async def send() -> list[httpx.Response]:
        # raise_app_exceptions=False: the real server logs what the app raised after answering; so does this.
        async with serving(create_app(_Broken(keyword_predictor), SMALL), raise_app_exceptions=False) as client:
            failed = await client.post("/v1/ner", json={"text": "boom"})
            after = await client.post("/v1/ner", json={"text": "Maria"})
            return [failed, after, await client.get("/v1/stats")]

    failed, after, stats = asyncio.run(send())
    assert failed.status_code == 500
    assert _detail(failed) == "internal error: RuntimeError"
    assert after.json() == {"entities": [{"start": 0, "end": 5, "text": "Maria", "type": "PER", "score": 1.0}]}
    assert stats.json()["failed_batches"] == 1 and stats.json()["batches"] == 1
