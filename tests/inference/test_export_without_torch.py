"""An ONNX export runs without torch (issue 23.4): `bertner predict`, `bertner evaluate` and the server on an export
of the default kind (CRF + word-shape features) import neither torch nor transformers, and give exactly what the
same export gives when loaded as before, with transformers' tokenizer.

The three run in one subprocess, one after the other, and the modules loaded after each are recorded; the
oracle runs here, in the test process, where torch and transformers are loaded anyway.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from bertner.config import DataConfig
from bertner.data.conll import format_predictions
from bertner.data.corpus import read_split
from bertner.data.encoding import EncodingPlan, encode
from bertner.decoding.windows import pad_windows
from bertner.inference.evaluate import evaluate_sentences
from bertner.inference.load import load_inference_model
from bertner.inference.model import InferenceModel
from bertner.inference.onnx.export import export_onnx
from bertner.inference.predictor import Predictor
from bertner.labels import LabelSet
from bertner.model.build import LoadedModel, build_tagger
from bertner.model.collate import Collator
from bertner.model.store import save_model
from bertner.model.tokenizer import load_tokenizer
from tiny_models import built_run_config, plain_model_config

LABELS = LabelSet.from_types(["LOC", "MISC", "ORG", "PER"])
HEAVY = ("torch", "transformers")
TEXT = "Maria Okafor flew to Lisbon on Monday . Tomas Berg of Quill Systems left Aarhus ; ÉCOLE naïve 3.5 U.S."

# Predict, evaluate, then serve one request, recording the top-level packages loaded after each step.
SCRIPT = """
import json, sys
from pathlib import Path

export, data, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
steps = {}

def loaded():
    return sorted({name.split(".")[0] for name in sys.modules})

from bertner.cli import main

assert main(["-q", "predict", "--model", export, "--text", TEXT, "--output", str(out / "predicted.jsonl")]) == 0
steps["predict"] = loaded()
argv = ["-q", "evaluate", "--model", export, "--data", data, "--split", "test", "--output", str(out / "eval")]
assert main([*argv, "--bootstrap-samples", "10"]) == 0
steps["evaluate"] = loaded()

from fastapi.testclient import TestClient
from bertner.serving.app import app_for
from bertner.serving.settings import ServeSettings

with TestClient(app_for(ServeSettings(model=export, threads=1))) as client:
    answer = client.post("/v1/ner", json={"text": TEXT})
    assert answer.status_code == 200, answer.text
    (out / "served.json").write_text(answer.text, encoding="utf-8")
steps["serve"] = loaded()
(out / "modules.json").write_text(json.dumps(steps), encoding="utf-8")
"""


@pytest.fixture(scope="module")
def export(tiny_bert: Path, tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An fp32 export of an untrained run of the default kind: a CRF with large random transitions and word-shape
    features with random embeddings, so that both change the tags."""
    model_config = plain_model_config(tiny_bert, crf=True, case_features=True)
    torch.manual_seed(0)
    tagger, tokenizer = build_tagger(model_config, LABELS)
    with torch.no_grad():
        tagger.classifier.weight.normal_(std=3.0)
        assert tagger.crf is not None and tagger.shape_embedding is not None
        tagger.crf.transitions.normal_(std=2.0)
        tagger.shape_embedding.weight.normal_(std=1.0)
    run = tmp_path_factory.mktemp("run")
    save_model(LoadedModel(tagger.eval(), tokenizer, LABELS, built_run_config(model_config)), run)
    output = tmp_path_factory.mktemp("export") / "export"
    valid = read_split(tiny_data, "valid", DataConfig())
    export_onnx(load_inference_model(run), output, valid, max_drop=100.0, threads=1)
    return output


def _as_before(export: Path) -> InferenceModel:
    """The export as it was loaded before it ran without torch: transformers' tokenizer (the scores are read with
    the numpy chain either way; tests/inference/test_onnx_backend.py holds it to the torch CRF)."""
    model = load_inference_model(export, threads=1)
    assert not hasattr(model.tokenizer, "convert_tokens_to_ids"), "the export should load the tokenizers library's"
    return dataclasses.replace(model, tokenizer=load_tokenizer(str(export)))


