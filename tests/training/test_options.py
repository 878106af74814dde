"""Each model option trains a few steps on the tiny data, saves, loads and predicts.

The oracle for save and load is the trained network itself: the saved model must give the logits of the
model as training left it (captured by wrapping `save_model`), and the valid F1 training reported.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import safetensors.torch
import torch
import transformers

from bertner.config import Config
from bertner.config_files import load_config
from bertner.data.corpus import Corpus, load_corpus
from bertner.data.encoding import EncodingPlan, encode
from bertner.inference.evaluate import evaluate_sentences
from bertner.inference.model import InferenceModel
from bertner.inference.predictor import Predictor
from bertner.labels import Scheme, first_illegal
from bertner.model import lora as lora_module
from bertner.model.build import LoadedModel, build_tagger
from bertner.model.collate import Collator
from bertner.model.heads import ACTIVATIONS, MLPHead
from bertner.model.store import load_model
from bertner.training import trainer as trainer_module
from bertner.training.trainer import TrainResult, train_model

TEXTS = ["Maria Okafor flew to Lisbon on Tuesday .", "The Harbour Trust hired Tomas Berg ."]


def _config(encoder: Path, model: dict[str, Any], data: dict[str, Any] | None = None, **train: Any) -> Config:
    """The plain model (no CRF or word-shape features, fp32) with `model`'s options: each test adds one."""
    return load_config(
        None,
        {
            "model": {"encoder": str(encoder), "crf": False, "case_features": False, **model},
            "train": {"epochs": 1, "lr": 1e-3, "batch_size": 4, "bf16": False, **train},
            "data": data or {},
        },
    )


