"""ONNX export: the PyTorch model is the oracle for the exported graph, and the parity gate guards the folder.

The check sentences are labelled with the PyTorch model's own predictions, so PyTorch scores exactly 100 F1
on them and an export that finds one entity differently scores less.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch
from transformers import BertConfig, BertForTokenClassification, BertTokenizerFast

from bertner.cli import main
from bertner.config import DataConfig
from bertner.data.conll import Sentence
from bertner.data.corpus import read_split
from bertner.data.encoding import EncodingPlan, encode
from bertner.decoding.windows import pad_windows
from bertner.inference.evaluate import evaluate_sentences
from bertner.inference.load import load_inference_model
from bertner.inference.model import InferenceModel
from bertner.inference.onnx import export as export_module
from bertner.inference.onnx.export import ExportReport, export_onnx
from bertner.inference.onnx.runtime import OnnxScorer
from bertner.inference.tagging import tag_words
from bertner.labels import LabelSet, Scheme
from bertner.layout import CRF_FILE, EXPORT_MANIFEST, ONNX_MODEL
from bertner.model.build import LoadedModel, build_tagger
from bertner.model.store import save_model
from tiny_models import built_run_config, plain_model_config

LABELS = LabelSet.from_types(["LOC", "MISC", "ORG", "PER"])


@pytest.fixture(scope="module")
def sentences(tiny_data: Path) -> list[Sentence]:
    return [s for split in ("train", "valid", "test") for s in read_split(tiny_data, split, DataConfig())]


def _run_folder(tiny_bert: Path, folder: Path, crf: bool) -> Path:
    """A saved untrained run: a larger random head (so it predicts a mix of entities), with `crf` also a CRF
    with large random transitions and case features with random shape embeddings, so both matter."""
    model_config = plain_model_config(tiny_bert, crf=crf, case_features=crf)
    torch.manual_seed(0)
    tagger, tokenizer = build_tagger(model_config, LABELS)
    with torch.no_grad():
        tagger.classifier.weight.normal_(std=3.0)
        if tagger.crf is not None and tagger.shape_embedding is not None:
            tagger.crf.transitions.normal_(std=2.0)
            tagger.shape_embedding.weight.normal_(std=1.0)
    save_model(LoadedModel(tagger.eval(), tokenizer, LABELS, built_run_config(model_config)), folder)
    return folder


@pytest.fixture(scope="module", params=[False, True], ids=["plain", "crf-case"])
def run_dir(request: pytest.FixtureRequest, tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _run_folder(tiny_bert, tmp_path_factory.mktemp("run"), request.param)


@pytest.fixture(scope="module")
def plain_run(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _run_folder(tiny_bert, tmp_path_factory.mktemp("plain-run"), crf=False)


def _self_labelled(model: InferenceModel, sentences: Sequence[Sentence]) -> list[Sentence]:
    """The sentences with the model's own predictions as gold: the model scores 100 F1 on them."""
    predicted = tag_words(model, [s.words for s in sentences]).tags
    labelled = [dataclasses.replace(s, tags=tags) for s, tags in zip(sentences, predicted, strict=True)]
    assert any(tag != "O" for s in labelled for tag in s.tags), "the oracle needs at least one predicted entity"
    return labelled


def _logits(model: InferenceModel, words: Sequence[Sequence[str]]) -> tuple[torch.Tensor, torch.Tensor]:
    """The scorer's logits on all windows of `words` in one padded batch, and the attention mask."""
    plan = EncodingPlan.for_config(model.config.data, model.tokenizer, model.label_set)
    batch = pad_windows(encode(plan, words), model.tokenizer.pad_token_id)
    return torch.from_numpy(model.scorer.logits(batch)), torch.from_numpy(batch["attention_mask"]).bool()


def _export(model: InferenceModel, output: Path, sentences: Sequence[Sentence], **options: Any) -> ExportReport:
    return export_onnx(model, output, sentences, check_name="self-labelled", **options)


