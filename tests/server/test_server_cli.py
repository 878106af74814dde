"""`bertner serve`: flags to settings, one worker or several (uvicorn's factory form), and a model that cannot load."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the server needs the serve extra: pip install 'bertner[serve]'")

from serving import serving

import bertner.serving.launch as serve_module
from bertner.cli import main
from bertner.inference.predictor import Predictor
from bertner.serving.app import app_from_environment
from bertner.serving.launch import serve
from bertner.serving.settings import FACTORY, SETTINGS_ENV, ServeSettings


def test_the_flags_become_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[ServeSettings] = []
    monkeypatch.setattr(serve_module, "serve", seen.append)
    assert main(["serve", "--model", "runs/x", "--port", "9001", "--workers", "3", "--max-texts", "8"]) == 0
    assert seen == [ServeSettings(model="runs/x", port=9001, workers=3, max_texts=8)]
    assert main(["serve", "--model", "runs/x", "--max-batch-texts", "0"]) == 2  # a bad setting: an error, no trace


def _record_uvicorn(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, dict[str, Any]]]:
    import uvicorn

    calls: list[tuple[Any, dict[str, Any]]] = []

    def run(app: Any, **options: Any) -> None:
        calls.append((app, {**options, "env": json.loads(serve_module.os.environ.get(SETTINGS_ENV, "null"))}))

    monkeypatch.setattr(uvicorn, "run", run)
    return calls


def test_one_worker_serves_the_model_loaded_in_this_process(tiny_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _record_uvicorn(monkeypatch)
    serve(ServeSettings(model=str(tiny_run), port=9002, threads=1))
    [(app, options)] = calls
    assert options == {"host": "127.0.0.1", "port": 9002, "access_log": False, "log_level": "info", "env": None}
    assert app.state.settings.model == str(tiny_run)


def test_several_workers_build_their_apps_from_the_environment(tiny_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    checked: list[ServeSettings] = []
    monkeypatch.setattr(serve_module, "_check_model_loads", checked.append)
    calls = _record_uvicorn(monkeypatch)
    serve(ServeSettings(model=str(tiny_run), workers=2, max_texts=2))
    [(target, options)] = calls
    assert (target, options["factory"], options["workers"]) == (FACTORY, True, 2)
    # the cores are shared out between the workers unless --threads says otherwise
    settings = ServeSettings(model=str(tiny_run), workers=2, threads=max(1, (os.cpu_count() or 1) // 2), max_texts=2)
    assert checked == [settings] and options["env"] == json.loads(settings.to_json())
    assert SETTINGS_ENV not in serve_module.os.environ  # put back once uvicorn returns

    # what each worker does: uvicorn imports FACTORY and calls it
    monkeypatch.setenv(SETTINGS_ENV, settings.to_json())
    app = app_from_environment()

    async def send() -> list[Any]:
        async with serving(app) as client:
            ok = await client.post("/v1/ner", json={"texts": ["Maria Okafor flew to Lisbon .", ""]})
            too_many = await client.post("/v1/ner", json={"texts": ["a", "b", "c"]})
            return [ok, too_many]

    ok, too_many = asyncio.run(send())
    expected = Predictor.load(tiny_run).predict(["Maria Okafor flew to Lisbon .", ""])
    assert ok.json() == {"results": [{"entities": [e.to_dict() for e in found]} for found in expected]}
    assert too_many.status_code == 413  # the worker got the settings, limits included


def test_a_model_that_cannot_load_stops_several_workers_before_they_start(tmp_path: Path) -> None:
    (tmp_path / "labels.json").write_text("{")
    with pytest.raises(ValueError, match="the model cannot be served: .*bertner.toml"):
        serve(ServeSettings(model=str(tmp_path), workers=2, port=0))


def test_the_factory_needs_its_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SETTINGS_ENV, raising=False)
    with pytest.raises(RuntimeError, match="start the server with `bertner serve`"):
        app_from_environment()
