"""A linear-chain conditional random field over words, with optional hard constraints on transitions.

Why words, not sub-tokens: the labels belong to words (CoNLL tokens), and only a word's first sub-token
carries a label (the others are -100). A CRF over sub-tokens would have to learn transitions such as
"B-PER -> (continuation piece) -> I-PER" that mean nothing about the tag sequence, and its transitions
would change with the tokenizer. So the tagger gathers each word's first-sub-token emissions into a
(batch, words, num_tags) tensor with a (batch, words) mask, and this CRF scores transitions from one word
to the next (Lample et al. 2016, "Neural Architectures for Named Entity Recognition").

Constraints: `allowed[i, j]` says whether tag j may follow tag i, and `allowed_start[j]` whether a
sentence may open with tag j. A forbidden move scores `IMPOSSIBLE` instead of its learned value, in both
the likelihood and Viterbi, so decoded paths are always legal. `CRF.from_labels` builds the IOB2 table.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

# IMPOSSIBLE, the score of a forbidden move (why finite: see there), is defined beside the numpy chain so that
# both decoders penalise forbidden moves alike.
from bertner.decoding.chain import IMPOSSIBLE, LinearChain
from bertner.labels import OUTSIDE, split_tag

REDUCTIONS = ("none", "sum", "mean", "token_mean")


class CRF(nn.Module):
    """Linear-chain CRF: score(y) = start[y_0] + sum_t emissions[t, y_t] + sum_t transitions[y_t-1, y_t] + end[y_-1].

    Args:
        num_tags: number of tags.
        allowed: (num_tags, num_tags) bool, `allowed[from, to]`; None allows every transition.
        allowed_start: (num_tags,) bool, the tags a sequence may start with; None allows every tag.
    """

    allowed: torch.Tensor
    allowed_start: torch.Tensor

    def __init__(
        self,
        num_tags: int,
        allowed: torch.Tensor | None = None,
        allowed_start: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        if num_tags < 1:
            raise ValueError(f"num_tags must be at least 1, got {num_tags}")
        if allowed is None:
            allowed = torch.ones(num_tags, num_tags, dtype=torch.bool)
        if allowed_start is None:
            allowed_start = torch.ones(num_tags, dtype=torch.bool)
        if allowed.dtype != torch.bool or allowed.shape != (num_tags, num_tags):
            raise ValueError(
                f"allowed must be a bool tensor of shape ({num_tags}, {num_tags}), "
                f"got {allowed.dtype} of shape {tuple(allowed.shape)}"
            )
        if allowed_start.dtype != torch.bool or allowed_start.shape != (num_tags,):
            raise ValueError(
                f"allowed_start must be a bool tensor of shape ({num_tags},), "
                f"got {allowed_start.dtype} of shape {tuple(allowed_start.shape)}"
            )
        if not allowed_start.any():
            raise ValueError("allowed_start forbids every tag, so no sequence is possible")
        self.num_tags = num_tags
        self.start_transitions = nn.Parameter(torch.empty(num_tags).uniform_(-0.1, 0.1))
        self.end_transitions = nn.Parameter(torch.empty(num_tags).uniform_(-0.1, 0.1))
        self.transitions = nn.Parameter(torch.empty(num_tags, num_tags).uniform_(-0.1, 0.1))
        # Buffers, not parameters: saved with the model and moved with .to(), never trained.
        self.register_buffer("allowed", allowed.clone())
        self.register_buffer("allowed_start", allowed_start.clone())

    @classmethod
    def from_labels(cls, labels: Sequence[str]) -> CRF:
        """A CRF whose constraints are IOB2: I-X only after B-X or I-X, and never first; all else allowed.

        Args:
            labels: the tag of each id, e.g. ["O", "B-PER", "I-PER"]. Raises ValueError for a non-IOB2 tag.
        """
        parts = [split_tag(label) for label in labels]
        for label, (prefix, _) in zip(labels, parts, strict=True):
            if prefix not in (OUTSIDE, "B", "I"):
                raise ValueError(f"from_labels builds IOB2 constraints; {label!r} is not an IOB2 tag")
        num_tags = len(labels)
        allowed = torch.ones(num_tags, num_tags, dtype=torch.bool)
        allowed_start = torch.ones(num_tags, dtype=torch.bool)
        for to, (prefix, entity_type) in enumerate(parts):
            if prefix != "I":
                continue
            allowed_start[to] = False
            for from_, (prev_prefix, prev_type) in enumerate(parts):
                allowed[from_, to] = prev_prefix in ("B", "I") and prev_type == entity_type
        return cls(num_tags, allowed, allowed_start)

    def extra_repr(self) -> str:
        return f"num_tags={self.num_tags}"

    def to_chain(self) -> LinearChain:
        """Its scores and constraints as numpy copies (decoding/chain.py), in its precision: what Viterbi, the
        marginals and an export's `crf.json` need, without torch."""

        def array(tensor: torch.Tensor) -> np.ndarray:
            tensor = tensor.detach().cpu()
            # numpy has no bfloat16; float32 holds every bfloat16 value exactly
            return (tensor.float() if tensor.dtype == torch.bfloat16 else tensor).numpy().copy()

        return LinearChain(
            transitions=array(self.transitions),
            start=array(self.start_transitions),
            end=array(self.end_transitions),
            allowed=array(self.allowed),
            allowed_start=array(self.allowed_start),
        )

    def _scores(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Start (num_tags,) and transition (num_tags, num_tags) scores with forbidden moves set to IMPOSSIBLE."""
        start = self.start_transitions.masked_fill(~self.allowed_start, IMPOSSIBLE)
        transitions = self.transitions.masked_fill(~self.allowed, IMPOSSIBLE)
        return start, transitions

    def _check(self, emissions: torch.Tensor, mask: torch.Tensor) -> None:
        if emissions.dim() != 3:
            raise ValueError(f"emissions must be (batch, seq_len, num_tags), got shape {tuple(emissions.shape)}")
        if emissions.size(2) != self.num_tags:
            raise ValueError(
                f"emissions have {emissions.size(2)} tags in their last dimension, expected {self.num_tags}"
            )
        if mask.shape != emissions.shape[:2]:
            raise ValueError(f"mask shape {tuple(mask.shape)} does not match emissions {tuple(emissions.shape[:2])}")
        if mask.dtype != torch.bool:
            raise ValueError(f"mask must be a bool tensor, got {mask.dtype}")
        # Padding only at the end: a real word never follows a padded one.
        gaps = mask[:, 1:] & ~mask[:, :-1]
        if gaps.any():
            row = int(gaps.any(dim=1).nonzero()[0])
            raise ValueError(f"mask row {row} has padding before a real word: {mask[row].int().tolist()}")

    def forward(
        self,
        emissions: torch.Tensor,
        tags: torch.Tensor,
        mask: torch.Tensor,
        reduction: str = "mean",
    ) -> torch.Tensor:
        """Negative log-likelihood of the gold tags, a loss to minimise.

        Args:
            emissions: (batch, seq_len, num_tags) score of each tag at each word.
            tags: (batch, seq_len) long gold tag ids; values at padded positions are ignored.
            mask: (batch, seq_len) bool, True for real words; padding only at the end. A row may be all False.
            reduction: "none" gives (batch,); "sum"; "mean" over the batch; "token_mean" over real words.

        Returns:
            (batch,) for "none", else a scalar. An empty sequence contributes 0.
        """
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        self._check(emissions, mask)
        if tags.shape != mask.shape:
            raise ValueError(f"tags shape {tuple(tags.shape)} does not match emissions {tuple(mask.shape)}")
        if tags.dtype != torch.long:
            raise ValueError(f"tags must be a long tensor, got {tags.dtype}")
        real_tags = tags[mask]
        if real_tags.numel() and (real_tags.min() < 0 or real_tags.max() >= self.num_tags):
            raise ValueError(f"tags at real words must lie in [0, {self.num_tags}), got {real_tags.unique().tolist()}")
        # Under mixed precision the emissions may be half floats; the log-sum-exp needs the parameters' precision.
        emissions = emissions.to(self.transitions.dtype)
        if emissions.size(1) == 0:
            nll = emissions.new_zeros(emissions.size(0))
        else:
            nll = self._log_partition(emissions, mask) - self._gold_score(emissions, tags, mask)
        if reduction == "none":
            return nll
        if reduction == "sum":
            return nll.sum()
        if reduction == "mean":
            return nll.sum() / max(nll.numel(), 1)
        return nll.sum() / mask.sum().clamp(min=1)

    def _gold_score(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(batch,) score of each gold path; 0 for an empty sequence. Inputs as in `forward`, seq_len >= 1."""
        start, transitions = self._scores()
        tags = tags.masked_fill(~mask, 0)
        # (batch, seq_len): the emission of the gold tag at each word
        emitted = emissions.gather(2, tags.unsqueeze(2)).squeeze(2)
        score = torch.where(mask, emitted, 0.0).sum(dim=1)
        moved = transitions[tags[:, :-1], tags[:, 1:]]
        score = score + torch.where(mask[:, 1:], moved, 0.0).sum(dim=1)
        lengths = mask.sum(dim=1)
        last = tags.gather(1, (lengths - 1).clamp(min=0).unsqueeze(1)).squeeze(1)
        ends = start[tags[:, 0]] + self.end_transitions[last]
        return score + torch.where(lengths > 0, ends, 0.0)

    def _log_partition(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(batch,) log of the summed exp-scores of all paths (the forward algorithm); 0 for an empty sequence."""
        start, transitions = self._scores()
        # (batch, num_tags): log-sum over all paths ending in each tag at the current word
        alpha = start + emissions[:, 0]
        for t in range(1, emissions.size(1)):
            # (batch, from, to) = alpha over `from` + transitions + emissions over `to`
            step = alpha.unsqueeze(2) + transitions.unsqueeze(0) + emissions[:, t].unsqueeze(1)
            alpha = torch.where(mask[:, t].unsqueeze(1), torch.logsumexp(step, dim=1), alpha)
        log_z = torch.logsumexp(alpha + self.end_transitions, dim=1)
        return torch.where(mask[:, 0], log_z, 0.0)

    def log_marginals(self, emissions: torch.Tensor, mask: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
        """log P(y_t = j) of every word under this CRF with every score divided by `temperature` (forward-backward
        in torch, differentiable: what distillation matches a teacher's word distributions with). The numpy
        twin for decoding is decoding/marginals.py.

        Args:
            emissions: (batch, seq_len, num_tags) score of each tag at each word.
            mask: (batch, seq_len) bool, True for real words; padding only at the end. A row may be all False.
            temperature: T > 0; forbidden moves stay IMPOSSIBLE whatever T.

        Returns:
            (batch, seq_len, num_tags) in the transitions' precision; 0 at padded words.
        """
        self._check(emissions, mask)
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        emissions = emissions.to(self.transitions.dtype) / temperature
        if emissions.size(1) == 0:
            return emissions
        start = (self.start_transitions / temperature).masked_fill(~self.allowed_start, IMPOSSIBLE)
        transitions = (self.transitions / temperature).masked_fill(~self.allowed, IMPOSSIBLE)
        end = self.end_transitions / temperature
        seq_len = emissions.size(1)
        # alpha[t]: (batch, num_tags), paths over words 0..t ending in each tag, word t's emission included
        alphas = [start + emissions[:, 0]]
        for t in range(1, seq_len):
            # (batch, from, to)
            step = alphas[-1].unsqueeze(2) + transitions.unsqueeze(0) + emissions[:, t].unsqueeze(1)
            alphas.append(torch.logsumexp(step, dim=1))
        # beta[t]: (batch, num_tags), ways to finish after word t from each tag (the end score included); a row
        # whose last real word is t finishes there
        betas = [end.expand_as(alphas[-1])]
        for t in range(seq_len - 2, -1, -1):
            # (batch, from, to)
            onward = torch.logsumexp(transitions.unsqueeze(0) + (emissions[:, t + 1] + betas[-1]).unsqueeze(1), dim=2)
            betas.append(torch.where(mask[:, t + 1].unsqueeze(1), onward, end))
        alpha, beta = torch.stack(alphas, dim=1), torch.stack(betas[::-1], dim=1)
        lengths = mask.sum(dim=1)
        # (batch, num_tags): alpha at each row's last real word
        last = alpha[torch.arange(alpha.size(0)), (lengths - 1).clamp(min=0)]
        log_z = torch.logsumexp(last + end, dim=1)
        return torch.where(mask.unsqueeze(2), alpha + beta - log_z[:, None, None], 0.0)

    @torch.no_grad()
    def decode(self, emissions: torch.Tensor, mask: torch.Tensor) -> list[list[int]]:
        """The highest-scoring legal tag path of each sequence (Viterbi).

        Args:
            emissions: (batch, seq_len, num_tags) score of each tag at each word.
            mask: (batch, seq_len) bool, True for real words; padding only at the end. A row may be all False.

        Returns:
            One list of tag ids per sequence, as long as its number of real words.
        """
        self._check(emissions, mask)
        batch, seq_len, _ = emissions.shape
        if seq_len == 0:
            return [[] for _ in range(batch)]
        emissions = emissions.to(self.transitions.dtype)
        start, transitions = self._scores()
        # (batch, num_tags): the best score of a path ending in each tag at the current word
        best = start + emissions[:, 0]
        backpointers = []
        for t in range(1, seq_len):
            # (batch, from, to)
            step = best.unsqueeze(2) + transitions.unsqueeze(0)
            step_best, step_from = step.max(dim=1)
            best = torch.where(mask[:, t].unsqueeze(1), step_best + emissions[:, t], best)
            backpointers.append(step_from)
        last_tags = (best + self.end_transitions).argmax(dim=1).tolist()
        lengths = mask.sum(dim=1).tolist()
        # (seq_len - 1, batch, num_tags) on the CPU, so that backtracking is plain list indexing
        pointers = torch.stack(backpointers).tolist() if backpointers else []
        paths: list[list[int]] = []
        for row, (length, tag) in enumerate(zip(lengths, last_tags, strict=True)):
            if length == 0:
                paths.append([])
                continue
            path = [tag]
            for t in range(length - 1, 0, -1):
                path.append(pointers[t - 1][row][path[-1]])
            paths.append(path[::-1])
        return paths
