"""Build a Tagger from a pretrained encoder, and save/load a trained one.

A model with the plain linear head is saved in the standard HF layout (`config.json` with the label
map, `model.safetensors`), so `AutoModelForTokenClassification.from_pretrained(run_dir)` and
`pipeline("ner", model=run_dir)` work on it. A model with extra parts (case features) cannot be
expressed in that layout; it is saved as `encoder/config.json` + `tagger.safetensors`, which the HF
Auto classes refuse clearly (no `config.json`) rather than loading with random weights.
Both layouts carry the tokenizer and bertner's resolved config (`bertner.toml`, labels included).
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import safetensors.torch
from torch import nn
from transformers import AutoConfig, AutoModelForTokenClassification, AutoTokenizer

from bertner.config import Config, ModelConfig, read_saved_config, save_config
from bertner.labels import LabelSet
from bertner.model.encoders import resolve_encoder
from bertner.model.tagger import Tagger

logger = logging.getLogger(__name__)

LABELS_FILENAME = "labels.json"
CUSTOM_WEIGHTS = "tagger.safetensors"
CUSTOM_ENCODER_DIR = "encoder"


@dataclass(frozen=True)
class LoadedModel:
    """A network with everything needed to use it."""

    tagger: Tagger
    tokenizer: Any
    label_set: LabelSet
    config: Config


def load_tokenizer(path: str) -> Any:
    """The encoder's fast tokenizer, set up to take pre-split words (byte-level BPE needs a prefix space)."""
    tokenizer = AutoTokenizer.from_pretrained(path)
    try:
        tokenizer([["a"]], is_split_into_words=True)
    except ValueError:
        tokenizer = AutoTokenizer.from_pretrained(path, add_prefix_space=True)
    if not tokenizer.is_fast:
        raise ValueError(f"{path}: bertner needs a fast tokenizer (one with word_ids); this one is not")
    return tokenizer


def _hf_classifier(token_model: nn.Module) -> nn.Linear | None:
    """The token-classification model's own linear head, where it has one named `classifier`."""
    classifier = getattr(token_model, "classifier", None)
    return classifier if isinstance(classifier, nn.Linear) else None


def _split(token_model: nn.Module, num_labels: int) -> tuple[Any, nn.Linear]:
    encoder = token_model.base_model
    classifier = _hf_classifier(token_model) or nn.Linear(encoder.config.hidden_size, num_labels)
    return encoder, classifier


def _token_model_kwargs(label_set: LabelSet) -> dict[str, Any]:
    return {"num_labels": len(label_set), "id2label": label_set.id2label, "label2id": label_set.label2id}


def build_tagger(model_config: ModelConfig, label_set: LabelSet) -> tuple[Tagger, Any]:
    """A fresh Tagger on the pretrained encoder named in the config, and its tokenizer."""
    path = resolve_encoder(model_config.encoder)
    token_model = AutoModelForTokenClassification.from_pretrained(path, **_token_model_kwargs(label_set))
    encoder, classifier = _split(token_model, len(label_set))
    tagger = Tagger(encoder, classifier, model_config.classifier_dropout, model_config.case_features)
    return tagger, load_tokenizer(path)


def _remove_other_layout(run_dir: Path, plain: bool) -> None:
    """Delete a model of the other layout saved earlier in `run_dir`, which would otherwise be loaded instead."""
    if plain:
        (run_dir / CUSTOM_WEIGHTS).unlink(missing_ok=True)
        shutil.rmtree(run_dir / CUSTOM_ENCODER_DIR, ignore_errors=True)
        return
    # Without config.json the HF Auto classes refuse the folder instead of loading the old plain weights.
    for pattern in ("config.json", "model*.safetensors", "model*.safetensors.index.json"):
        for path in run_dir.glob(pattern):
            path.unlink()


def save_model(model: LoadedModel, run_dir: Path) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    tagger, label_set = model.tagger, model.label_set
    encoder_config = tagger.encoder.config
    encoder_config.update(_token_model_kwargs(label_set))
    token_model = AutoModelForTokenClassification.from_config(encoder_config)
    target = _hf_classifier(token_model) if tagger.shape_embedding is None else None
    _remove_other_layout(run_dir, plain=target is not None)
    if target is not None:
        token_model.base_model.load_state_dict(tagger.encoder.state_dict())
        target.load_state_dict(tagger.classifier.state_dict())
        token_model.save_pretrained(run_dir)
    else:
        encoder_config.save_pretrained(run_dir / CUSTOM_ENCODER_DIR)
        state = {k: v.contiguous() for k, v in tagger.state_dict().items()}
        safetensors.torch.save_file(state, str(run_dir / CUSTOM_WEIGHTS))
    model.tokenizer.save_pretrained(run_dir)
    (run_dir / LABELS_FILENAME).write_text(json.dumps(list(label_set.labels)) + "\n", encoding="utf-8")
    save_config(model.config, run_dir)


def load_model(run_dir: Path) -> LoadedModel:
    """Load a run directory written by `save_model`."""
    if not (run_dir / LABELS_FILENAME).is_file():
        raise FileNotFoundError(f"{run_dir}: not a bertner model folder (no {LABELS_FILENAME}); train one first")
    config = read_saved_config(run_dir)
    label_set = LabelSet(tuple(json.loads((run_dir / LABELS_FILENAME).read_text(encoding="utf-8"))))
    dropout, case = config.model.classifier_dropout, config.model.case_features
    if (run_dir / CUSTOM_WEIGHTS).is_file():
        encoder_config = AutoConfig.from_pretrained(run_dir / CUSTOM_ENCODER_DIR)
        encoder, classifier = _split(AutoModelForTokenClassification.from_config(encoder_config), len(label_set))
        tagger = Tagger(encoder, classifier, dropout, case)
        tagger.load_state_dict(safetensors.torch.load_file(str(run_dir / CUSTOM_WEIGHTS)))
    else:
        encoder, classifier = _split(AutoModelForTokenClassification.from_pretrained(run_dir), len(label_set))
        tagger = Tagger(encoder, classifier, dropout, case)
    tagger.eval()
    return LoadedModel(tagger, load_tokenizer(str(run_dir)), label_set, config)
