"""Every route of the app, in process (httpx on the ASGI app): the entities are the Predictor's own."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("fastapi", reason="the server needs the serve extra: pip install 'bertner[serve]'")

from serving import keyword_model, serving

from bertner.inference.predictor import Predictor
from bertner.serving.app import STATIC, create_app
from bertner.serving.settings import ServeSettings

SENTENCE = "Maria Okafor flew to Lisbon for Quill Systems ."


def _get(app: Any, *paths: str) -> list[httpx.Response]:
    async def fetch() -> list[httpx.Response]:
        async with serving(app) as client:
            return [await client.get(path) for path in paths]

    return asyncio.run(fetch())


def _post(app: Any, body: Any) -> httpx.Response:
    async def send() -> httpx.Response:
        async with serving(app) as client:
            return await client.post("/v1/ner", json=body)

    return asyncio.run(send())


def test_one_text_gets_the_entities_predict_gives(keyword_predictor: Predictor) -> None:
    response = _post(create_app(keyword_predictor), {"text": SENTENCE})
    assert response.status_code == 200
    entities = response.json()["entities"]
    assert entities == [e.to_dict() for e in keyword_predictor.predict([SENTENCE])[0]]
    found = [(e["text"], e["type"]) for e in entities]
    assert found == [("Maria Okafor", "PER"), ("Lisbon", "LOC"), ("Quill Systems", "ORG")]
    assert all(SENTENCE[e["start"] : e["end"]] == e["text"] for e in entities)


def test_several_texts_get_one_result_each_in_order(keyword_predictor: Predictor) -> None:
    texts = ["Danish Lisbon", "", "   ", "nothing here", "Maria 🙂 Okafor"]
    response = _post(create_app(keyword_predictor), {"texts": texts})
    assert response.status_code == 200
    results = response.json()["results"]
    expected = [[e.to_dict() for e in found] for found in keyword_predictor.predict(texts)]
    assert [r["entities"] for r in results] == expected
    assert [len(r["entities"]) for r in results] == [2, 0, 0, 0, 2]
    assert results[4]["entities"][1]["start"] == len("Maria 🙂 ")  # offsets count code points


def test_an_empty_text_and_an_empty_list_have_no_entities(keyword_predictor: Predictor) -> None:
    app = create_app(keyword_predictor)
    assert _post(app, {"text": ""}).json() == {"entities": []}
    assert _post(app, {"texts": []}).json() == {"results": []}


def test_health_stats_and_model(keyword_predictor: Predictor, tiny_bert: Path) -> None:
    health, stats, model = _get(create_app(keyword_predictor), "/health", "/v1/stats", "/v1/model")
    assert health.json() == {"status": "ok"}
    assert stats.json()["batches"] == 0 and stats.json()["pid"] > 0
    info = model.json()
    assert info["labels"] == list(keyword_predictor.model.labels.tags)
    assert info["types"] == ["LOC", "MISC", "ORG", "PER"]
    assert info["encoder"] == str(tiny_bert)
    assert (info["kind"], info["backend"], info["name"]) == ("run", "torch", tiny_bert.name)
    assert info["scores"] == {}
    limits = {"max_body_bytes": 1_000_000, "max_texts": 256, "max_batch_texts": 64, "batch_wait_ms": 5.0}
    assert info["limits"] == limits


def test_the_model_route_reports_the_scores_beside_the_model(tiny_bert: Path, tmp_path: Path) -> None:
    for split, f1 in (("valid", 0.91), ("test", 0.87)):
        (tmp_path / "eval" / split).mkdir(parents=True)
        overall = {"precision": f1 + 0.01, "recall": f1 - 0.01, "f1": f1, "accuracy": 0.98}
        (tmp_path / "eval" / split / "metrics.json").write_text(json.dumps({"overall": overall}))
    epochs = [{"epoch": 1, "step": 10, "valid": {"f1": 0.8}}, {"epoch": 2, "step": 20, "valid": {"f1": 0.92}}]
    (tmp_path / "metrics.jsonl").write_text("\n".join(json.dumps(e) for e in epochs) + "\n")
    predictor = Predictor(keyword_model(tiny_bert, str(tmp_path)))
    [model] = _get(create_app(predictor), "/v1/model")
    scores = model.json()["scores"]
    assert scores["valid"] == {"precision": 0.92, "recall": 0.9, "f1": 0.91}
    assert scores["test"]["f1"] == 0.87
    assert scores["best_valid_f1"] == 0.92


def test_an_export_manifest_is_reported_and_a_damaged_metrics_file_left_out(tiny_bert: Path, tmp_path: Path) -> None:
    manifest = {"format": 1, "quantize": "int8", "parity": {"torch_f1": 0.9, "onnx_f1": 0.899, "file": "valid"}}
    (tmp_path / "export.json").write_text(json.dumps(manifest))
    (tmp_path / "eval" / "test").mkdir(parents=True)
    (tmp_path / "eval" / "test" / "metrics.json").write_text("{not json")
    predictor = Predictor(keyword_model(tiny_bert, str(tmp_path)))
    [model] = _get(create_app(predictor), "/v1/model")
    assert model.status_code == 200
    assert model.json()["scores"] == {"export": manifest}


def test_the_page_and_its_assets_come_from_the_app(keyword_predictor: Predictor) -> None:
    page, script, style, icon = _get(
        create_app(keyword_predictor), "/", "/static/app.js", "/static/style.css", "/static/favicon.svg"
    )
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert script.status_code == style.status_code == icon.status_code == 200
    assert "javascript" in script.headers["content-type"]
    for asset in (page.text, script.text, style.text):
        # no CDN: every URL the page uses is the app's own
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", asset), asset[:200]
    assert not re.search(r"\.(inner|outer)HTML\b|insertAdjacentHTML|document\.write", script.text)
    assert {p.name for p in STATIC.iterdir()} >= {"index.html", "app.js", "style.css"}


def test_the_openapi_schema_documents_the_requests_and_answers(keyword_predictor: Predictor) -> None:
    schema, docs = _get(create_app(keyword_predictor), "/openapi.json", "/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    spec = schema.json()
    assert {"/v1/ner", "/v1/model", "/v1/stats", "/health"} <= set(spec["paths"])
    ner = spec["paths"]["/v1/ner"]["post"]
    assert ner["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/NerRequest")
    assert {"200", "413", "422", "500"} <= set(ner["responses"])
    components = spec["components"]["schemas"]
    assert set(components["NerRequest"]["properties"]) == {"text", "texts", "min_score"}
    assert components["NerRequest"]["properties"]["min_score"]["maximum"] == 1.0
    assert set(components["EntityOut"]["properties"]) == {"start", "end", "text", "type", "score"}


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="max_texts must be at least 1, not 0"):
        ServeSettings(max_texts=0)
    with pytest.raises(ValueError, match="batch_wait_ms"):
        ServeSettings(batch_wait_ms=-1)
    settings = ServeSettings(model="runs/x", workers=3, threads=2)
    assert ServeSettings.from_json(settings.to_json()) == settings
    with pytest.raises(ValueError, match="keys among"):
        ServeSettings.from_json('{"modle": "x"}')
