"""A teacher's word-level distributions: its raw per-word scores, then each word's label distribution at T.

The teacher is any model bertner tags with (inference/ensemble/folder.py `load_tagging_model`: a run, an export,
an HF model or an ensemble) and scores words with its own tokenizer and data settings (`word_scores`), so the
student's tokenizer does not matter: everything here is per word.

What is kept (and cached, distillation/cache.py) is the raw scores, one `WordScores` per member (one for a single
model): the temperature is applied afterwards, so that changing T needs no new pass of the teacher. A word's
distribution at T is

- with a CRF, its forward-backward marginal P(y_t = j) under the CRF with every score (emissions, start, end and
  transition scores) divided by T (decoding/temperature.py's `Calibration`, decoding/words.py's `word_marginals`);
- without one, the softmax of its scores / T; for a student with a CRF, the same softmaxes conditioned on legal
  IOB2 paths (a chain with zero scores and IOB2's constraints), because a CRF student gives an illegal tag
  (I-X first, I-X after O) no probability at all and the KL to a target that does would be unbounded;
- for an ensemble, the mean of its members' distributions, each computed as above ("averaged marginals").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bertner.decoding.chain import LinearChain
from bertner.decoding.temperature import Calibration
from bertner.decoding.words import WordScores, word_marginals
from bertner.errors import UserError
from bertner.inference.ensemble.model import EnsembleModel, in_label_order
from bertner.inference.tagging import TaggingModel
from bertner.labels import Scheme
from bertner.model.crf import CRF


@dataclass(frozen=True, eq=False)
class TeacherScores:
    """A teacher's raw per-word scores of some sentences, one `WordScores` per member, in the order of `labels`."""

    members: tuple[WordScores, ...]
    labels: tuple[str, ...]
    """The teacher's IOB2 tags in its label id order."""

    @property
    def num_sentences(self) -> int:
        return self.members[0].num_sentences


def score_sentences(
    teacher: TaggingModel,
    words: Sequence[Sequence[str]],
    documents: Sequence[int] | None,
    batch_size: int = 64,
    progress: bool = False,
) -> TeacherScores:
    """The teacher's raw scores of `words` (`documents[s]`: sentence s's document, for a teacher with document
    context). An ensemble's members are scored one by one and kept apart.

    Raises:
        UserError: the teacher's labels are not IOB2 tags.
    """
    if teacher.labels.scheme is not Scheme.IOB2:
        raise UserError(
            f"{teacher.path}: its labels are {teacher.labels.scheme.value} tags; distillation needs a teacher "
            "whose labels are IOB2 (as every bertner model's are)"
        )
    members = teacher.members if isinstance(teacher, EnsembleModel) else (teacher,)
    scores = tuple(
        in_label_order(member.word_scores(words, batch_size, progress, documents), member.labels.tags, teacher.labels)
        for member in members
    )
    return TeacherScores(members=scores, labels=tuple(teacher.labels.tags))


def word_distributions(
    scores: TeacherScores, labels: Sequence[str], temperature: float, legal_only: bool, batch_size: int = 64
) -> list[np.ndarray]:
    """Each sentence's (words, len(labels)) float32 word distributions at `temperature` (see the module), with
    columns in the order of `labels`, the student's; a label the teacher lacks gets probability 0.

    `legal_only`: condition a member without a CRF on legal IOB2 paths (for a student with a CRF).

    Raises:
        ValueError: the teacher has a label that `labels` lacks.
    """
    missing = [tag for tag in scores.labels if tag not in labels]
    if missing:
        raise UserError(f"the teacher's labels {missing} are not among the student's {list(labels)}")
    soften = Calibration(temperature=temperature)
    total = np.zeros((len(scores.members[0].logits), len(scores.labels)))
    for member in scores.members:
        member = soften.apply(member, scores.labels)
        if member.crf is None and legal_only:
            member = WordScores(member.logits, member.offsets, legal_chain(scores.labels))
        total += word_marginals(member, batch_size)
    # (all words, len(labels)): the teacher's columns put where the student's labels have them
    out = np.zeros((len(total), len(labels)), dtype=np.float32)
    out[:, [list(labels).index(tag) for tag in scores.labels]] = total / len(scores.members)
    offsets = scores.members[0].offsets
    return np.split(out, offsets[1:-1]) if len(offsets) > 1 else []


def legal_chain(labels: Sequence[str]) -> LinearChain:
    """The chain that scores every path 0 but allows only legal IOB2 paths of `labels` (IOB2 tags)."""
    constraints = CRF.from_labels(labels)
    size = len(labels)
    return LinearChain(
        transitions=np.zeros((size, size)),
        start=np.zeros(size),
        end=np.zeros(size),
        allowed=constraints.allowed.numpy(),
        allowed_start=constraints.allowed_start.numpy(),
    )
