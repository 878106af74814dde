"""Forward-backward marginals and constrained stretches against brute-force enumeration of every tag path."""

from __future__ import annotations

import numpy as np
import pytest
from chain_oracle import IOB2_LABELS, flat, iob2_constraints, path_probabilities, random_chain
from chain_oracle import brute_marginals as brute

from bertner.decoding.chain import LinearChain
from bertner.decoding.marginals import forward_backward


def chains() -> dict[str, LinearChain]:
    allowed, start = iob2_constraints(IOB2_LABELS)
    return {
        "free": random_chain(5, seed=1),
        "iob2": random_chain(5, seed=2, allowed=allowed, start=start),
        "independent": LinearChain.independent(5),
    }


@pytest.mark.parametrize("name", ["free", "iob2", "independent"])
@pytest.mark.parametrize("length", [1, 2, 3, 5])
def test_marginals_equal_brute_force_and_sum_to_one(name: str, length: int) -> None:
    chain = chains()[name]
    rng = np.random.default_rng(length)
    sentences = [rng.normal(0.0, 2.0, (n, 5)) for n in (length, 1, 0, length, 0)]
    posterior = forward_backward(chain, *flat(sentences), batch_size=2)
    marginals = posterior.marginals()
    assert marginals.shape == (2 * length + 1, 5)
    np.testing.assert_allclose(marginals.sum(axis=1), 1.0, atol=1e-12)
    expected = np.concatenate([brute(chain, emissions) for emissions in sentences if len(emissions)])
    np.testing.assert_allclose(marginals, expected, atol=1e-12)
    assert posterior.log_z[2] == posterior.log_z[4] == 0.0


def test_forbidden_tags_have_exactly_zero_probability() -> None:
    allowed, start = iob2_constraints(IOB2_LABELS)
    chain = random_chain(5, seed=3, allowed=allowed, start=start)
    emissions = np.random.default_rng(0).normal(0.0, 2.0, (4, 5))
    marginals = forward_backward(chain, emissions, np.array([0, 4])).marginals()
    assert (marginals[0][~start] == 0.0).all(), "I- never opens a sentence"


def test_a_sentence_gets_the_same_tables_alone_and_in_a_padded_batch() -> None:
    chain = random_chain(5, seed=4)
    rng = np.random.default_rng(5)
    short, long = rng.normal(0.0, 2.0, (3, 5)), rng.normal(0.0, 2.0, (9, 5))
    alone = forward_backward(chain, *flat([short]))
    batched = forward_backward(chain, *flat([long, short]))
    np.testing.assert_allclose(batched.log_alpha[9:], alone.log_alpha, rtol=1e-13)
    np.testing.assert_allclose(batched.log_beta[9:], alone.log_beta, rtol=1e-13)
    assert batched.log_z[1] == pytest.approx(alone.log_z[0], rel=1e-13)


def test_log_z_is_the_log_of_the_summed_path_scores() -> None:
    chain = random_chain(3, seed=6)
    emissions = np.random.default_rng(7).normal(0.0, 1.0, (4, 3))
    paths, _ = path_probabilities(chain, emissions)
    scores = [
        chain.start[p[0]] + emissions[np.arange(4), p].sum() + chain.transitions[p[:-1], p[1:]].sum() + chain.end[p[-1]]
        for p in paths
    ]
    log_z = forward_backward(chain, emissions, np.array([0, 4])).log_z[0]
    assert log_z == pytest.approx(np.log(np.exp(scores).sum()), rel=1e-12)


@pytest.mark.parametrize("name", ["free", "iob2"])
def test_stretches_of_tag_sets_have_the_brute_force_probability(name: str) -> None:
    chain = chains()[name]
    rng = np.random.default_rng(8)
    other, emissions = rng.normal(0.0, 2.0, (3, 5)), rng.normal(0.0, 2.0, (5, 5))
    paths, probabilities = path_probabilities(chain, emissions)
    posterior = forward_backward(chain, *flat([other, emissions]))
    stretches = [(0, 1), (0, 3), (1, 2), (2, 3), (4, 1), (0, 5)]
    masks = rng.random((len(stretches), 5, 5)) < 0.5
    expected = []
    for (first, k), mask in zip(stretches, masks, strict=True):
        inside = np.all(mask[np.arange(k), paths[:, first : first + k]], axis=1)
        expected.append(probabilities[inside].sum())
        assert np.exp(posterior.log_probability(1, first, mask[:k])) == pytest.approx(expected[-1], abs=1e-12)
    firsts = np.array([3 + first for first, _ in stretches])
    steps = np.array([k for _, k in stretches])
    np.testing.assert_allclose(np.exp(posterior.log_probabilities(firsts, masks, steps)), expected, atol=1e-12)
    assert posterior.log_probability(1, 0, np.zeros((2, 5), dtype=bool)) == -np.inf
    with pytest.raises(ValueError, match="does not fit sentence 1 of 5 words"):
        posterior.log_probability(1, 4, np.ones((2, 5), dtype=bool))


def test_independent_chain_marginals_are_the_word_softmaxes() -> None:
    emissions = np.random.default_rng(9).normal(0.0, 5.0, (6, 5))
    softmax = np.exp(emissions) / np.exp(emissions).sum(axis=1, keepdims=True)
    posterior = forward_backward(LinearChain.independent(5), emissions, np.array([0, 2, 6]))
    np.testing.assert_allclose(posterior.marginals(), softmax)


def test_extreme_scores_neither_overflow_nor_lose_the_distribution() -> None:
    allowed, start = iob2_constraints(IOB2_LABELS)
    chain = random_chain(5, seed=10, allowed=allowed, start=start).scaled(50.0)
    emissions = np.random.default_rng(11).normal(0.0, 400.0, (30, 5))
    marginals = forward_backward(chain, emissions, np.array([0, 30])).marginals()
    assert np.isfinite(marginals).all()
    np.testing.assert_allclose(marginals.sum(axis=1), 1.0, atol=1e-9)


def test_bad_offsets_are_refused() -> None:
    with pytest.raises(ValueError, match="offsets must rise from 0 to 4"):
        forward_backward(LinearChain.independent(5), np.zeros((4, 5)), np.array([0, 3]))
