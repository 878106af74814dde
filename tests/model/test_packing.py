"""Sequence packing (model/packing.py).

Oracle: the same encoder on the padded batch. Packed rows must give every real sub-token the hidden state
it gets there, for each supported architecture and attention implementation, and the same gradients.
"""

from __future__ import annotations

import random

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from transformers import AutoConfig, AutoModel

from bertner.model.packing import encode_packed, pack_rows, packing_supported, plan_rows


@given(st.lists(st.integers(min_value=1, max_value=60), min_size=1, max_size=40))
def test_rows_hold_every_window_once_within_the_longest(lengths: list[int]) -> None:
    rows = plan_rows(lengths)
    assert sorted(i for row in rows for i in row) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in row) <= max(lengths) for row in rows)
    # First fit: no two rows could have been one (the lighter two always overflow the longest window).
    loads = sorted(sum(lengths[i] for i in row) for row in rows)
    assert len(loads) < 2 or loads[0] + loads[1] > max(lengths)


def test_short_windows_share_a_row() -> None:
    assert plan_rows([10, 4, 3, 6, 2]) == [[0], [3, 1], [2, 4]]


def test_the_plan_places_each_sub_token() -> None:
    mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 1, 1]])
    plan = pack_rows(mask)
    # Rows: window 2 (4 sub-tokens) alone; window 0 (3) then window 1 (1).
    assert plan.shape == (2, 4)
    assert plan.position_ids.tolist() == [[0, 1, 2, 3], [0, 1, 2, 0]]
    assert plan.segments.tolist() == [[0, 0, 0, 0], [0, 0, 0, 1]]
    assert plan.padded.tolist() == [8, 9, 10, 11, 0, 1, 2, 4]
    assert plan.packed.tolist() == [0, 1, 2, 3, 4, 5, 6, 7]


_TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 37, "vocab_size": 99}
_ARCHITECTURES = {
    "bert": _TINY,
    "electra": {**_TINY, "embedding_size": 16},
    "albert": {**_TINY, "embedding_size": 16},
    "roberta": {**_TINY, "pad_token_id": 1},
    "xlm-roberta": {**_TINY, "pad_token_id": 1},
    "mpnet": {**_TINY, "pad_token_id": 1},
    "distilbert": {"dim": 32, "n_layers": 2, "n_heads": 2, "hidden_dim": 37, "vocab_size": 99, "pad_token_id": 0},
}


def _batch(pad: int, lengths: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded random ids (batch, longest) and their attention mask."""
    longest = max(lengths)
    ids = torch.full((len(lengths), longest), pad)
    mask = torch.zeros(len(lengths), longest, dtype=torch.long)
    generator = torch.Generator().manual_seed(0)
    for row, n in enumerate(lengths):
        ids[row, :n] = torch.randint(3, 99, (n,), generator=generator)
        mask[row, :n] = 1
    return ids, mask


@pytest.mark.parametrize(
    ("model_type", "implementation"),
    # MPNet has eager attention only.
    [(m, i) for m in sorted(_ARCHITECTURES) for i in ("sdpa", "eager") if (m, i) != ("mpnet", "sdpa")],
)
def test_packed_rows_give_the_padded_hidden_states(model_type: str, implementation: str) -> None:
    torch.manual_seed(0)
    config = AutoConfig.for_model(model_type, **_ARCHITECTURES[model_type])
    encoder = AutoModel.from_config(config, attn_implementation=implementation).eval()
    assert packing_supported(encoder.config)
    lengths = [random.Random(seed).randint(3, 20) for seed in range(9)]
    ids, mask = _batch(int(config.pad_token_id), lengths)
    assert len(pack_rows(mask).segments) < len(lengths)  # some windows do share rows
    with torch.no_grad():
        padded = encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        packed = encode_packed(encoder, mask, ids, None)
        embeds = encoder.get_input_embeddings()(ids)
        from_embeds = encode_packed(encoder, mask, None, embeds)
        padded_from_embeds = encoder(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
    real = mask.bool()
    torch.testing.assert_close(packed[real], padded[real], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(from_embeds[real], padded_from_embeds[real], atol=1e-5, rtol=1e-4)
    assert not packed[~real].any()


def test_gradients_match_the_padded_batch() -> None:
    torch.manual_seed(0)
    encoder = AutoModel.from_config(AutoConfig.for_model("bert", **_TINY), attn_implementation="sdpa").eval()
    ids, mask = _batch(0, [4, 11, 2, 7, 3])
    target = torch.randn(*ids.shape, 32)

    def gradient(packed: bool) -> torch.Tensor:
        encoder.zero_grad()
        hidden = (
            encode_packed(encoder, mask, ids, None)
            if packed
            else encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        )
        ((hidden - target)[mask.bool()] ** 2).sum().backward()
        return torch.cat([p.grad.flatten() for p in encoder.parameters() if p.grad is not None])

    torch.testing.assert_close(gradient(True), gradient(False), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize(("model_type", "implementation"), [("deberta-v2", "eager"), ("bert", "flash_attention_2")])
def test_unsupported_encoders_are_named(model_type: str, implementation: str) -> None:
    config = AutoConfig.for_model(model_type, **_TINY)
    config._attn_implementation = implementation
    assert not packing_supported(config)
