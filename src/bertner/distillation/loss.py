"""The distillation loss: alpha * gold loss + (1 - alpha) * T^2 * KL(teacher_T || student_T), word by word.

Both distributions are per word (the student read at each word's first sub-token, where its CRF reads too), so
teacher and student may tokenize differently. The student's distribution at T:

- **with a CRF** (bertner's default), its own forward-backward word marginals with every score divided by T
  (model/crf.py `CRF.log_marginals`). This is "posterior distillation" (Wang et al. 2020, "Structure-Level
  Knowledge Distillation for Multilingual Sequence Labeling", ACL): it matches what the student CRF actually
  believes about each word, transitions included, and those marginals are what its entity probabilities are
  computed from (decoding/entities.py). The alternative, a KL on the softmax of the emissions beside the
  CRF's likelihood, pulls the emissions towards being word distributions on their own and then counts the
  transitions' evidence twice. The cost is one forward and one backward pass over words with
  (batch, tags, tags) steps in torch: next to the encoder, nothing.
- **without a CRF**, the softmax of its scores / T.

The gold loss is the Tagger's own (the CRF's negative log-likelihood, or cross-entropy), with its own
normalisation; the KL is summed over words and normalised the same way (training/soft_targets.py). T^2 keeps
the soft gradients' size independent of T (Hinton et al. 2015, "Distilling the Knowledge in a Neural Network").
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bertner.model.crf import CRF
from bertner.model.tagger import Tagger, gather_words

_LOG_FLOOR = -1e4
"""log q is floored here: a word the student gives an impossible tag (a CRF's forbidden first I-X) has a
target of 0 there, and the floor keeps 0 * log 0 from being NaN in any precision."""


def word_kl(
    crf: CRF | None, logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor, temperature: float
) -> torch.Tensor:
    """KL(target || student at `temperature`) of each word.

    Args:
        crf: the student's CRF, or None for per-word softmaxes.
        logits: (batch, seq_len, num_labels) the student's scores per sub-token.
        targets: (batch, seq_len, num_labels) the teacher's distributions at the positions `mask` marks.
        mask: (batch, seq_len) bool, True at the first sub-token of each word with a target.

    Returns:
        (batch, words) float32, 0 at padded word positions (`words`: the most targets in one row).
    """
    emissions, words = gather_words(logits.float(), mask)
    target, _ = gather_words(targets.float(), mask)
    if crf is None:
        log_q = torch.log_softmax(emissions / temperature, dim=-1)
    else:
        log_q = crf.log_marginals(emissions, words, temperature).float()
    kl = (torch.xlogy(target, target) - target * log_q.clamp(min=_LOG_FLOOR)).sum(dim=-1)
    return torch.where(words, kl, 0.0)


@dataclass(frozen=True)
class DistillationLoss:
    """The loss of a batch with the teacher's targets (a training/soft_targets.py `SoftLoss`)."""

    alpha: float
    temperature: float

    def __call__(
        self,
        model: Tagger,
        logits: torch.Tensor,
        gold_loss: torch.Tensor,
        targets: torch.Tensor,
        mask: torch.Tensor,
        normalizer: float | None,
    ) -> torch.Tensor:
        kl = word_kl(model.crf, logits, targets, mask, self.temperature).sum()
        soft = kl / normalizer if normalizer is not None else kl / mask.sum().clamp(min=1)
        return self.alpha * gold_loss + (1 - self.alpha) * self.temperature**2 * soft
