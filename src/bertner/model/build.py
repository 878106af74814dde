"""Build a Tagger from a pretrained encoder, and save/load a trained one.

A model with the plain linear head (and no CRF or case features) is saved in the standard HF layout
(`config.json` with the label map, `model.safetensors`), so `AutoModelForTokenClassification.from_pretrained(run_dir)`
and `pipeline("ner", model=run_dir)` work on it. A model with extra parts (an MLP head, a CRF, case features)
cannot be expressed in that layout; it is saved as `encoder/config.json` + `tagger.safetensors`, which the HF
Auto classes refuse clearly (no `config.json`) rather than loading with random weights.
Both layouts carry the tokenizer and bertner's resolved config (`bertner.toml`, labels included), from
which `load_model` rebuilds the same head and CRF. Freezing and LoRA only shape training: LoRA adapters
are merged into the encoder's weights on save, so a saved model never needs peft.
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
from bertner.model.crf import CRF
from bertner.model.encoders import resolve_encoder
from bertner.model.freezing import freeze
from bertner.model.heads import build_head
from bertner.model.lora import add_lora, merged_copy
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


def _splits_like_running_text(tokenizer: Any) -> bool:
    """Whether pre-split words get the ids they get inside running text.

    A byte-level BPE (RoBERTa) without a prefix space encodes the pre-split word `b` as `b`, but the `b` of
    "a b" as `Ġb`, the form it saw in pretraining (docs/FIELD.md #4). transformers 4 refused such a
    tokenizer with a ValueError; transformers 5 silently encodes the wrong form.
    """
    try:
        split = tokenizer([["a", "b"]], is_split_into_words=True, add_special_tokens=False)["input_ids"][0]
    except ValueError:
        return False
    return bool(split == tokenizer("a b", add_special_tokens=False)["input_ids"])


def load_tokenizer(path: str) -> Any:
    """The encoder's fast tokenizer, set up to take pre-split words (byte-level BPE needs a prefix space)."""
    tokenizer = AutoTokenizer.from_pretrained(path)
    if not _splits_like_running_text(tokenizer):
        tokenizer = AutoTokenizer.from_pretrained(path, add_prefix_space=True)
    if not tokenizer.is_fast:
        raise ValueError(f"{path}: bertner needs a fast tokenizer (one with word_ids); this one is not")
    return tokenizer


def _hf_classifier(token_model: nn.Module) -> nn.Linear | None:
    """The token-classification model's own linear head, where it has one named `classifier`."""
    classifier = getattr(token_model, "classifier", None)
    return classifier if isinstance(classifier, nn.Linear) else None


def _assemble(token_model: nn.Module, model_config: ModelConfig, label_set: LabelSet) -> Tagger:
    """A Tagger on the token model's encoder, with the head and CRF the config names."""
    encoder: Any = token_model.base_model
    head = build_head(model_config, encoder.config.hidden_size, len(label_set), _hf_classifier(token_model))
    crf = CRF.from_labels(label_set.labels) if model_config.crf else None
    return Tagger(encoder, head, model_config.classifier_dropout, model_config.case_features, crf)


def _token_model_kwargs(label_set: LabelSet) -> dict[str, Any]:
    return {"num_labels": len(label_set), "id2label": label_set.id2label, "label2id": label_set.label2id}


def build_tagger(model_config: ModelConfig, label_set: LabelSet, cache_dir: Path | None = None) -> tuple[Tagger, Any]:
    """A fresh Tagger on the pretrained encoder named in the config, ready to train, and its tokenizer.

    Args:
        model_config: encoder, head, CRF, freezing and LoRA settings.
        label_set: the labels the head scores.
        cache_dir: where named encoders that are assembled on first use are kept (see model/encoders.py).
    """
    path = resolve_encoder(model_config.encoder, cache_dir)
    token_model = AutoModelForTokenClassification.from_pretrained(path, **_token_model_kwargs(label_set))
    tagger = _assemble(token_model, model_config, label_set)
    freeze(tagger.encoder, model_config.freeze_embeddings, model_config.freeze_layers)
    if model_config.lora:
        tagger.encoder = add_lora(tagger.encoder, model_config)  # type: ignore[assignment]
    return tagger, load_tokenizer(path)


def _is_plain(tagger: Tagger) -> bool:
    """Whether the tagger is an encoder and a linear head only, as an HF token-classification model is."""
    return isinstance(tagger.classifier, nn.Linear) and tagger.shape_embedding is None and tagger.crf is None


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
    encoder: Any = merged_copy(tagger.encoder)
    encoder_config = encoder.config
    encoder_config.update(_token_model_kwargs(label_set))
    token_model = AutoModelForTokenClassification.from_config(encoder_config) if _is_plain(tagger) else None
    target = _hf_classifier(token_model) if token_model is not None else None
    _remove_other_layout(run_dir, plain=target is not None)
    if token_model is not None and target is not None:
        token_model.base_model.load_state_dict(encoder.state_dict())
        target.load_state_dict(tagger.classifier.state_dict())
        token_model.save_pretrained(run_dir)
    else:
        encoder_config.save_pretrained(run_dir / CUSTOM_ENCODER_DIR)
        state = {f"encoder.{k}": v for k, v in encoder.state_dict().items()}
        state.update({k: v for k, v in tagger.state_dict().items() if not k.startswith("encoder.")})
        safetensors.torch.save_file({k: v.contiguous() for k, v in state.items()}, str(run_dir / CUSTOM_WEIGHTS))
    model.tokenizer.save_pretrained(run_dir)
    (run_dir / LABELS_FILENAME).write_text(json.dumps(list(label_set.labels)) + "\n", encoding="utf-8")
    save_config(model.config, run_dir)


def load_model(run_dir: Path) -> LoadedModel:
    """Load a run directory written by `save_model`, rebuilding the head and CRF its config names."""
    if not (run_dir / LABELS_FILENAME).is_file():
        raise FileNotFoundError(f"{run_dir}: not a bertner model folder (no {LABELS_FILENAME}); train one first")
    config = read_saved_config(run_dir)
    label_set = LabelSet(tuple(json.loads((run_dir / LABELS_FILENAME).read_text(encoding="utf-8"))))
    if (run_dir / CUSTOM_WEIGHTS).is_file():
        encoder_config = AutoConfig.from_pretrained(run_dir / CUSTOM_ENCODER_DIR)
        tagger = _assemble(AutoModelForTokenClassification.from_config(encoder_config), config.model, label_set)
        tagger.load_state_dict(safetensors.torch.load_file(str(run_dir / CUSTOM_WEIGHTS)))
    else:
        tagger = _assemble(AutoModelForTokenClassification.from_pretrained(run_dir), config.model, label_set)
    tagger.eval()
    return LoadedModel(tagger, load_tokenizer(str(run_dir)), label_set, config)
