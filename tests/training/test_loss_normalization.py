"""train.loss_normalization = "corpus": a batch's summed loss over a fixed divisor, so that how sentences are
grouped into batches does not change how much each word weighs.

Oracles: torch's summed cross-entropy and the CRF's summed likelihood; and the defining property, that the
losses of one epoch add up to the same total however the windows are split into batches.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from bertner.config import DataConfig
from bertner.config_files import load_config
from bertner.data.alignment import IGNORE
from bertner.data.corpus import load_corpus
from bertner.data.encoding import EncodingPlan, Window
from bertner.labels import LabelSet
from bertner.model.build import build_tagger
from bertner.model.collate import Collator
from bertner.model.tagger import Tagger
from bertner.training.trainer import encode_sentences, positions_per_batch, train_model
from tiny_models import plain_model_config

LABELS = LabelSet.from_types(["LOC", "MISC", "ORG", "PER"])


def _tagger_and_windows(tiny_bert: Path, tiny_data: Path, crf: bool) -> tuple[Tagger, list[Window], int]:
    """A tagger in eval mode (no dropout), the tiny training windows, and the tokenizer's pad id."""
    corpus = load_corpus(str(tiny_data), DataConfig())
    torch.manual_seed(0)
    tagger, tokenizer = build_tagger(plain_model_config(tiny_bert, crf=crf), corpus.label_set)
    plan = EncodingPlan.for_config(DataConfig(), tokenizer, corpus.label_set)
    return tagger.eval(), encode_sentences(plan, corpus.train, corpus.label_set), tokenizer.pad_token_id


def _loss(tagger: Tagger, windows: list[Window], pad_id: int, normalizer: float | None) -> torch.Tensor:
    batch = Collator(pad_id)([w.features() for w in windows])
    with torch.no_grad():
        return tagger(**batch, loss_normalizer=normalizer).loss


def test_the_linear_heads_loss_is_the_summed_cross_entropy_over_the_divisor(tiny_bert: Path, tiny_data: Path) -> None:
    tagger, windows, pad_id = _tagger_and_windows(tiny_bert, tiny_data, crf=False)
    batch = Collator(pad_id)([w.features() for w in windows[:5]])
    with torch.no_grad():
        output = tagger(**batch)
        scaled = tagger(**batch, loss_normalizer=7.5).loss
    kept = batch["labels"] != IGNORE
    expected = torch.nn.functional.cross_entropy(output.logits[kept], batch["labels"][kept], reduction="sum") / 7.5
    torch.testing.assert_close(scaled, expected)


def test_the_crf_loss_is_its_summed_likelihood_over_the_divisor(tiny_bert: Path, tiny_data: Path) -> None:
    tagger, windows, pad_id = _tagger_and_windows(tiny_bert, tiny_data, crf=True)
    words = sum(sum(w.word_starts()) for w in windows[:5])
    mean_per_word = _loss(tagger, windows[:5], pad_id, None)
    torch.testing.assert_close(_loss(tagger, windows[:5], pad_id, 7.5), mean_per_word * words / 7.5)


@pytest.mark.parametrize("crf", [False, True])
def test_an_epochs_total_loss_does_not_depend_on_how_windows_are_batched(
    tiny_bert: Path, tiny_data: Path, crf: bool
) -> None:
    tagger, windows, pad_id = _tagger_and_windows(tiny_bert, tiny_data, crf)
    with torch.no_grad():
        # A larger random head, so that words differ in loss as they do in a model being trained.
        tagger.classifier.weight.normal_(std=3.0)
    assert len(windows) >= 6
    by_length = sorted(windows, key=lambda w: len(w.input_ids))
    grouped = [by_length[:3], by_length[3:]]  # short with short, as length grouping does
    mixed = [windows[0::2], windows[1::2]]
    assert sorted(map(len, grouped)) == sorted(map(len, mixed))

    def total(batches: list[list[Window]], normalizer: float | None) -> torch.Tensor:
        return torch.stack([_loss(tagger, batch, pad_id, normalizer) for batch in batches]).sum()

    torch.testing.assert_close(total(grouped, 10.0), total(mixed, 10.0))
    # The per-batch mean has no such property: that is the reason for the option.
    assert not torch.isclose(total(grouped, None), total(mixed, None), rtol=1e-3)


def _window(labels: list[int], starts: list[int]) -> Window:
    """A one-sentence window whose word ids put a word start where `starts` has a 1."""
    word_ids: list[int | None] = [None]
    word = -1
    for start in starts:
        word += start
        word_ids.append(word)
    word_ids.append(None)
    ids = tuple(range(len(word_ids)))
    return Window(
        sentence=0,
        input_ids=ids,
        shape_ids=ids,
        word_ids=tuple(word_ids),
        own_start=0,
        own_end=word + 1,
        labels=(IGNORE, *labels, IGNORE),
    )


def test_positions_per_batch_counts_labelled_subtokens_or_words_per_full_batch() -> None:
    # Three words over four sub-tokens; labels on all four (alignment "all"), and on the first sub-tokens only.
    every = _window([1, 2, 2, 0], [1, 1, 0, 1])
    first = _window([1, 2, IGNORE, 0], [1, 1, 0, 1])
    assert positions_per_batch([every, first], batch_size=16, crf=False) == (4 + 3) / 2 * 2  # a batch holds both
    assert positions_per_batch([every, first, first, every], batch_size=2, crf=False) == 3.5 * 2
    assert positions_per_batch([every, first], batch_size=16, crf=True) == 3 * 2


@pytest.mark.parametrize("normalization", ["corpus", "batch"])
def test_training_hands_the_divisor_to_the_tagger_only_while_training_with_corpus_normalization(
    tiny_bert: Path, tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, normalization: str
) -> None:
    config = load_config(
        None,
        {
            "model": {"encoder": str(tiny_bert)},
            "train": {"epochs": 1, "batch_size": 4, "loss_normalization": normalization},
        },
    )
    corpus = load_corpus(str(tiny_data), config.data)
    seen: list[tuple[bool, Any]] = []
    forward = Tagger.forward

    # Named parameters only: a **kwargs signature would make the Trainer pass its own loss arguments.
    def spy(
        self: Tagger,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        shape_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        word_starts: torch.Tensor | None = None,
        loss_normalizer: float | None = None,
    ) -> Any:
        seen.append((self.training, loss_normalizer))
        return forward(self, input_ids, attention_mask, shape_ids, labels, word_starts, loss_normalizer)

    monkeypatch.setattr(Tagger, "forward", spy)
    train_model(config, corpus, tmp_path / "run", progress=False)
    _, tokenizer = build_tagger(config.model, corpus.label_set)
    windows = encode_sentences(
        EncodingPlan.for_config(config.data, tokenizer, corpus.label_set), corpus.train, corpus.label_set
    )
    expected = positions_per_batch(windows, 4, crf=False) if normalization == "corpus" else None
    assert {value for training, value in seen if training} == {expected}
    assert {value for training, value in seen if not training} == {None}
