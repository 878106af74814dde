"""Freezing parts of a pretrained encoder: its embeddings and its lowest transformer layers.

The paper compares fine-tuning every layer with keeping the lower layers at their pretrained weights.
Encoders keep their stack of layers under different names (BERT, RoBERTa, ELECTRA, DeBERTa-v2 and MPNet:
`encoder.layer`; DistilBERT: `transformer.layer`), so the stack is looked up by those paths.

ALBERT is different: it has one set of layer weights (a layer group) applied again at every depth, so
"the lowest k layers" are the same weights as all the others. Freezing them would freeze the whole stack,
so `freeze_layers` raises a ValueError for ALBERT; `freeze_embeddings` works (it freezes the embedding
module; ALBERT's projection from the embedding width to the hidden width is part of the layer stack).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from bertner.errors import UserError

# Where each family keeps its nn.ModuleList of transformer layers, relative to the base model.
LAYER_PATHS = ("encoder.layer", "transformer.layer", "layers", "encoder.layers")


@dataclass(frozen=True)
class ParameterCounts:
    trainable: int
    total: int


def count_parameters(module: nn.Module) -> ParameterCounts:
    """Trainable and total parameters; each shared tensor is counted once."""
    unique = {id(p): p for p in module.parameters()}.values()
    return ParameterCounts(sum(p.numel() for p in unique if p.requires_grad), sum(p.numel() for p in unique))


def _attribute(module: nn.Module, path: str) -> object | None:
    for name in path.split("."):
        module = getattr(module, name, None)  # type: ignore[assignment]
        if module is None:
            return None
    return module


def transformer_layers(encoder: nn.Module) -> nn.ModuleList:
    """The encoder's stack of transformer layers, lowest first.

    Raises:
        UserError: for ALBERT (shared layer weights) or an encoder whose layers are not found.
    """
    if _attribute(encoder, "encoder.albert_layer_groups") is not None:
        raise UserError(
            "ALBERT reuses one set of layer weights at every depth, so its lowest layers cannot be frozen "
            "apart from the others; use freeze_embeddings or LoRA instead of freeze_layers"
        )
    for path in LAYER_PATHS:
        layers = _attribute(encoder, path)
        if isinstance(layers, nn.ModuleList):
            return layers
    kind = getattr(getattr(encoder, "config", None), "model_type", type(encoder).__name__)
    raise UserError(f"cannot find the transformer layers of a {kind} encoder (looked for {', '.join(LAYER_PATHS)})")


def freeze(encoder: nn.Module, embeddings: bool, layers: int) -> None:
    """Stop gradients to the encoder's embeddings and/or its lowest `layers` transformer layers.

    Raises:
        UserError: if `layers` exceeds the encoder's depth, or the layers cannot be frozen (see above).
    """
    if embeddings:
        module = getattr(encoder, "embeddings", None)
        if not isinstance(module, nn.Module):
            raise UserError(f"cannot find the embeddings of a {type(encoder).__name__} encoder")
        module.requires_grad_(False)
    if layers > 0:
        stack = transformer_layers(encoder)
        if layers > len(stack):
            raise UserError(f"model.freeze_layers is {layers} but the encoder has only {len(stack)} layers")
        for layer in stack[:layers]:
            layer.requires_grad_(False)
