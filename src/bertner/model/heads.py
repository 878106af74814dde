"""Classifier heads: encoder hidden states -> one score per label for each sub-token.

The paper compares a plain linear ("softmax") head with heads that put a hidden layer and a ReLU or
tanh activation between the encoder and the output layer. Both take (batch, seq_len, hidden_size) and
return (batch, seq_len, num_labels); dropout on the encoder's output is the Tagger's, not the head's.
"""

from __future__ import annotations

import torch
from torch import nn

from bertner.config import ModelConfig

ACTIVATIONS: dict[str, type[nn.Module]] = {"tanh": nn.Tanh, "relu": nn.ReLU, "gelu": nn.GELU}


class MLPHead(nn.Module):
    """Linear -> activation -> dropout -> linear.

    Args:
        hidden_size: width of the encoder's hidden states.
        head_hidden: width of the head's hidden layer.
        num_labels: number of labels scored.
        activation: tanh, relu or gelu.
        dropout: dropout probability after the activation.
    """

    def __init__(self, hidden_size: int, head_hidden: int, num_labels: int, activation: str, dropout: float) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        self.hidden = nn.Linear(hidden_size, head_hidden)
        self.activation = ACTIVATIONS[activation]()
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(head_hidden, num_labels)

    @property
    def out_features(self) -> int:
        """The number of labels, as on an nn.Linear head."""
        return self.output.out_features

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """(batch, seq_len, hidden_size) -> (batch, seq_len, num_labels)."""
        return self.output(self.dropout(self.activation(self.hidden(hidden))))


def build_head(
    config: ModelConfig, hidden_size: int, num_labels: int, linear: nn.Linear | None = None
) -> nn.Linear | MLPHead:
    """The head named by `config.head`.

    Args:
        config: the model settings (head, head_hidden, head_activation, classifier_dropout).
        hidden_size: width of the encoder's hidden states.
        num_labels: number of labels.
        linear: the HF token-classification model's own linear classifier, reused for the linear head so
            that it is initialised as HF initialises it and a saved model keeps the HF layout.
    """
    if config.head == "mlp":
        return MLPHead(hidden_size, config.head_hidden, num_labels, config.head_activation, config.classifier_dropout)
    if config.head != "linear":
        raise ValueError(f"model.head must be 'linear' or 'mlp', got {config.head!r}")
    if linear is not None and (linear.in_features, linear.out_features) == (hidden_size, num_labels):
        return linear
    return nn.Linear(hidden_size, num_labels)
