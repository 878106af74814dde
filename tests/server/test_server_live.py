"""The app on a real uvicorn on a loopback port: HTTP limits on a real socket, batching, and the page in Chromium."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("fastapi", reason="the server needs the serve extra: pip install 'bertner[serve]'")

from serving import CountingPredictor, keyword_model, live_server

from bertner.decoding.temperature import Calibration
from bertner.inference.predictor import Predictor
from bertner.serving.app import create_app
from bertner.serving.settings import ServeSettings

# Debian's chromium (apt; .ci/run installs it); BERTNER_CHROMIUM names another build.
CHROMIUM = os.environ.get("BERTNER_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# An emoji first: the server counts code points, JavaScript UTF-16 units. And markup, which must stay text.
SENTENCE = "🙂 Maria Okafor met Danish fans in Lisbon, <b>not</b> at Quill Systems ."
EXPECTED = [("Maria Okafor", "PER"), ("Danish", "MISC"), ("Lisbon", "LOC"), ("Quill Systems", "ORG")]


def test_limits_and_batching_over_a_real_socket(keyword_predictor: Predictor) -> None:
    counting = CountingPredictor(keyword_predictor)
    app = create_app(counting, ServeSettings(max_body_bytes=1_000, batch_wait_ms=200))
    big = b'{"text": "' + b"a" * 1_000 + b'"}'

    async def chunks() -> Any:
        for start in range(0, len(big), 100):
            yield big[start : start + 100]

    async def scenario(url: str) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            declared = await client.post("/v1/ner", content=big)
            streamed = await client.post("/v1/ner", content=chunks())
            texts = [f"Maria {i} Lisbon" for i in range(8)]
            answers = await asyncio.gather(*(client.post("/v1/ner", json={"text": t}) for t in texts))
            stats = await client.get("/v1/stats")
        return {"declared": declared, "streamed": streamed, "answers": answers, "texts": texts, "stats": stats}

    with live_server(app) as url:
        result = asyncio.run(scenario(url))
    for name in ("declared", "streamed"):
        assert result[name].status_code == 413, name
        assert "limit" in result[name].json()["detail"]
    assert result["streamed"].request.headers.get("transfer-encoding") == "chunked"
    for text, answer in zip(result["texts"], result["answers"], strict=True):
        assert answer.json() == {"entities": [e.to_dict() for e in keyword_predictor.predict([text])[0]]}
    assert len(counting.calls) < 8
    assert result["stats"].json()["largest_batch_requests"] > 1


def _skip(reason: str) -> None:
    warnings.warn(f"browser test skipped: {reason}", stacklevel=2)  # shown in pytest's summary without -rs
    pytest.skip(reason)


def _model_folder(folder: Path) -> Path:
    """Scores beside the model, as a run's eval/ and an export's manifest leave them."""
    (folder / "eval" / "test").mkdir(parents=True)
    (folder / "eval" / "test" / "metrics.json").write_text(json.dumps({"overall": {"f1": 0.8765}}))
    parity = {"torch_f1": 0.9012, "onnx_f1": 0.8998, "check": "valid.txt"}
    (folder / "export.json").write_text(json.dumps({"quantization": "int8", "parity": parity}))
    return folder


def test_the_page_highlights_the_entities_in_chromium(tiny_bert: Path, tmp_path: Path) -> None:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _skip("playwright is not installed (pip install -e '.[dev]')")
    if shutil.which(CHROMIUM) is None:
        _skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set BERTNER_CHROMIUM)")
    # A temperature of 4 softens the keyword model's sure scores: one-word entities score about 0.87, two-word
    # ones about 0.76, so the slider at 0.8 hides two of the four.
    model = keyword_model(tiny_bert, str(_model_folder(tmp_path / "model")))
    predictor = Predictor(dataclasses.replace(model, calibration=Calibration(temperature=4.0)))
    found = predictor.predict([SENTENCE])[0]
    app = create_app(predictor)
    with live_server(app) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            problems: list[str] = []
            requested: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on("request", lambda request: requested.append(request.url))
            page.goto(url)
            page.wait_for_selector("#legend li")
            page.fill("#text", SENTENCE)
            page.click("#tag")
            page.wait_for_selector("#status[data-state=done]", timeout=15_000)
            page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
            marks = page.eval_on_selector_all(
                "#output mark.entity",
                """marks => marks.map(m => ({text: m.textContent, type: m.dataset.type, title: m.title,
                                             colour: getComputedStyle(m).backgroundColor}))""",
            )
            legend = page.eval_on_selector_all(
                "#legend li",
                """items => Object.fromEntries(items.map(li =>
                    [li.dataset.type, getComputedStyle(li.querySelector('.swatch')).backgroundColor]))""",
            )
            output_text = page.text_content("#output")
            injected = page.locator("#output b").count()
            rows = page.eval_on_selector_all(
                "#entities tbody tr", "rows => rows.map(r => Array.from(r.cells, c => c.textContent))"
            )
            status = page.text_content("#status")
            description = page.text_content("#model")
            page.fill("#min-score", "0.8")  # sets the range input's value and fires its input event
            page.wait_for_function("document.querySelectorAll('#output mark.entity').length === 2")
            kept = page.eval_on_selector_all(
                "#output mark.entity", "marks => marks.map(m => [m.textContent, m.dataset.type])"
            )
            kept_rows = page.locator("#entities tbody tr").count()
            kept_status = page.text_content("#status")
            kept_text = page.text_content("#output")
            slider_value = page.text_content("#min-score-value")
            page.goto(f"{url}/docs")  # Swagger UI, its assets served by the app itself
            page.wait_for_selector(".opblock-summary-path", timeout=15_000)
            documented = page.eval_on_selector_all(".opblock-summary-path", "paths => paths.map(p => p.textContent)")
        finally:
            browser.close()

    assert [(m["text"], m["type"]) for m in marks] == EXPECTED
    assert output_text == SENTENCE and injected == 0  # every character shown once, markup shown as text
    assert [(e.text, e.type) for e in found] == EXPECTED
    for mark, entity in zip(marks, found, strict=True):
        assert mark["title"] == f"{mark['type']} (score {entity.score:.3f})"
        assert mark["colour"] == legend[mark["type"]]
    assert len({m["colour"] for m in marks}) == len(EXPECTED)  # four types, four colours
    assert set(legend) == {"LOC", "MISC", "ORG", "PER"}
    assert [(row[0], row[1]) for row in rows] == EXPECTED and rows[0][2] == f"{found[0].score:.3f}"
    assert status == "4 entities"
    scores = "test F1 87.65, int8 export F1 89.98 (PyTorch 90.12, valid.txt)"
    assert description == f"model ({tiny_bert}, run on torch, {scores}, scores calibrated, T = 4.00)"
    # The slider at 0.8 hides exactly the entities scored below 0.8, and the text is still shown whole.
    assert [tuple(mark) for mark in kept] == [(e.text, e.type) for e in found if e.score >= 0.8]
    assert [tuple(mark) for mark in kept] == [("Danish", "MISC"), ("Lisbon", "LOC")]
    assert kept_rows == 2 and kept_text == SENTENCE and slider_value == "0.80"
    assert kept_status == "2 entities (2 below 0.80 hidden)"
    assert problems == []  # no script error, no blocked resource (the page's CSP allows only the app's own)
    assert requested and all(u.startswith(url) for u in requested)
    assert {"/v1/ner", "/v1/model", "/health"} <= {path.replace("\u200b", "") for path in documented}
    assert (tmp_path / "page.png").stat().st_size > 10_000