def test_predict_evaluate_and_serve_on_an_export_import_neither_torch_nor_transformers(
    export: Path, tiny_data: Path, tmp_path: Path
) -> None:
    script = f"TEXT = {TEXT!r}\n{SCRIPT}"
    command = [sys.executable, "-c", script, str(export), str(tiny_data), str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    steps = json.loads((tmp_path / "modules.json").read_text(encoding="utf-8"))
    assert steps.keys() == {"predict", "evaluate", "serve"}
    for step, modules in steps.items():
        assert "onnxruntime" in modules and "tokenizers" in modules, step
        assert not set(HEAVY) & set(modules), f"{step} imported {sorted(set(HEAVY) & set(modules))}"

    before = Predictor(_as_before(export))
    (expected,) = before.predict([TEXT])
    assert expected, "the oracle needs at least one entity"
    expected_dicts = [entity.to_dict() for entity in expected]
    predicted = json.loads((tmp_path / "predicted.jsonl").read_text(encoding="utf-8"))
    assert predicted == {"text": TEXT, "entities": expected_dicts}
    served = json.loads((tmp_path / "served.json").read_text(encoding="utf-8"))
    assert [{key: e[key] for key in ("start", "end", "text", "type", "score")} for e in served["entities"]] == (
        expected_dicts
    )

    test = read_split(tiny_data, "test", DataConfig())
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text(encoding="utf-8"))
    oracle = evaluate_sentences(before.model, test, batch_size=8)
    assert metrics["overall"] == pytest.approx(oracle.scores.to_dict()["overall"])
    written = (tmp_path / "eval" / "predictions.conll").read_text(encoding="utf-8")
    assert written == format_predictions(test, oracle.predicted)


def test_the_export_scores_words_exactly_as_when_loaded_with_transformers(export: Path, tiny_data: Path) -> None:
    """Same windows, same padded batch (numpy against torch's Collator), same word scores, tags and probabilities."""
    now, before = load_inference_model(export, threads=1), _as_before(export)
    words = [s.words for s in read_split(tiny_data, "test", DataConfig())] + [TEXT.split()]
    short = DataConfig(max_length=8, window_overlap=2)
    windows = [encode(EncodingPlan.for_config(short, m.tokenizer, LABELS), words) for m in (now, before)]
    assert windows[0] == windows[1] and len(windows[0]) > len(words), "some sentences need several windows"
    padded = pad_windows(windows[0], now.tokenizer.pad_token_id)
    features = [{"input_ids": list(w.input_ids), "shape_ids": list(w.shape_ids)} for w in windows[1]]
    collated = Collator(before.tokenizer.pad_token_id)(features)
    for name in ("input_ids", "attention_mask", "shape_ids"):
        assert np.array_equal(padded[name], collated[name].numpy()), name
    scores = [model.word_scores(words, batch_size=3) for model in (now, before)]
    assert np.array_equal(scores[0].logits, scores[1].logits)
    assert Predictor(now).predict([TEXT]) == Predictor(before).predict([TEXT])


# An install without the `train` extra, as far as Python can tell: importing torch or transformers fails.
WITHOUT_TORCH = """
import sys
sys.modules["torch"] = None
sys.modules["transformers"] = None
from bertner.cli import main

export, data, out = sys.argv[1], sys.argv[2], sys.argv[3]
print("predict", main(["-q", "predict", "--model", export, "--text", "Tomas Berg left Aarhus .", "--output", out]))
print("train", main(["-q", "train", "--data", data, "--output", out + "-run"]))
"""


def test_without_torch_an_export_predicts_and_training_names_the_extra(
    export: Path, tiny_data: Path, tmp_path: Path
) -> None:
    output = tmp_path / "predicted.jsonl"
    command = [sys.executable, "-c", WITHOUT_TORCH, str(export), str(tiny_data), str(output)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["predict", "0", "train", "2"]
    assert json.loads(output.read_text(encoding="utf-8"))["text"] == "Tomas Berg left Aarhus ."
    assert "bertner train: error: this needs PyTorch and transformers" in done.stderr
    assert "pip install 'bertner[train]'" in done.stderr
    assert not (tmp_path / "predicted.jsonl-run").exists()
