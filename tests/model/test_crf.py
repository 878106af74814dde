"""The word-level CRF against a brute-force oracle that enumerates every tag path."""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bertner.labels import Scheme, first_illegal
from bertner.model.crf import CRF, IMPOSSIBLE

IOB2_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def random_crf(num_tags: int, seed: int, labels: list[str] | None = None) -> CRF:
    """A float64 CRF with parameters large enough that transitions matter."""
    torch.manual_seed(seed)
    crf = CRF.from_labels(labels) if labels else CRF(num_tags)
    with torch.no_grad():
        for parameter in crf.parameters():
            parameter.normal_(0.0, 1.0)
    return crf.double()


def random_batch(num_tags: int, lengths: list[int], seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Emissions (batch, seq_len, num_tags), tags (batch, seq_len), mask (batch, seq_len) for the given lengths.

    Padded positions hold garbage (large emissions, tag -100) that must not change any result.
    """
    generator = torch.Generator().manual_seed(seed)
    seq_len = max(lengths)
    mask = torch.arange(seq_len).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    emissions = torch.randn(len(lengths), seq_len, num_tags, generator=generator, dtype=torch.float64)
    emissions = torch.where(mask.unsqueeze(2), emissions, 50.0 * emissions)
    tags = torch.randint(num_tags, (len(lengths), seq_len), generator=generator)
    return emissions, tags.masked_fill(~mask, -100), mask


@dataclass(frozen=True)
class Tables:
    """The CRF's parameters and constraints as plain lists, so that scoring thousands of paths stays fast."""

    start: list[float]
    end: list[float]
    transitions: list[list[float]]
    allowed_start: list[bool]
    allowed: list[list[bool]]

    @classmethod
    def of(cls, crf: CRF) -> Tables:
        return cls(
            crf.start_transitions.tolist(),
            crf.end_transitions.tolist(),
            crf.transitions.tolist(),
            crf.allowed_start.tolist(),
            crf.allowed.tolist(),
        )


def path_score(tables: Tables, emissions: list[list[float]], path: tuple[int, ...]) -> float:
    """The score of one path, read directly from the parameters; forbidden moves score IMPOSSIBLE."""
    score = tables.start[path[0]] if tables.allowed_start[path[0]] else IMPOSSIBLE
    score += sum(emissions[t][tag] for t, tag in enumerate(path))
    for prev, tag in itertools.pairwise(path):
        score += tables.transitions[prev][tag] if tables.allowed[prev][tag] else IMPOSSIBLE
    return score + tables.end[path[-1]]


def all_paths(num_tags: int, length: int) -> list[tuple[int, ...]]:
    return list(itertools.product(range(num_tags), repeat=length))


@functools.cache
def legal_paths(labels: tuple[str, ...], length: int) -> list[tuple[int, ...]]:
    """Paths that the IOB2 table in bertner.labels accepts: an oracle independent of CRF.from_labels."""
    return [p for p in all_paths(len(labels), length) if first_illegal([labels[i] for i in p], Scheme.IOB2) is None]


def log_sum_exp(scores: list[float]) -> float:
    top = max(scores)
    return top + math.log(sum(math.exp(s - top) for s in scores))


def oracle(
    crf: CRF,
    emissions: torch.Tensor,
    tags: torch.Tensor,
    mask: torch.Tensor,
    paths_of_length: dict[int, list[tuple[int, ...]]],
) -> tuple[list[float], list[list[int]]]:
    """Per sequence: the NLL of its gold tags and its argmax path, by enumerating `paths_of_length[length]`."""
    tables = Tables.of(crf)
    nlls: list[float] = []
    best: list[list[int]] = []
    for row in range(emissions.size(0)):
        length = int(mask[row].sum())
        rows = emissions[row, :length].tolist()
        if length == 0:
            nlls.append(0.0)
            best.append([])
            continue
        scores = [path_score(tables, rows, p) for p in paths_of_length[length]]
        gold = path_score(tables, rows, tuple(tags[row, :length].tolist()))
        nlls.append(log_sum_exp(scores) - gold)
        best.append(list(paths_of_length[length][scores.index(max(scores))]))
    return nlls, best


@pytest.mark.parametrize("num_tags", [3, 4, 5])
@pytest.mark.parametrize("seq_len", [1, 2, 3, 4])
def test_matches_brute_force_over_every_path(num_tags: int, seq_len: int) -> None:
    seed = 10 * num_tags + seq_len
    crf = random_crf(num_tags, seed)
    lengths = [seq_len, 0, *torch.randint(0, seq_len + 1, (3,), generator=torch.Generator().manual_seed(seed)).tolist()]
    emissions, tags, mask = random_batch(num_tags, lengths, seed)
    tags = torch.where(mask, tags, torch.zeros_like(tags))  # real tags only; garbage padding is tested below
    paths = {length: all_paths(num_tags, length) for length in range(1, seq_len + 1)}
    expected_nll, expected_best = oracle(crf, emissions, tags, mask, paths)
    torch.testing.assert_close(crf(emissions, tags, mask, reduction="none").tolist(), expected_nll)
    assert crf.decode(emissions, mask) == expected_best


def test_padding_content_is_ignored() -> None:
    crf = random_crf(4, seed=0)
    emissions, tags, mask = random_batch(4, [3, 1, 0, 2], seed=1)
    clean_emissions = emissions.masked_fill(~mask.unsqueeze(2), 0.0)
    clean_tags = tags.masked_fill(~mask, 0)
    torch.testing.assert_close(crf(emissions, tags, mask, "none"), crf(clean_emissions, clean_tags, mask, "none"))
    assert crf.decode(emissions, mask) == crf.decode(clean_emissions, mask)


def test_empty_batch_dimension_and_zero_length() -> None:
    crf = CRF(3)
    emissions = torch.zeros(2, 0, 3)
    mask = torch.zeros(2, 0, dtype=torch.bool)
    tags = torch.zeros(2, 0, dtype=torch.long)
    assert crf(emissions, tags, mask, "none").tolist() == [0.0, 0.0]
    assert crf(emissions, tags, mask, "token_mean").item() == 0.0
    assert crf.decode(emissions, mask) == [[], []]


def test_from_labels_builds_the_iob2_table() -> None:
    crf = CRF.from_labels(IOB2_LABELS)
    assert crf.allowed_start.tolist() == [True, True, False, True, False]
    # Rows are `from`, columns `to`: I-PER (2) only after B-PER/I-PER, I-LOC (4) only after B-LOC/I-LOC.
    assert crf.allowed[:, 2].tolist() == [False, True, True, False, False]
    assert crf.allowed[:, 4].tolist() == [False, False, False, True, True]
    assert crf.allowed[:, [0, 1, 3]].all()


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), lengths=st.lists(st.integers(0, 4), min_size=1, max_size=4))
def test_constrained_decode_is_the_best_legal_path(seed: int, lengths: list[int]) -> None:
    lengths = [*lengths, 4]
    crf = random_crf(5, seed % 1000, IOB2_LABELS)
    emissions, tags, mask = random_batch(5, lengths, seed)
    # Strong emissions, so that an unconstrained decoder would often pick an illegal path.
    emissions = 5.0 * emissions
    decoded = crf.decode(emissions, mask)
    for path, length in zip(decoded, lengths, strict=True):
        assert len(path) == length
        assert first_illegal([IOB2_LABELS[i] for i in path], Scheme.IOB2) is None
    _, best = oracle(crf, emissions, tags, mask, {n: legal_paths(tuple(IOB2_LABELS), n) for n in range(1, 5)})
    assert decoded == best


