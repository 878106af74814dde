"""The numpy chain and its Viterbi against brute force over every path and against the torch CRF."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from chain_oracle import IOB2_LABELS, brute_best_path, iob2_constraints, random_chain

from bertner.decoding.chain import LinearChain, mean_chain
from bertner.decoding.viterbi import viterbi
from bertner.model.crf import CRF


def trained_like_crf(labels: tuple[str, ...], seed: int) -> CRF:
    """A float32 IOB2 CRF with scores as large as a trained one's."""
    torch.manual_seed(seed)
    crf = CRF.from_labels(list(labels))
    with torch.no_grad():
        for parameter in crf.parameters():
            parameter.normal_(0.0, 2.0)
    return crf.eval()


@pytest.mark.parametrize("constrained", [False, True])
@pytest.mark.parametrize("length", [1, 2, 3, 4])
def test_viterbi_is_the_brute_force_argmax(constrained: bool, length: int) -> None:
    allowed, start = iob2_constraints(IOB2_LABELS) if constrained else (None, None)
    chain = random_chain(len(IOB2_LABELS), seed=length, allowed=allowed, start=start)
    rng = np.random.default_rng(100 + length)
    sentences = [rng.normal(0.0, 2.0, (length, len(IOB2_LABELS))) for _ in range(6)]
    paths = viterbi(chain, sentences, batch_size=4)
    assert [path.tolist() for path in paths] == [brute_best_path(chain, emissions) for emissions in sentences]


def test_viterbi_equals_the_torch_crf_decode_on_random_emissions() -> None:
    crf = trained_like_crf(IOB2_LABELS, seed=0)
    chain = crf.to_chain()
    rng = np.random.default_rng(1)
    lengths = [0, 1, 2, 7, 30, *rng.integers(0, 40, 120).tolist()]
    sentences = [rng.normal(0.0, 3.0, (n, len(IOB2_LABELS))).astype(np.float32) for n in lengths]
    emissions = torch.nn.utils.rnn.pad_sequence([torch.from_numpy(s) for s in sentences], batch_first=True)
    mask = torch.arange(emissions.size(1)).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    expected = crf.decode(emissions, mask)
    for batch_size in (1, 7, 64):
        assert [path.tolist() for path in viterbi(chain, sentences, batch_size)] == expected


def test_to_chain_copies_the_crf_scores_and_constraints() -> None:
    crf = trained_like_crf(IOB2_LABELS, seed=2)
    chain = crf.to_chain()
    assert chain.transitions.dtype == np.float32
    np.testing.assert_array_equal(chain.transitions, crf.transitions.detach().numpy())
    np.testing.assert_array_equal(chain.start, crf.start_transitions.detach().numpy())
    np.testing.assert_array_equal(chain.end, crf.end_transitions.detach().numpy())
    np.testing.assert_array_equal(chain.allowed, crf.allowed.numpy())
    np.testing.assert_array_equal(chain.allowed_start, crf.allowed_start.numpy())
    with torch.no_grad():
        crf.transitions.add_(1.0)
    assert not np.array_equal(chain.transitions, crf.transitions.detach().numpy()), "a copy, not a view"
    half = crf.to(torch.bfloat16).to_chain()
    assert half.transitions.dtype == np.float32
    np.testing.assert_array_equal(half.transitions, crf.transitions.detach().float().numpy())


def test_dict_round_trip_is_exact_and_names_the_crf_json_keys() -> None:
    chain = trained_like_crf(IOB2_LABELS, seed=3).to_chain()
    values = chain.to_dict()
    names = {"num_tags", "start_transitions", "end_transitions", "transitions", "allowed", "allowed_start"}
    assert set(values) == names
    again = LinearChain.from_dict(values, "crf.json")
    for name in ("transitions", "start", "end", "allowed", "allowed_start"):
        np.testing.assert_array_equal(getattr(again, name), getattr(chain, name))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"transitions": [[0.0]]}, "transitions must be"),
        ({"allowed": [[1, 0]] * 5}, "allowed must hold true/false"),
        ({"num_tags": 4}, "num_tags 4"),
        ({"end_transitions": "x"}, "not a CRF description"),
    ],
)
def test_from_dict_names_the_file_and_the_fault(change: dict, message: str) -> None:
    valid = random_chain(5, seed=0).to_dict()
    with pytest.raises(ValueError, match=message) as error:
        LinearChain.from_dict({**valid, **change}, "export/crf.json")
    assert str(error.value).startswith("export/crf.json: ")
    with pytest.raises(ValueError, match="export/crf.json: .*'allowed'"):
        LinearChain.from_dict({k: v for k, v in valid.items() if k != "allowed"}, "export/crf.json")


def test_bad_arrays_and_no_first_tag_are_refused() -> None:
    chain = random_chain(3, seed=0)
    with pytest.raises(ValueError, match=r"allowed must be a bool array of shape \(3, 3\)"):
        LinearChain(
            transitions=chain.transitions,
            start=chain.start,
            end=chain.end,
            allowed=np.ones((3, 2), dtype=bool),
            allowed_start=chain.allowed_start,
        )
    with pytest.raises(ValueError, match="forbids every tag"):
        LinearChain(
            transitions=chain.transitions,
            start=chain.start,
            end=chain.end,
            allowed=chain.allowed,
            allowed_start=np.zeros(3, dtype=bool),
        )
    with pytest.raises(ValueError, match=r"sentence 1: emissions must be \(words, 3\)"):
        viterbi(chain, [np.zeros((2, 3)), np.zeros((2, 4))])


def test_a_permuted_chain_decodes_the_permuted_path() -> None:
    allowed, start = iob2_constraints(IOB2_LABELS)
    chain = random_chain(5, seed=4, allowed=allowed, start=start)
    columns = [3, 0, 4, 1, 2]  # new tag i is old tag columns[i]
    permuted = chain.permuted(columns)
    rng = np.random.default_rng(5)
    sentences = [rng.normal(0.0, 2.0, (n, 5)) for n in (1, 3, 6)]
    for old, new in zip(viterbi(chain, sentences), viterbi(permuted, [s[:, columns] for s in sentences]), strict=True):
        assert [columns[tag] for tag in new] == old.tolist()
    with pytest.raises(ValueError, match="permutation"):
        chain.permuted([0, 0, 1, 2, 3])


def test_mean_chain_averages_scores_and_keeps_only_moves_all_allow() -> None:
    allowed, start = iob2_constraints(IOB2_LABELS)
    constrained = random_chain(5, seed=6, allowed=allowed, start=start)
    free = random_chain(5, seed=7)
    same = mean_chain([constrained, constrained])
    np.testing.assert_array_equal(same.transitions, constrained.transitions)
    mixed = mean_chain([constrained, free, None])
    np.testing.assert_allclose(mixed.transitions, (constrained.transitions + free.transitions) / 3)
    np.testing.assert_allclose(mixed.end, (constrained.end + free.end) / 3)
    np.testing.assert_array_equal(mixed.allowed, allowed)
    np.testing.assert_array_equal(mixed.allowed_start, start)
    with pytest.raises(ValueError, match="at least one chain"):
        mean_chain([None])
