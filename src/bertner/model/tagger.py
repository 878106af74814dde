"""The tagging network: a pretrained encoder, an optional word-shape embedding, a head and an optional CRF."""

from __future__ import annotations

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers.modeling_outputs import TokenClassifierOutput

from bertner.data.alignment import IGNORE
from bertner.data.features import NUM_SHAPES, PAD_SHAPE
from bertner.model.crf import CRF
from bertner.model.heads import MLPHead
from bertner.model.packing import encode_packed


def gather_words(values: torch.Tensor, word_starts: torch.Tensor, fill: float = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row's values at its word starts, packed to the left.

    Args:
        values: (batch, seq_len) or (batch, seq_len, num_tags), e.g. logits or labels per sub-token.
        word_starts: (batch, seq_len) bool, True at the first sub-token of each word the window owns.
        fill: the value at padded word positions.

    Returns:
        The packed values, (batch, words) or (batch, words, num_tags) where `words` is the most word starts
        in one row, and a (batch, words) bool mask, True for real words (padding only at the end).
    """
    counts = word_starts.sum(dim=1)
    words = int(counts.max()) if counts.numel() else 0
    rows, columns = word_starts.nonzero(as_tuple=True)
    # The k-th word start of a row goes to word position k.
    slots = word_starts.long().cumsum(dim=1)[rows, columns] - 1
    packed = values.new_full((values.size(0), words, *values.shape[2:]), fill)
    packed[rows, slots] = values[rows, columns]
    mask = torch.arange(words, device=values.device).unsqueeze(0) < counts.unsqueeze(1)
    return packed, mask


class Tagger(nn.Module):
    """Encoder -> dropout -> head over each sub-token [-> CRF over words].

    With `case_features`, a learned embedding of each word's shape (lower, Title, UPPER, ...) is added to
    the encoder's input embeddings, so that every layer sees the capitalisation an uncased vocabulary
    loses. It starts at zero, so training starts from exactly the pretrained encoder.

    With a `crf`, the logits at each owned word's first sub-token are the CRF's emissions, so transitions
    go from word to word; the loss is the CRF's negative log-likelihood per word, and prediction is Viterbi
    decoding (model/decode.py). The logits returned are still per sub-token.

    With `packing` set, the encoder runs on packed rows in training (model/packing.py): the same outputs, less
    padding. Evaluation batches are sorted by length and gain nothing from it.
    """

    def __init__(
        self,
        encoder: PreTrainedModel,
        classifier: nn.Linear | MLPHead,
        dropout: float = 0.1,
        case_features: bool = False,
        crf: CRF | None = None,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.classifier = classifier
        self.shape_embedding: nn.Embedding | None = None
        if case_features:
            # The input embeddings' width, which is not the hidden size in ALBERT and some ELECTRAs.
            width = int(getattr(encoder.get_input_embeddings(), "embedding_dim", encoder.config.hidden_size))
            self.shape_embedding = nn.Embedding(NUM_SHAPES, width, padding_idx=PAD_SHAPE)
            nn.init.zeros_(self.shape_embedding.weight)
        if crf is not None and crf.num_tags != classifier.out_features:
            raise ValueError(f"the CRF has {crf.num_tags} tags but the head scores {classifier.out_features} labels")
        self.crf = crf
        self.packing = False

    @property
    def num_labels(self) -> int:
        return self.classifier.out_features

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        shape_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        word_starts: torch.Tensor | None = None,
        loss_normalizer: float | None = None,
    ) -> TokenClassifierOutput:
        """
        Args:
            input_ids: (batch, seq_len) sub-token ids.
            attention_mask: (batch, seq_len) 1 for real sub-tokens, 0 for padding.
            shape_ids: (batch, seq_len) word-shape id of each sub-token's word; used with case features.
            labels: (batch, seq_len) label ids, IGNORE (-100) where no loss is taken.
            word_starts: (batch, seq_len) bool, True at the first sub-token of each owned word; the CRF's
                loss needs it (with `alignment = "all"` the labels alone do not say where words start).
            loss_normalizer: if given, the loss is summed over labelled sub-tokens (CRF: words) and divided by
                this number instead of averaged over the batch's own count (train.loss_normalization).

        Returns:
            logits (batch, seq_len, num_labels) and, given labels, the loss: mean cross-entropy over labelled
            sub-tokens, or with a CRF its negative log-likelihood averaged over words.
        """
        embeddings = None
        if self.shape_embedding is not None and shape_ids is not None:
            # (batch, seq_len, embedding_dim)
            embeddings = self.encoder.get_input_embeddings()(input_ids) + self.shape_embedding(shape_ids)
        if self.packing and self.training:
            hidden = encode_packed(self.encoder, attention_mask, input_ids if embeddings is None else None, embeddings)
        elif embeddings is not None:
            hidden = self.encoder(inputs_embeds=embeddings, attention_mask=attention_mask).last_hidden_state
        else:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        logits = self.classifier(self.dropout(hidden))
        loss = None
        if labels is not None and self.crf is not None:
            loss = self._crf_loss(logits, labels, word_starts, loss_normalizer)
        elif labels is not None:
            loss = nn.functional.cross_entropy(
                logits.float().reshape(-1, self.num_labels),
                labels.reshape(-1),
                ignore_index=IGNORE,
                reduction="mean" if loss_normalizer is None else "sum",
            )
            if loss_normalizer is not None:
                loss = loss / loss_normalizer
        return TokenClassifierOutput(loss=loss, logits=logits)

    def _crf_loss(
        self,
        logits: torch.Tensor,
        labels: torch.Tensor,
        word_starts: torch.Tensor | None,
        normalizer: float | None = None,
    ) -> torch.Tensor:
        assert self.crf is not None
        if word_starts is None:
            raise ValueError("a Tagger with a CRF needs word_starts with its labels (see Window.features)")
        word_starts = word_starts.bool()
        emissions, mask = gather_words(logits, word_starts)
        tags, _ = gather_words(labels, word_starts, fill=0)
        if (tags[mask] == IGNORE).any():
            raise ValueError("a word start carries no label (IGNORE); word_starts must mark only labelled words")
        # Averaged over words rather than summed per window, so that the loss, and so the learning rate that
        # suits it, is on the same scale as the cross-entropy of the linear head.
        if normalizer is None:
            return self.crf(emissions, tags, mask, reduction="token_mean")
        return self.crf(emissions, tags, mask, reduction="sum") / normalizer