def test_fp32_export_finds_the_entities_pytorch_finds(run_dir: Path, sentences: list[Sentence], tmp_path: Path) -> None:
    torch_model = load_inference_model(run_dir, backend="torch")
    check = _self_labelled(torch_model, sentences)
    report = _export(torch_model, tmp_path / "export", check, optimize=True)
    assert (report.torch_f1, report.onnx_f1) == (1.0, 1.0)
    assert report.graph.optimized and report.graph.fused.get("Attention") == 2

    exported = load_inference_model(tmp_path / "export")
    assert (exported.kind, exported.backend) == ("export", "onnx")
    assert isinstance(exported.scorer, OnnxScorer)
    has_crf = torch_model.scorer.crf is not None
    assert ("shape_ids" in exported.scorer.inputs) == has_crf
    assert exported.labels == torch_model.labels
    assert exported.config == torch_model.config

    words = [s.words for s in sentences]
    expected, mask = _logits(torch_model, words)
    actual, _ = _logits(exported, words)
    torch.testing.assert_close(actual[mask], expected[mask], atol=1e-4, rtol=1e-4)
    oracle = tag_words(torch_model, words, batch_size=64)
    # Batches of 2 have other batch sizes and lengths than the export traced and than the batch of 64.
    for batch_size in (2, 64):
        tagged = tag_words(exported, words, batch_size=batch_size)
        assert tagged.tags == oracle.tags
        assert tagged.entities == oracle.entities
        np.testing.assert_allclose(sum(tagged.scores, ()), sum(oracle.scores, ()), atol=1e-5)

    files = {path.name for path in (tmp_path / "export").iterdir()}
    assert {ONNX_MODEL, EXPORT_MANIFEST, "labels.json", "bertner.toml", "tokenizer.json"} <= files
    assert (CRF_FILE in files) == has_crf
    if has_crf:
        assert exported.scorer.crf is not None and torch_model.scorer.crf is not None
        # the export's numpy chain holds exactly the torch CRF's scores and constraints
        chain = torch_model.scorer.crf.to_chain()
        for name in ("start", "end", "transitions", "allowed", "allowed_start"):
            assert np.array_equal(getattr(exported.scorer.crf, name), getattr(chain, name))
    manifest = json.loads((tmp_path / "export" / EXPORT_MANIFEST).read_text(encoding="utf-8"))
    assert manifest["parity"] == {
        "torch_f1": 1.0,
        "onnx_f1": 1.0,
        "max_drop": 0.3,
        "check": "self-labelled",
        "sentences": len(check),
    }
    assert (manifest["quantization"], manifest["crf"], manifest["scheme"]) == (None, has_crf, "IOB2")
    assert manifest["source"] == {"path": str(run_dir), "kind": "run", "encoder": torch_model.config.model.encoder}


def _weights(path: Path) -> tuple[dict[str, np.ndarray], list[onnx.NodeProto]]:
    graph = onnx.load(str(path)).graph
    return {i.name: onnx.numpy_helper.to_array(i) for i in graph.initializer}, list(graph.node)


def test_int8_export_quantizes_the_linear_weights_and_stays_close_to_fp32(
    plain_run: Path, sentences: list[Sentence], tmp_path: Path
) -> None:
    torch_model = load_inference_model(plain_run, backend="torch")
    check = _self_labelled(torch_model, sentences)
    # Fused (--optimize), so that attention's weights are one fused node per layer.
    _export(torch_model, tmp_path / "fp32", check, optimize=True)
    # The tiny random model is no measure of int8's accuracy (docs/results.md has MiniLM's); allow any drop.
    report = _export(torch_model, tmp_path / "int8", check, quantize="int8", max_drop=100.0, optimize=True)
    assert report.graph.quantization == "int8"

    fp32_weights, fp32_nodes = _weights(tmp_path / "fp32" / ONNX_MODEL)
    int8_weights, int8_nodes = _weights(tmp_path / "int8" / ONNX_MODEL)
    # Every weight of a linear layer (MatMul) or fused attention is int8, one scale per output channel ...
    linear = [n.input[1] for n in fp32_nodes if n.op_type in ("MatMul", "Attention") and n.input[1] in fp32_weights]
    assert len(linear) == 2 * 4 + 1  # per layer: attention's QKV and output, intermediate, output; the head
    # (onnxruntime names a quantized weight W `W_quantized`, its zero points `W_zero_point`.)
    quantized = {name: w for name, w in int8_weights.items() if name.endswith("_quantized") and w.ndim == 2}
    assert set(quantized) == {f"{name}_quantized" for name in linear}
    assert all(w.dtype == np.int8 for w in quantized.values())
    assert all(int8_weights[f"{name}_zero_point"].size == fp32_weights[name].shape[1] for name in linear)
    # ... and the embedding tables stay fp32.
    [embed] = [n for n in int8_nodes if n.op_type == "EmbedLayerNormalization"]
    assert all(int8_weights[name].dtype == np.float32 for name in embed.input[2:5])
    assert report.graph.onnx_bytes < report.graph.fp32_bytes
    manifest = json.loads((tmp_path / "int8" / EXPORT_MANIFEST).read_text(encoding="utf-8"))
    assert manifest["quantization"] == "int8"
    assert manifest["quantization_settings"]["per_channel"] is True
    assert manifest["parity"]["onnx_f1"] == report.onnx_f1

    exported = load_inference_model(tmp_path / "int8")
    words = [s.words for s in sentences]
    expected, mask = _logits(torch_model, words)
    actual, _ = _logits(exported, words)
    # int8 weights move each logit by a little, not by the spread of the logits (the fp32 graph is exact).
    assert float((actual[mask] - expected[mask]).abs().max()) < 0.1 * float(expected[mask].std())
    assert report.onnx_f1 == evaluate_sentences(exported, check).scores.overall.f1


