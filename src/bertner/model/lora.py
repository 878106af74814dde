"""LoRA (Hu et al. 2021) on the encoder through peft, and merging the adapters back for saving.

Only the encoder is wrapped: its pretrained weights are frozen and low-rank updates are trained on its
attention projections, while the Tagger's head, CRF and case-feature embedding live outside the wrapper
and train fully. When the model is saved the updates are merged into a copy of the encoder's weights
(`W + (alpha / r) B A`), so a saved model is a plain encoder that loads and predicts without peft.
peft is an optional extra (`pip install 'bertner[lora]'`), imported only when LoRA is switched on.
"""

from __future__ import annotations

import copy
from typing import Any

from torch import nn

from bertner.config import ModelConfig
from bertner.errors import MissingExtraError, UserError

# The query and value projections of each architecture's self-attention, as the LoRA paper adapts.
DEFAULT_TARGETS: dict[str, tuple[str, ...]] = {
    "bert": ("query", "value"),
    "roberta": ("query", "value"),
    "xlm-roberta": ("query", "value"),
    "camembert": ("query", "value"),
    "electra": ("query", "value"),
    "albert": ("query", "value"),
    "distilbert": ("q_lin", "v_lin"),
    "deberta-v2": ("query_proj", "value_proj"),
    "mpnet": ("q", "v"),
}


def default_targets(encoder: nn.Module) -> tuple[str, ...]:
    """The architecture's query and value projections; raises UserError for an architecture not in the table."""
    model_type = getattr(getattr(encoder, "config", None), "model_type", None)
    if model_type not in DEFAULT_TARGETS:
        raise UserError(
            f"no default LoRA target modules for model_type {model_type!r}; set model.lora_targets "
            f"(known defaults: {', '.join(sorted(DEFAULT_TARGETS))})"
        )
    return DEFAULT_TARGETS[model_type]


def _peft() -> Any:
    try:
        import peft
    except ImportError as error:
        raise MissingExtraError("LoRA needs peft: pip install 'bertner[lora]'") from error
    return peft


def add_lora(encoder: nn.Module, config: ModelConfig) -> nn.Module:
    """The encoder wrapped with trainable LoRA adapters; its own weights no longer train.

    Raises:
        MissingExtraError: naming the `bertner[lora]` extra when peft is not installed.
        UserError: when a target module name matches no layer of the encoder.
    """
    peft = _peft()
    targets = list(config.lora_targets or default_targets(encoder))
    names = {name.rsplit(".", 1)[-1] for name, _ in encoder.named_modules()}
    unknown = [target for target in targets if target not in names]
    if unknown:
        raise UserError(f"model.lora_targets {unknown} match no layer of the {type(encoder).__name__} encoder")
    lora_config = peft.LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=targets,
        bias="none",
    )
    return peft.get_peft_model(encoder, lora_config)


def has_lora(encoder: nn.Module) -> bool:
    """Whether `encoder` carries peft adapters (checked without importing peft)."""
    return type(encoder).__module__.split(".")[0] == "peft" and hasattr(encoder, "merge_and_unload")


def merged_copy(encoder: nn.Module) -> nn.Module:
    """A plain encoder with the adapters merged into its weights; `encoder` itself is left as it was."""
    if not has_lora(encoder):
        return encoder
    return copy.deepcopy(encoder).merge_and_unload()  # type: ignore[operator]
