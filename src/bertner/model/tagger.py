"""The tagging network: a pretrained encoder, an optional word-shape embedding, and a linear head."""

from __future__ import annotations

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers.modeling_outputs import TokenClassifierOutput

from bertner.data.alignment import IGNORE
from bertner.data.features import NUM_SHAPES, PAD_SHAPE


class Tagger(nn.Module):
    """Encoder -> dropout -> linear head over each sub-token.

    With `case_features`, a learned embedding of each word's shape (lower, Title, UPPER, ...) is added to
    the encoder's input embeddings, so that every layer sees the capitalisation an uncased vocabulary
    loses. It starts at zero, so training starts from exactly the pretrained encoder.
    """

    def __init__(
        self,
        encoder: PreTrainedModel,
        classifier: nn.Linear,
        dropout: float = 0.1,
        case_features: bool = False,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.classifier = classifier
        self.shape_embedding: nn.Embedding | None = None
        if case_features:
            self.shape_embedding = nn.Embedding(NUM_SHAPES, encoder.config.hidden_size, padding_idx=PAD_SHAPE)
            nn.init.zeros_(self.shape_embedding.weight)

    @property
    def num_labels(self) -> int:
        return self.classifier.out_features

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        shape_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> TokenClassifierOutput:
        """
        Args:
            input_ids: (batch, seq_len) sub-token ids.
            attention_mask: (batch, seq_len) 1 for real sub-tokens, 0 for padding.
            shape_ids: (batch, seq_len) word-shape id of each sub-token's word; used with case features.
            labels: (batch, seq_len) label ids, IGNORE (-100) where no loss is taken.

        Returns:
            logits (batch, seq_len, num_labels) and, given labels, the mean cross-entropy loss.
        """
        if self.shape_embedding is not None and shape_ids is not None:
            # (batch, seq_len, hidden)
            embeddings = self.encoder.get_input_embeddings()(input_ids) + self.shape_embedding(shape_ids)
            hidden = self.encoder(inputs_embeds=embeddings, attention_mask=attention_mask).last_hidden_state
        else:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        logits = self.classifier(self.dropout(hidden))
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(
                logits.float().reshape(-1, self.num_labels), labels.reshape(-1), ignore_index=IGNORE
            )
        return TokenClassifierOutput(loss=loss, logits=logits)
