"""Saving and loading: both layouts round-trip exactly, HF tools read the plain one and refuse the custom one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import transformers

from bertner.config import ModelConfig
from bertner.labels import LabelSet
from bertner.model import encoders
from bertner.model.build import LoadedModel, build_tagger
from bertner.model.encoders import EncoderNotInstalledError, NamedEncoder, resolve_encoder
from bertner.model.store import load_model, save_model
from tiny_models import built_run_config, plain_model_config

LABELS = LabelSet.from_types(["LOC", "MISC", "ORG", "PER"])
TEXT = "Maria Okafor flew to Lisbon ."


def _build(tiny_bert: Path, case_features: bool) -> LoadedModel:
    model_config = plain_model_config(tiny_bert, case_features=case_features)
    torch.manual_seed(0)
    tagger, tokenizer = build_tagger(model_config, LABELS)
    return LoadedModel(tagger.eval(), tokenizer, LABELS, built_run_config(model_config))


def _inputs(model: LoadedModel) -> dict[str, torch.Tensor]:
    encoded = model.tokenizer([TEXT.split(), ["Tomas", "Berg"]], is_split_into_words=True, padding=True)
    shapes = torch.tensor([[1, 2, 3, 1, 2, 1, 4, 1], [2, 2, 1, 3, 0, 0, 0, 0]])
    return {
        "input_ids": torch.tensor(encoded["input_ids"]),
        "attention_mask": torch.tensor(encoded["attention_mask"]),
        "shape_ids": shapes[:, : len(encoded["input_ids"][0])],
    }


def _logits(model: LoadedModel, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    with torch.no_grad():
        return model.tagger(**inputs).logits


@pytest.fixture(scope="module")
def plain_run(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[LoadedModel, Path]:
    model = _build(tiny_bert, case_features=False)
    with torch.no_grad():
        # Every sub-token gets B-PER, so the HF pipeline has entities to report.
        model.tagger.classifier.bias[LABELS.label2id["B-PER"]] = 10.0
    run_dir = tmp_path_factory.mktemp("plain-run")
    save_model(model, run_dir)
    return model, run_dir


def test_plain_model_round_trips_exactly(plain_run: tuple[LoadedModel, Path]) -> None:
    model, run_dir = plain_run
    loaded = load_model(run_dir)
    inputs = _inputs(model)
    assert loaded.label_set == LABELS
    assert loaded.config == model.config
    assert loaded.tagger.shape_embedding is None
    assert not loaded.tagger.training
    assert torch.equal(_logits(loaded, inputs), _logits(model, inputs))
    assert loaded.tokenizer(TEXT)["input_ids"] == model.tokenizer(TEXT)["input_ids"]


def test_plain_model_loads_in_the_hf_auto_class(plain_run: tuple[LoadedModel, Path]) -> None:
    model, run_dir = plain_run
    hf_model = transformers.AutoModelForTokenClassification.from_pretrained(run_dir).eval()
    inputs = _inputs(model)
    with torch.no_grad():
        hf_logits = hf_model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).logits
    assert hf_model.config.id2label == LABELS.id2label
    torch.testing.assert_close(hf_logits, _logits(model, inputs))


def test_plain_model_runs_in_the_hf_ner_pipeline(plain_run: tuple[LoadedModel, Path]) -> None:
    _, run_dir = plain_run
    pipe = transformers.pipeline("ner", model=str(run_dir))
    entities = pipe(TEXT)
    assert len(entities) == len(TEXT.split())  # one B-PER per word, as the biased head predicts
    for entity in entities:
        assert entity["entity"] in LABELS.labels
        assert entity["entity"] == "B-PER"
        assert TEXT[entity["start"] : entity["end"]].lower() == entity["word"]


def test_case_feature_model_round_trips_exactly(tiny_bert: Path, tmp_path: Path) -> None:
    model = _build(tiny_bert, case_features=True)
    assert model.tagger.shape_embedding is not None
    with torch.no_grad():
        model.tagger.shape_embedding.weight.normal_()  # as if trained; zeros would hide a lost embedding
    save_model(model, tmp_path)
    loaded = load_model(tmp_path)
    inputs = _inputs(model)
    assert loaded.tagger.shape_embedding is not None
    assert loaded.config.model.case_features
    assert torch.equal(_logits(loaded, inputs), _logits(model, inputs))
    assert json.loads((tmp_path / "labels.json").read_text(encoding="utf-8")) == list(LABELS.labels)


def test_hf_auto_class_refuses_the_case_feature_layout(tiny_bert: Path, tmp_path: Path) -> None:
    save_model(_build(tiny_bert, case_features=True), tmp_path)
    # transformers 5 raises ValueError ("Unrecognized model ... config.json"); older ones raised OSError.
    with pytest.raises((OSError, ValueError), match="config.json"):
        transformers.AutoModelForTokenClassification.from_pretrained(tmp_path)


def test_load_model_names_a_folder_that_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a bertner model folder"):
        load_model(tmp_path)


def test_an_unknown_encoder_name_passes_through() -> None:
    assert resolve_encoder("bert-base-cased") == "bert-base-cased"
    assert resolve_encoder("/some/local/folder") == "/some/local/folder"


def test_a_named_encoder_resolves_to_its_package_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(encoders.NAMED_ENCODERS, "fake", NamedEncoder("json", "model", "pip install json"))
    assert resolve_encoder("fake") == str(Path(json.__file__).parent / "model")


def test_a_named_encoder_without_its_package_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    install = "pip install bertner-no-such-encoder==9.9"
    monkeypatch.setitem(encoders.NAMED_ENCODERS, "fake", NamedEncoder("bertner_no_such_encoder", "model", install))
    with pytest.raises(EncoderNotInstalledError, match=install):
        resolve_encoder("fake")
    with pytest.raises(EncoderNotInstalledError, match=install):
        build_tagger(ModelConfig(encoder="fake"), LABELS)


def test_saving_over_a_model_of_the_other_layout_replaces_it(tiny_bert: Path, tmp_path: Path) -> None:
    """Retraining into the same run folder with case features switched must not load the old weights."""
    custom, plain = _build(tiny_bert, case_features=True), _build(tiny_bert, case_features=False)
    with torch.no_grad():
        plain.tagger.classifier.bias.normal_()
    save_model(custom, tmp_path)
    save_model(plain, tmp_path)
    inputs = _inputs(plain)
    assert torch.equal(_logits(load_model(tmp_path), inputs), _logits(plain, inputs))
    save_model(custom, tmp_path)
    assert torch.equal(_logits(load_model(tmp_path), inputs), _logits(custom, inputs))
    with pytest.raises((OSError, ValueError)):
        transformers.AutoModelForTokenClassification.from_pretrained(tmp_path)