def _train(
    config: Config, tiny_data: Path, run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[TrainResult, LoadedModel, Corpus]:
    """Train, and return the result, the in-memory model as training saved it, and the corpus."""
    saved: list[LoadedModel] = []
    original = trainer_module.save_model

    def capture(model: LoadedModel, directory: Path) -> None:
        saved.append(model)
        original(model, directory)

    monkeypatch.setattr(trainer_module, "save_model", capture)
    corpus = load_corpus(str(tiny_data), config.data)
    result = train_model(config, corpus, run_dir, progress=False)
    return result, saved[0], corpus


def _logits(model: LoadedModel, corpus: Corpus) -> torch.Tensor:
    plan = EncodingPlan.for_config(model.config.data, model.tokenizer, model.label_set)
    windows = encode(plan, [s.words for s in corpus.valid])
    batch = Collator(model.tokenizer.pad_token_id)([w.features() for w in windows])
    model.tagger.eval()
    with torch.no_grad():
        return model.tagger(**batch).logits


def _check_round_trip(result: TrainResult, trained: LoadedModel, corpus: Corpus, run_dir: Path) -> LoadedModel:
    loaded = load_model(run_dir)
    assert loaded.config == trained.config
    torch.testing.assert_close(_logits(loaded, corpus), _logits(trained, corpus), rtol=1e-5, atol=1e-5)
    assert evaluate_sentences(loaded, corpus.valid).scores.overall.f1 == result.best_valid_f1
    for text, entities in zip(TEXTS, Predictor(InferenceModel.from_loaded(loaded)).predict(TEXTS), strict=True):
        assert all(entity.text == text[entity.start : entity.end] for entity in entities)
    return loaded


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_mlp_head(
    activation: str, tiny_bert: Path, tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(tiny_bert, {"head": "mlp", "head_hidden": 12, "head_activation": activation})
    result, trained, corpus = _train(config, tiny_data, tmp_path, monkeypatch)
    loaded = _check_round_trip(result, trained, corpus, tmp_path)
    assert isinstance(loaded.tagger.classifier, MLPHead)
    assert isinstance(loaded.tagger.classifier.activation, ACTIVATIONS[activation])
    assert loaded.tagger.classifier.hidden.out_features == 12
    assert (tmp_path / "tagger.safetensors").is_file() and not (tmp_path / "config.json").exists()


def test_a_model_trained_under_bf16_runs_in_memory_as_it_runs_once_loaded(
    tiny_bert: Path, tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Accelerate wraps the forward in autocast for bf16 training; the model train_model leaves must not keep it.
    config = _config(tiny_bert, {}, bf16=True)
    result, trained, corpus = _train(config, tiny_data, tmp_path, monkeypatch)
    _check_round_trip(result, trained, corpus, tmp_path)


@pytest.mark.parametrize("alignment", ["first", "all"])
def test_crf(alignment: str, tiny_bert: Path, tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = _config(tiny_bert, {"crf": True}, {"alignment": alignment}, crf_lr=0.05)
    result, trained, corpus = _train(config, tiny_data, tmp_path, monkeypatch)
    assert trained.tagger.crf is not None
    # Scores start in [-0.1, 0.1], and Adam moves each by about its lr per step: past 0.11 after a handful of
    # steps means the CRF's own learning rate (0.05), not the encoder's (1e-3), was applied.
    assert trained.tagger.crf.transitions.abs().max() > 0.11
    loaded = _check_round_trip(result, trained, corpus, tmp_path)
    assert loaded.tagger.crf is not None
    assert torch.equal(loaded.tagger.crf.transitions, trained.tagger.crf.transitions)
    predicted = evaluate_sentences(loaded, corpus.test).predicted
    assert all(first_illegal(tags, Scheme.IOB2) is None for tags in predicted)
    assert (tmp_path / "tagger.safetensors").is_file() and not (tmp_path / "config.json").exists()


def test_freezing_keeps_the_embeddings_and_lowest_layers_at_their_pretrained_weights(
    tiny_bert: Path, tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(tiny_bert, {"freeze_embeddings": True, "freeze_layers": 1})
    result, trained, corpus = _train(config, tiny_data, tmp_path, monkeypatch)
    encoder = trained.tagger.encoder
    frozen = sum(p.numel() for p in [*encoder.embeddings.parameters(), *encoder.encoder.layer[0].parameters()])
    assert result.total_parameters == sum(p.numel() for p in trained.tagger.parameters())
    assert result.trainable_parameters == result.total_parameters - frozen
    loaded = _check_round_trip(result, trained, corpus, tmp_path)
    pretrained = safetensors.torch.load_file(str(tiny_bert / "model.safetensors"))
    state = loaded.tagger.encoder.state_dict()
    for name, tensor in state.items():
        if name.startswith(("embeddings.", "encoder.layer.0.")):
            assert torch.equal(tensor, pretrained[name]), name
    assert not torch.equal(
        state["encoder.layer.1.output.dense.weight"], pretrained["encoder.layer.1.output.dense.weight"]
    )
    # A linear head without extra parts keeps the HF layout.
    assert transformers.AutoModelForTokenClassification.from_pretrained(tmp_path).config.num_labels == len(
        corpus.label_set
    )


def test_freezing_more_layers_than_the_encoder_has_is_refused(tiny_bert: Path, tiny_data: Path) -> None:
    config = _config(tiny_bert, {"freeze_layers": 3})
    with pytest.raises(ValueError, match="freeze_layers is 3 but the encoder has only 2 layers"):
        build_tagger(config.model, load_corpus(str(tiny_data), config.data).label_set)


def test_lora_trains_adapters_and_head_and_saves_a_merged_model_that_loads_without_peft(
    tiny_bert: Path, tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(tiny_bert, {"lora": True, "lora_r": 4, "lora_alpha": 8, "case_features": True})
    result, trained, corpus = _train(config, tiny_data, tmp_path, monkeypatch)
    trainable = {name for name, p in trained.tagger.named_parameters() if p.requires_grad}
    assert trainable, "nothing trains"
    assert all("lora_" in name or not name.startswith("encoder.") for name in trainable)
    assert {"classifier.weight", "classifier.bias", "shape_embedding.weight"} <= trainable
    assert any(".query.lora_A." in name for name in trainable) and any(".value.lora_B." in name for name in trainable)
    assert not any(".key." in name for name in trainable)
    # 2 layers x (query, value) x (A: 4 x 32, B: 32 x 4), plus the head and the shape embedding
    head = sum(p.numel() for p in trained.tagger.classifier.parameters())
    shapes = trained.tagger.shape_embedding.weight.numel()  # type: ignore[union-attr]
    assert result.trainable_parameters == 2 * 2 * (4 * 32 + 32 * 4) + head + shapes

    monkeypatch.setitem(sys.modules, "peft", None)  # a user without the lora extra
    loaded = _check_round_trip(result, trained, corpus, tmp_path)
    pretrained = safetensors.torch.load_file(str(tiny_bert / "model.safetensors"))
    state = loaded.tagger.encoder.state_dict()
    name = "encoder.layer.0.attention.self.{}.weight"
    assert not torch.equal(state[name.format("query")], pretrained[name.format("query")])  # the update is merged
    assert torch.equal(state[name.format("key")], pretrained[name.format("key")])  # untargeted weights are not
    assert not any("lora" in key for key in safetensors.torch.load_file(str(tmp_path / "tagger.safetensors")))


def test_lora_without_peft_names_the_extra(tiny_bert: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "peft", None)
    config = _config(tiny_bert, {"lora": True})
    with pytest.raises(ImportError, match=r"bertner\[lora\]"):
        lora_module.add_lora(torch.nn.Linear(2, 2), config.model)


def test_lora_targets_that_match_nothing_are_refused(tiny_bert: Path, tiny_data: Path) -> None:
    config = _config(tiny_bert, {"lora": True, "lora_targets": ["q_proj"]})
    with pytest.raises(ValueError, match=r"\['q_proj'\] match no layer"):
        build_tagger(config.model, load_corpus(str(tiny_data), config.data).label_set)
