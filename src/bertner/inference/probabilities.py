"""Each word's label distribution under any model: what the annotation audit and active learning read.

A word's distribution is its *marginal* P(y_t = j | sentence) (decoding/words.py `word_marginals`): the softmax
of its scores for a model without a CRF, the forward-backward marginal for a CRF model (not the softmax of its
emissions, which ignores the transitions' evidence). For an ensemble it is the mean of the members' marginals,
each computed from the member's own scores and CRF; this is what "the ensemble's probability" means for an
audit (cleanlab averages members' predicted probabilities the same way). The tags are decoded, as tagging
does, from the ensemble's combined scores (inference/ensemble/model.py), so `scores` here is exactly what
`tag_words` would decode.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bertner.decoding.words import WordScores, word_marginals
from bertner.inference.ensemble.model import EnsembleModel, average_scores, in_label_order
from bertner.inference.tagging import TaggingModel


@dataclass(frozen=True, eq=False)
class WordProbabilities:
    """Many sentences' word marginals, and the scores their tags are decoded from."""

    scores: WordScores
    """The model's per-word scores (an ensemble's combined), in the model's label order."""
    marginals: np.ndarray
    """(all words, num_labels) float64, rows as in `scores.logits`, each summing to 1."""

    def sentences(self) -> list[np.ndarray]:
        """One (words, num_labels) view of the marginals per sentence."""
        if self.scores.num_sentences == 0:
            return []
        return np.split(self.marginals, self.scores.offsets[1:-1])


def word_probabilities(
    model: TaggingModel,
    words: Sequence[Sequence[str]],
    batch_size: int = 64,
    progress: bool = False,
    documents: Sequence[int] | None = None,
) -> WordProbabilities:
    """The marginals of every word of `words` under `model` (see the module); `documents` as in `tag_words`."""
    if isinstance(model, EnsembleModel):
        members = [
            in_label_order(member.word_scores(words, batch_size, progress, documents), member.labels.tags, model.labels)
            for member in model.members
        ]
        # (members, all words, num_labels) summed then divided once, so that one member gives its own marginals
        total = sum((word_marginals(scores, batch_size) for scores in members), np.zeros(members[0].logits.shape))
        return WordProbabilities(scores=average_scores(members), marginals=total / len(members))
    scores = model.word_scores(words, batch_size, progress, documents)
    return WordProbabilities(scores=scores, marginals=word_marginals(scores, batch_size))