def _corrupt_weights(path: Path) -> None:
    """Replace every float weight in the graph with random numbers of the same shape."""
    graph = onnx.load(str(path))
    generator = np.random.default_rng(0)
    for initializer in graph.graph.initializer:
        values = onnx.numpy_helper.to_array(initializer)
        if values.dtype == np.float32 and values.size > 1:
            noise = generator.normal(size=values.shape).astype(np.float32)
            initializer.CopyFrom(onnx.numpy_helper.from_array(noise, initializer.name))
    onnx.save(graph, str(path))


def test_parity_gate_refuses_a_corrupted_export_and_writes_nothing(
    plain_run: Path, sentences: list[Sentence], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    torch_model = load_inference_model(plain_run, backend="torch")
    check = _self_labelled(torch_model, sentences)
    earlier = tmp_path / "earlier"
    _export(torch_model, earlier, check)
    before = {path.name: path.read_bytes() for path in earlier.iterdir()}
    real_write_graph = export_module.write_graph

    def write_corrupted_graph(*args: Any, **kwargs: Any) -> Any:
        info = real_write_graph(*args, **kwargs)
        _corrupt_weights(args[1])
        return info

    monkeypatch.setattr(export_module, "write_graph", write_corrupted_graph)
    for output in (tmp_path / "new", earlier):
        with pytest.raises(ValueError, match=r"parity check failed .* PyTorch's 100\.00") as refused:
            _export(torch_model, output, check)
        onnx_f1 = float(str(refused.value).split("F1 ")[1].split(" ")[0])
        assert onnx_f1 < 100.0
    assert not (tmp_path / "new").exists()
    # The earlier export is untouched, and no work folder is left behind.
    assert {path.name: path.read_bytes() for path in earlier.iterdir()} == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["earlier"]


def test_parity_gate_compares_in_f1_points(plain_run: Path, sentences: list[Sentence], tmp_path: Path) -> None:
    torch_model = load_inference_model(plain_run, backend="torch")
    check = _self_labelled(torch_model, sentences)
    # Gold that differs from the model's predictions in one sentence: both backends score the same below 100.
    wrong = [dataclasses.replace(check[0], tags=("O",) * len(check[0].words)), *check[1:]]
    report = _export(torch_model, tmp_path / "export", wrong, max_drop=0.0)
    assert report.torch_f1 == report.onnx_f1 == evaluate_sentences(torch_model, wrong).scores.overall.f1 < 1.0
    assert report.drop == 0.0
    with pytest.raises(ValueError, match="max_drop must be at least 0"):
        _export(torch_model, tmp_path / "other", check, max_drop=-0.1)


def test_refuses_a_folder_that_is_not_an_earlier_export(plain_run: Path, tmp_path: Path) -> None:
    torch_model = load_inference_model(plain_run, backend="torch")
    (tmp_path / "notes.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(ValueError, match="neither empty nor an earlier export"):
        _export(torch_model, tmp_path, [Sentence(("Paris",), ("B-LOC",))])
    assert (tmp_path / "notes.txt").read_text(encoding="utf-8") == "keep me"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["notes.txt"]


def test_an_export_of_another_format_or_without_labels_is_refused(
    plain_run: Path, sentences: list[Sentence], tmp_path: Path
) -> None:
    torch_model = load_inference_model(plain_run, backend="torch")
    _export(torch_model, tmp_path / "export", _self_labelled(torch_model, sentences))
    with pytest.raises(ValueError, match="an ONNX export runs on onnxruntime only"):
        load_inference_model(tmp_path / "export", backend="torch")
    manifest_path = tmp_path / "export" / EXPORT_MANIFEST
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest_path.write_text(json.dumps({**manifest, "format": 99}), encoding="utf-8")
    with pytest.raises(ValueError, match="export format 99; this bertner reads format 1"):
        load_inference_model(tmp_path / "export")
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    (tmp_path / "export" / "labels.json").unlink()
    with pytest.raises(ValueError, match="labels.json: cannot read the labels"):
        load_inference_model(tmp_path / "export")


def _hf_folder(tiny_bert: Path, folder: Path, names: list[str]) -> Path:
    """An HF BertForTokenClassification saved as run_ner.py saves one, with a large random head."""
    config = BertConfig.from_pretrained(
        tiny_bert, id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)}
    )
    torch.manual_seed(0)
    model = BertForTokenClassification(config)
    with torch.no_grad():
        model.classifier.weight.normal_(std=3.0)
    model.save_pretrained(folder)
    BertTokenizerFast.from_pretrained(tiny_bert).save_pretrained(folder)
    return folder


