"""The masked-LM loss with the head run on the chosen sub-tokens only.

An HF masked-LM model scores the whole vocabulary at every position and then takes the loss at the ~15% that were
chosen. Its head is then most of a step on a small encoder: for MiniLM-L6 (384 wide, 30,522 sub-tokens) a batch of
32 x 128 sub-tokens makes 125 M logits. Run on the chosen positions only (as fairseq's RoBERTa does), the head
costs about a seventh of that, and the loss is the same: the head works position by position.

That needs the head as one module (BERT's `cls`, RoBERTa's and MPNet's `lm_head`). A model that splits it into
several (DistilBERT, ELECTRA) keeps the model's own loss, as does one whose sparse loss differs from the model's on
a first batch (`sparse_loss_matches`).
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn
from transformers import Trainer

logger = logging.getLogger(__name__)

IGNORE = -100
"""The label of a position that was not chosen (HF's convention)."""


def single_head(model: Any) -> nn.Module | None:
    """The model's masked-LM head when it is its one module besides the encoder, else None."""
    others = [module for name, module in model.named_children() if name != model.base_model_prefix]
    return others[0] if len(others) == 1 else None


def sparse_mlm_loss(model: Any, head: nn.Module, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """The mean cross-entropy over the chosen positions, the head run on those alone.

    Args:
        inputs: `input_ids`, `attention_mask` and `labels`, each (batch, seq_len); `labels` is the original id at a
            chosen position and IGNORE elsewhere.
    """
    labels = inputs["labels"]
    encoded = {key: value for key, value in inputs.items() if key != "labels"}
    hidden = model.base_model(**encoded)[0]  # (batch, seq_len, hidden)
    chosen = labels != IGNORE
    if not chosen.any():
        # The model's own loss would be 0/0 = nan and its gradient would poison the weights.
        return hidden.sum() * 0.0
    logits = head(hidden[chosen])  # (chosen positions, vocabulary)
    return nn.functional.cross_entropy(logits.float(), labels[chosen])


@torch.no_grad()
def sparse_loss_matches(model: Any, head: nn.Module, inputs: dict[str, torch.Tensor]) -> bool:
    """Whether the sparse loss equals the model's own on `inputs` (in eval mode: no dropout), to 1e-4 relative."""
    was_training = model.training
    model.eval()
    try:
        own = model(**inputs).loss.float()
        sparse = sparse_mlm_loss(model, head, inputs)
    finally:
        model.train(was_training)
    return bool(torch.isclose(own, sparse, rtol=1e-4, atol=1e-6))


class MaskedLMTrainer(Trainer):
    """The HF Trainer, its training loss taken with the head on the chosen positions only when `head` is given."""

    def __init__(self, *args: Any, head: nn.Module | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.head = head

    def compute_loss(
        self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
    ) -> Any:
        if self.head is None or return_outputs:
            return super().compute_loss(
                model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch
            )
        # Accelerate puts only the model's own forward under bf16 autocast; the encoder is called directly here.
        with self.accelerator.autocast():
            return sparse_mlm_loss(model, self.head, inputs)
