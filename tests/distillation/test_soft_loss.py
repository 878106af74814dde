"""The student's side of distillation: the torch CRF's word marginals at a temperature, the word-level KL, the loss.

Oracles: brute force over every tag path (the marginals), the KL written out by hand for a softmax student,
and the property that a student whose distributions are the targets has a KL of 0.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from bertner.decoding.chain import IMPOSSIBLE
from bertner.distillation.loss import DistillationLoss, word_kl
from bertner.model.crf import CRF

LABELS = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]


def _random_crf(seed: int) -> CRF:
    torch.manual_seed(seed)
    crf = CRF.from_labels(LABELS)
    with torch.no_grad():
        for parameter in (crf.transitions, crf.start_transitions, crf.end_transitions):
            parameter.normal_(std=1.5)
    return crf


def _brute_marginals(crf: CRF, emissions: np.ndarray, temperature: float) -> np.ndarray:
    """(words, num_tags): P(y_t = j) at `temperature`, summed over every tag path scored from the parameters."""
    start = np.where(crf.allowed_start.numpy(), crf.start_transitions.detach().numpy() / temperature, IMPOSSIBLE)
    moves = np.where(crf.allowed.numpy(), crf.transitions.detach().numpy() / temperature, IMPOSSIBLE)
    end = crf.end_transitions.detach().numpy() / temperature
    words, tags = emissions.shape
    out = np.zeros((words, tags))
    total = 0.0
    for path in itertools.product(range(tags), repeat=words):
        score = start[path[0]] + end[path[-1]] + sum(emissions[t, path[t]] / temperature for t in range(words))
        score += sum(moves[path[t - 1], path[t]] for t in range(1, words))
        weight = math.exp(score)
        total += weight
        for t, tag in enumerate(path):
            out[t, tag] += weight
    return out / total


@pytest.mark.parametrize("temperature", [1.0, 0.5, 3.0])
def test_crf_log_marginals_equal_brute_force_in_a_padded_batch(temperature: float) -> None:
    crf = _random_crf(0)
    torch.manual_seed(1)
    emissions = torch.randn(3, 4, len(LABELS)) * 2
    mask = torch.tensor([[True] * 4, [True] * 2 + [False] * 2, [False] * 4])
    marginals = crf.log_marginals(emissions, mask, temperature).exp()
    for row, length in enumerate([4, 2]):
        expected = _brute_marginals(crf, emissions[row, :length].double().numpy(), temperature)
        np.testing.assert_allclose(marginals[row, :length].detach().numpy(), expected, atol=1e-5)
    # padded words and the empty row are 0, whatever the padding held
    assert torch.equal(crf.log_marginals(emissions, mask, temperature)[~mask], torch.zeros(int((~mask).sum()), 5))
    # IOB2: a sentence never starts inside an entity
    assert marginals[0, 0, [LABELS.index("I-LOC"), LABELS.index("I-PER")]].max() < 1e-30


def test_crf_log_marginals_are_differentiable_and_finite() -> None:
    crf = _random_crf(2)
    emissions = torch.randn(2, 5, len(LABELS), requires_grad=True)
    mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    target = torch.full((2, 5, len(LABELS)), 1 / len(LABELS))
    word_kl(crf, emissions, target, mask, 2.0).sum().backward()
    assert emissions.grad is not None and torch.isfinite(emissions.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in (crf.transitions, crf.start_transitions) if p.grad is not None)


def test_the_softmax_students_kl_is_the_textbook_sum() -> None:
    torch.manual_seed(3)
    logits = torch.randn(1, 6, len(LABELS))
    mask = torch.tensor([[False, True, True, False, True, False]])
    targets = torch.softmax(torch.randn(1, 6, len(LABELS)), dim=-1)
    kl = word_kl(None, logits, targets, mask, 2.0)
    assert kl.shape == (1, 3)
    for word, position in enumerate([1, 2, 4]):
        p = targets[0, position]
        q = torch.softmax(logits[0, position] / 2.0, dim=-1)
        torch.testing.assert_close(kl[0, word], (p * (p / q).log()).sum())


@pytest.mark.parametrize("with_crf", [False, True])
def test_a_student_whose_distributions_are_the_targets_has_no_kl(with_crf: bool) -> None:
    crf = _random_crf(4) if with_crf else None
    torch.manual_seed(5)
    logits = torch.randn(2, 4, len(LABELS))
    mask = torch.tensor([[True] * 4, [True, True, False, False]])
    own = torch.softmax(logits / 1.5, dim=-1) if crf is None else crf.log_marginals(logits, mask, 1.5).exp().detach()
    kl = word_kl(crf, logits, own, mask, 1.5)
    assert kl.abs().max() < 1e-5
    # and any other target is further away
    assert (word_kl(crf, logits, torch.roll(own, 1, dims=-1), mask, 1.5)[mask[:, :4]] > 1e-3).all()


def test_the_loss_weighs_gold_and_soft_by_alpha_and_t_squared() -> None:
    torch.manual_seed(6)
    logits = torch.randn(2, 3, len(LABELS))
    mask = torch.tensor([[True, True, False], [True, False, False]])
    targets = torch.softmax(torch.randn(2, 3, len(LABELS)), dim=-1)
    model = torch.nn.Module()
    model.crf = None  # type: ignore[assignment]
    gold = torch.tensor(0.7)
    kl = word_kl(None, logits, targets, mask, 2.0).sum()
    loss = DistillationLoss(alpha=0.25, temperature=2.0)
    torch.testing.assert_close(loss(model, logits, gold, targets, mask, None), 0.25 * 0.7 + 0.75 * 4 * kl / 3)  # type: ignore[arg-type]
    torch.testing.assert_close(loss(model, logits, gold, targets, mask, 10.0), 0.25 * 0.7 + 0.75 * 4 * kl / 10)  # type: ignore[arg-type]