def test_constrained_nll_sums_over_legal_paths_only() -> None:
    crf = random_crf(5, seed=3, labels=IOB2_LABELS)
    labels = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-LOC", "I-LOC"], ["B-PER"], []]
    lengths = [len(sentence) for sentence in labels]
    emissions, _, mask = random_batch(5, lengths, seed=4)
    tags = torch.zeros(mask.shape, dtype=torch.long)
    for row, sentence in enumerate(labels):
        tags[row, : len(sentence)] = torch.tensor([IOB2_LABELS.index(tag) for tag in sentence], dtype=torch.long)
    expected, _ = oracle(crf, emissions, tags, mask, {n: legal_paths(tuple(IOB2_LABELS), n) for n in range(1, 5)})
    torch.testing.assert_close(crf(emissions, tags, mask, reduction="none").tolist(), expected)


@pytest.mark.parametrize(
    "sentence", [["I-PER"], ["O", "I-PER"], ["B-PER", "I-LOC"], ["B-LOC", "O", "I-LOC"]], ids=" ".join
)
def test_illegal_gold_path_has_zero_probability(sentence: list[str]) -> None:
    crf = random_crf(5, seed=5, labels=IOB2_LABELS)
    tags = torch.tensor([[IOB2_LABELS.index(tag) for tag in sentence]])
    emissions = torch.randn(1, len(sentence), 5, dtype=torch.float64)
    nll = crf(emissions, tags, torch.ones_like(tags, dtype=torch.bool), reduction="none")
    assert nll.item() > -IMPOSSIBLE / 2
    assert math.exp(-nll.item()) == 0.0


def test_reductions_agree() -> None:
    crf = random_crf(4, seed=6)
    emissions, tags, mask = random_batch(4, [4, 2, 0, 3], seed=7)
    per_sequence = crf(emissions, tags, mask, reduction="none")
    assert per_sequence.shape == (4,)
    torch.testing.assert_close(crf(emissions, tags, mask, reduction="sum"), per_sequence.sum())
    torch.testing.assert_close(crf(emissions, tags, mask, reduction="mean"), per_sequence.sum() / 4)
    torch.testing.assert_close(crf(emissions, tags, mask, reduction="token_mean"), per_sequence.sum() / 9)
    torch.testing.assert_close(crf(emissions, tags, mask), per_sequence.mean())
    assert (per_sequence[[0, 1, 3]] > 0).all() and per_sequence[2] == 0