@pytest.mark.parametrize(
    ("names", "scheme"),
    [
        (["B-PER", "I-PER", "O", "B-LOC", "I-LOC"], Scheme.IOB2),
        (["O", "B-PER", "I-PER", "E-PER", "S-PER"], Scheme.BIOES),
    ],
)
def test_hf_token_classification_model_exports(
    tiny_bert: Path, sentences: list[Sentence], tmp_path: Path, names: list[str], scheme: Scheme
) -> None:
    folder = _hf_folder(tiny_bert, tmp_path / "hf", names)
    torch_model = load_inference_model(folder)
    assert (torch_model.kind, torch_model.labels.scheme) == ("hf", scheme)
    check = _self_labelled(torch_model, sentences)
    report = _export(torch_model, tmp_path / "export", check)
    assert (report.torch_f1, report.onnx_f1) == (1.0, 1.0)

    exported = load_inference_model(tmp_path / "export")
    assert exported.labels == torch_model.labels
    manifest = json.loads((tmp_path / "export" / EXPORT_MANIFEST).read_text(encoding="utf-8"))
    assert (manifest["scheme"], manifest["source"]["kind"]) == (scheme.value, "hf")
    words = [s.words for s in sentences]
    assert tag_words(exported, words).tags == tag_words(torch_model, words).tags


def test_onnx_backend_on_a_run_folder_exports_in_memory(plain_run: Path, sentences: list[Sentence]) -> None:
    torch_model = load_inference_model(plain_run, backend="torch")
    onnx_model = load_inference_model(plain_run, backend="onnx", threads=1)
    assert (onnx_model.kind, onnx_model.backend) == ("run", "onnx")
    assert isinstance(onnx_model.scorer, OnnxScorer)
    words = [s.words for s in sentences]
    assert tag_words(onnx_model, words).tags == tag_words(torch_model, words).tags


def test_cli_export_then_predict_and_evaluate_on_the_export(
    plain_run: Path, tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "export"
    capsys.readouterr()
    assert main(["-q", "export", "--model", str(plain_run), "--data", str(tiny_data), "--output", str(output)]) == 0
    printed = capsys.readouterr().out
    valid = read_split(tiny_data, "valid", DataConfig())
    torch_f1 = evaluate_sentences(load_inference_model(plain_run), valid).scores.overall.f1
    assert f"PyTorch F1 {torch_f1 * 100:.2f}, ONNX fp32 F1 {torch_f1 * 100:.2f}" in printed
    assert str(output) in printed
    manifest = json.loads((output / EXPORT_MANIFEST).read_text(encoding="utf-8"))
    assert manifest["parity"]["torch_f1"] == manifest["parity"]["onnx_f1"] == torch_f1
    assert manifest["parity"]["sentences"] == len(valid)
    assert manifest["parity"]["check"] == str(tiny_data / "dev.conll")

    text = "Maria Okafor flew to Lisbon . Tomas Berg left Aarhus ."
    outputs = []
    for model in (plain_run, output):
        assert main(["-q", "predict", "--model", str(model), "--text", text]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1]
    assert json.loads(outputs[0])["text"] == text

    metrics = []
    for model in (plain_run, output):
        report = tmp_path / f"eval-{model.name}"
        argv = ["-q", "evaluate", "--model", str(model), "--data", str(tiny_data), "--split", "test"]
        assert main([*argv, "--output", str(report), "--bootstrap-samples", "10"]) == 0
        metrics.append(json.loads((report / "metrics.json").read_text(encoding="utf-8")))
    assert metrics[1]["overall"] == pytest.approx(metrics[0]["overall"])
    assert metrics[1]["per_type"].keys() == metrics[0]["per_type"].keys()
    for entity_type, row in metrics[0]["per_type"].items():
        assert metrics[1]["per_type"][entity_type] == pytest.approx(row)


def test_cli_export_needs_labelled_sentences(
    plain_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-q", "export", "--model", str(plain_run), "--output", str(tmp_path / "export")]) == 2
    error = capsys.readouterr().err
    assert "bertner export: error:" in error and "--data FOLDER" in error and "--check FILE" in error
    assert len(error.strip().splitlines()) == 1
    assert not (tmp_path / "export").exists()
