"""Heads: the MLP head is linear -> activation -> dropout -> linear; the config picks the head."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bertner.config import ModelConfig
from bertner.model.heads import ACTIVATIONS, MLPHead, build_head


@pytest.mark.parametrize(
    ("activation", "function"),
    [("tanh", torch.tanh), ("relu", torch.relu), ("gelu", nn.functional.gelu)],
)
def test_mlp_head_is_linear_activation_linear(activation: str, function: object) -> None:
    torch.manual_seed(0)
    head = MLPHead(hidden_size=6, head_hidden=5, num_labels=3, activation=activation, dropout=0.5).eval()
    hidden = torch.randn(2, 4, 6)  # (batch, seq_len, hidden_size)
    expected = function(hidden @ head.hidden.weight.T + head.hidden.bias) @ head.output.weight.T + head.output.bias  # type: ignore[operator]
    torch.testing.assert_close(head(hidden), expected)
    assert head(hidden).shape == (2, 4, 3)
    assert head.out_features == 3


def test_mlp_head_applies_dropout_in_training_only() -> None:
    torch.manual_seed(0)
    head = MLPHead(6, 64, 3, "relu", dropout=0.5)
    hidden = torch.randn(1, 3, 6)
    assert not torch.equal(head.train()(hidden), head.eval()(hidden))
    assert torch.equal(head.eval()(hidden), head.eval()(hidden))


def test_build_head_follows_the_config() -> None:
    hf_linear = nn.Linear(8, 9)
    assert build_head(ModelConfig(), 8, 9, hf_linear) is hf_linear  # HF's initialisation and layout are kept
    assert isinstance(build_head(ModelConfig(), 8, 9), nn.Linear)
    mlp = build_head(ModelConfig(head="mlp", head_hidden=7, head_activation="gelu", classifier_dropout=0.3), 8, 9)
    assert isinstance(mlp, MLPHead)
    assert (mlp.hidden.in_features, mlp.hidden.out_features, mlp.out_features) == (8, 7, 9)
    assert isinstance(mlp.activation, ACTIVATIONS["gelu"])
    assert mlp.dropout.p == 0.3


def test_unknown_head_or_activation_is_refused() -> None:
    with pytest.raises(ValueError, match="'softmax'"):
        build_head(ModelConfig(head="softmax"), 8, 9)
    with pytest.raises(ValueError, match="'swish'"):
        MLPHead(8, 4, 9, "swish", 0.1)