def test_gradients_are_finite_and_skip_forbidden_moves() -> None:
    crf = CRF.from_labels(IOB2_LABELS)
    emissions, tags, mask = random_batch(5, [4, 3, 1], seed=8)
    emissions = emissions.float().requires_grad_()
    crf(emissions, tags, mask).backward()
    assert crf.transitions.grad is not None and emissions.grad is not None
    assert torch.isfinite(crf.transitions.grad).all() and torch.isfinite(emissions.grad).all()
    assert crf.transitions.grad[crf.allowed].abs().sum() > 0
    # Forbidden moves always score IMPOSSIBLE, so their learned values get no gradient.
    assert (crf.transitions.grad[~crf.allowed] == 0).all()
    assert crf.start_transitions.grad is not None and (crf.start_transitions.grad[~crf.allowed_start] == 0).all()


def test_training_learns_transitions_from_uninformative_emissions() -> None:
    """Tags cycle 0 -> 1 -> 2 -> 0 from a random first tag; emissions are all zero, so only transitions can help."""
    torch.manual_seed(9)
    crf = CRF(3)
    first = torch.randint(3, (16, 1))
    tags = (first + torch.arange(6)) % 3
    emissions = torch.zeros(16, 6, 3)
    mask = torch.ones(16, 6, dtype=torch.bool)
    optimizer = torch.optim.Adam(crf.parameters(), lr=0.1)
    initial = crf(emissions, tags, mask).item()
    for _ in range(200):
        optimizer.zero_grad()
        loss = crf(emissions, tags, mask)
        loss.backward()
        optimizer.step()
    final = crf(emissions, tags, mask).item()
    assert final < initial * 0.5
    # Given only a hint for the first word, the learned transitions fill in the rest of the cycle.
    hint = torch.zeros(3, 6, 3)
    hint[torch.arange(3), 0, torch.arange(3)] = 5.0
    assert crf.decode(hint, torch.ones(3, 6, dtype=torch.bool)) == [[(k + t) % 3 for t in range(6)] for k in range(3)]


Inputs = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def _inputs(batch: int = 2, seq_len: int = 3, num_tags: int = 4) -> Inputs:
    return (
        torch.zeros(batch, seq_len, num_tags),
        torch.zeros(batch, seq_len, dtype=torch.long),
        torch.ones(batch, seq_len, dtype=torch.bool),
    )


@pytest.mark.parametrize(
    ("change", "message", "decode_too"),
    [
        (lambda e, t, m: (e[0], t, m), r"emissions must be \(batch, seq_len, num_tags\), got shape \(3, 4\)", True),
        (lambda e, t, m: (e[..., :3], t, m), "emissions have 3 tags in their last dimension, expected 4", True),
        (lambda e, t, m: (e, t[:, :2], m), r"tags shape \(2, 2\)", False),
        (lambda e, t, m: (e, t, m[:1]), r"mask shape \(1, 3\)", True),
        (lambda e, t, m: (e, t, m.long()), "mask must be a bool tensor, got torch.int64", True),
        (lambda e, t, m: (e, t.int(), m), "tags must be a long tensor, got torch.int32", False),
        (lambda e, t, m: (e, t + 4, m), r"tags at real words must lie in \[0, 4\), got \[4\]", False),
        (lambda e, t, m: (e, t, torch.tensor([[True, False, True], [True] * 3])), r"mask row 0 .*\[1, 0, 1\]", True),
        (lambda e, t, m: (e, t, torch.tensor([[False, True, True], [True] * 3])), r"mask row 0 .*\[0, 1, 1\]", True),
    ],
)
def test_bad_inputs_raise_value_error(change: Callable[..., Inputs], message: str, decode_too: bool) -> None:
    emissions, tags, mask = change(*_inputs())
    with pytest.raises(ValueError, match=message):
        CRF(4)(emissions, tags, mask)
    if decode_too:
        with pytest.raises(ValueError, match=message):
            CRF(4).decode(emissions, mask)


def test_bad_reduction_and_constructor_arguments_raise_value_error() -> None:
    with pytest.raises(ValueError, match="got 'avg'"):
        CRF(4)(*_inputs(), reduction="avg")
    with pytest.raises(ValueError, match="num_tags must be at least 1, got 0"):
        CRF(0)
    with pytest.raises(
        ValueError, match=r"allowed must be a bool tensor of shape \(4, 4\), got torch.bool of shape \(3, 3\)"
    ):
        CRF(4, allowed=torch.ones(3, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"allowed_start must be a bool tensor of shape \(4,\), got torch.int64"):
        CRF(4, allowed_start=torch.ones(4, dtype=torch.long))
    with pytest.raises(ValueError, match="forbids every tag"):
        CRF(2, allowed_start=torch.zeros(2, dtype=torch.bool))
    with pytest.raises(ValueError, match="'E-PER' is not an IOB2 tag"):
        CRF.from_labels(["O", "B-PER", "E-PER"])
    with pytest.raises(ValueError, match="not a valid tag: 'PER'"):
        CRF.from_labels(["O", "PER"])
