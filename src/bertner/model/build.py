"""Build a Tagger from a pretrained encoder: the encoder, the head and CRF the config names, freezing and LoRA.

Saving and loading a trained one is model/store.py."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn
from transformers import AutoModelForTokenClassification

from bertner.config import Config, ModelConfig
from bertner.errors import UserError
from bertner.labels import LabelSet
from bertner.model.crf import CRF
from bertner.model.encoders import resolve_encoder
from bertner.model.freezing import freeze
from bertner.model.heads import build_head
from bertner.model.lora import add_lora
from bertner.model.tagger import Tagger
from bertner.model.tokenizer import load_tokenizer

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    """A network with everything needed to use it."""

    tagger: Tagger
    tokenizer: Any
    label_set: LabelSet
    config: Config


def hf_classifier(token_model: nn.Module) -> nn.Linear | None:
    """The token-classification model's own linear head, where it has one named `classifier`."""
    classifier = getattr(token_model, "classifier", None)
    return classifier if isinstance(classifier, nn.Linear) else None


def assemble(token_model: nn.Module, model_config: ModelConfig, label_set: LabelSet) -> Tagger:
    """A Tagger on the token model's encoder, with the head and CRF the config names."""
    encoder: Any = token_model.base_model
    head = build_head(model_config, encoder.config.hidden_size, len(label_set), hf_classifier(token_model))
    crf = CRF.from_labels(label_set.labels) if model_config.crf else None
    return Tagger(encoder, head, model_config.classifier_dropout, model_config.case_features, crf)


def token_model_kwargs(label_set: LabelSet) -> dict[str, Any]:
    return {"num_labels": len(label_set), "id2label": label_set.id2label, "label2id": label_set.label2id}


def build_tagger(
    model_config: ModelConfig, label_set: LabelSet, cache_dir: Path | None = None, trust_remote_code: bool = False
) -> tuple[Tagger, Any]:
    """A fresh Tagger on the pretrained encoder named in the config, ready to train, and its tokenizer.

    Args:
        model_config: encoder, head, CRF, freezing and LoRA settings.
        label_set: the labels the head scores.
        cache_dir: where named encoders that are assembled on first use are kept (see model/encoders.py).
        trust_remote_code: run the encoder's own Python code from its folder or hub repository, if it has any.
            Off unless the user asks (`bertner train --trust-remote-code`): that code runs with the user's rights.
    """
    path = resolve_encoder(model_config.encoder, cache_dir)
    # Weights only from safetensors: a pickled pytorch_model.bin can run code when it is unpickled.
    try:
        token_model = AutoModelForTokenClassification.from_pretrained(
            path, use_safetensors=True, trust_remote_code=trust_remote_code, **token_model_kwargs(label_set)
        )
    except (OSError, ValueError) as error:  # transformers: no such folder or hub id, no safetensors, no known class
        raise UserError(f"encoder {model_config.encoder!r}: cannot load it: {error}") from error
    tagger = assemble(token_model, model_config, label_set)
    freeze(tagger.encoder, model_config.freeze_embeddings, model_config.freeze_layers)
    if model_config.lora:
        tagger.encoder = add_lora(tagger.encoder, model_config)  # type: ignore[assignment]
    return tagger, load_tokenizer(path, trust_remote_code)
