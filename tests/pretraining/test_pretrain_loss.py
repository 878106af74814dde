"""The masked-LM loss with the head on the chosen positions only equals the model's own (BERT and MPNet heads), runs
under the Trainer's bf16 autocast, and is left to the model where its head is not one module."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import torch
from pretrain_helpers import random_words, write_letters_bert, write_tiny_mpnet
from transformers import DistilBertConfig, DistilBertForMaskedLM, TrainingArguments

from bertner.model.tokenizer import load_tokenizer
from bertner.pretraining.examples import MaskingCollator, WindowDataset, make_windows
from bertner.pretraining.loss import MaskedLMTrainer, single_head, sparse_loss_matches, sparse_mlm_loss
from bertner.pretraining.model import load_masked_lm
from bertner.pretraining.texts import Text


@pytest.fixture(scope="module", params=["bert", "mpnet"])
def encoder(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp(request.param)
    return write_letters_bert(folder) if request.param == "bert" else write_tiny_mpnet(folder)


def _batch(encoder: Path, probability: float = 0.3) -> dict[str, torch.Tensor]:
    tokenizer = load_tokenizer(str(encoder))
    rng = random.Random(0)
    texts = [Text(" ".join(random_words(rng, rng.randint(2, 12))), "t", n) for n in range(6)]
    dataset = WindowDataset(make_windows(tokenizer, texts, 64, offsets=False))
    return MaskingCollator(tokenizer, "token", probability, seed=0)([dataset[i] for i in range(len(dataset))])


def test_the_sparse_loss_and_gradient_equal_the_models_own(encoder: Path) -> None:
    torch.manual_seed(0)
    model = load_masked_lm(str(encoder)).model.eval()
    head = single_head(model)
    assert head is not None
    batch = _batch(encoder)
    own = model(**batch).loss
    own.backward()
    own_grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    sparse = sparse_mlm_loss(model, head, batch)
    sparse.backward()
    assert torch.isclose(own, sparse, rtol=1e-5)
    for name, parameter in model.named_parameters():
        if name in own_grads:
            torch.testing.assert_close(parameter.grad, own_grads[name], rtol=1e-4, atol=1e-6)
    assert sparse_loss_matches(model, head, batch)


def test_a_batch_with_nothing_chosen_has_loss_zero_and_no_gradient(encoder: Path) -> None:
    model = load_masked_lm(str(encoder)).model
    batch = _batch(encoder)
    batch["labels"] = torch.full_like(batch["labels"], -100)
    head = single_head(model)
    assert head is not None
    loss = sparse_mlm_loss(model, head, batch)
    loss.backward()
    assert loss.item() == 0.0
    assert all(p.grad is None or not p.grad.any() for p in model.parameters())


def test_the_sparse_loss_runs_under_the_trainers_bf16_autocast(encoder: Path, tmp_path: Path) -> None:
    model = load_masked_lm(str(encoder)).model
    head = single_head(model)
    args = TrainingArguments(output_dir=str(tmp_path), bf16=True, use_cpu=True, report_to="none")
    trainer = MaskedLMTrainer(model=model, args=args, head=head)
    dtypes: list[torch.dtype] = []
    linear = next(m for m in model.base_model.modules() if isinstance(m, torch.nn.Linear))
    handle = linear.register_forward_hook(lambda module, inputs, output: dtypes.append(output.dtype))
    try:
        loss = trainer.compute_loss(model, _batch(encoder))
    finally:
        handle.remove()
    assert dtypes and set(dtypes) == {torch.bfloat16}
    assert loss.dtype == torch.float32 and torch.isfinite(loss)


def test_a_head_of_several_modules_keeps_the_models_loss() -> None:
    config = DistilBertConfig(vocab_size=50, dim=16, n_layers=1, n_heads=2, hidden_dim=32)
    model: Any = DistilBertForMaskedLM(config)
    assert single_head(model) is None
