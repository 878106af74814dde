"""Tagger: output shapes, the loss against torch's cross-entropy, case features, and the collator's padding."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bertner.data.alignment import IGNORE
from bertner.data.features import NUM_SHAPES, PAD_SHAPE
from bertner.labels import LabelSet
from bertner.model.build import build_tagger
from bertner.model.collate import Collator
from bertner.model.tagger import Tagger
from tiny_models import plain_model_config

LABELS = LabelSet.from_types(["LOC", "MISC", "ORG", "PER"])


@pytest.fixture(scope="module")
def tagger(tiny_bert: Path) -> Tagger:
    torch.manual_seed(0)
    model, _ = build_tagger(plain_model_config(tiny_bert), LABELS)
    return model.eval()


@pytest.fixture(scope="module")
def case_tagger(tiny_bert: Path) -> Tagger:
    torch.manual_seed(0)
    model, _ = build_tagger(plain_model_config(tiny_bert, case_features=True), LABELS)
    return model.eval()


def _inputs(batch: int, seq_len: int, vocab: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    input_ids = torch.randint(5, vocab, (batch, seq_len), generator=generator)
    attention_mask = torch.ones(batch, seq_len, dtype=torch.long)
    attention_mask[1, seq_len - 2 :] = 0  # the second row is padded
    shape_ids = torch.randint(1, NUM_SHAPES, (batch, seq_len), generator=generator)
    return {"input_ids": input_ids, "attention_mask": attention_mask, "shape_ids": shape_ids}


def test_logits_have_one_score_per_label_per_subtoken(tagger: Tagger) -> None:
    inputs = _inputs(3, 7, tagger.encoder.config.vocab_size)
    with torch.no_grad():
        output = tagger(inputs["input_ids"], inputs["attention_mask"])
    assert output.logits.shape == (3, 7, len(LABELS))
    assert tagger.num_labels == len(LABELS)
    assert output.loss is None


def test_loss_is_cross_entropy_over_labelled_positions_only(tagger: Tagger) -> None:
    inputs = _inputs(2, 6, tagger.encoder.config.vocab_size)
    labels = torch.tensor([[IGNORE, 1, 2, IGNORE, 0, IGNORE], [IGNORE, 3, IGNORE, 8, IGNORE, IGNORE]])
    with torch.no_grad():
        output = tagger(inputs["input_ids"], inputs["attention_mask"], labels=labels)
    kept = labels != IGNORE
    expected = torch.nn.functional.cross_entropy(output.logits[kept], labels[kept])
    torch.testing.assert_close(output.loss, expected)
    # Changing the logits' targets at ignored positions must not move the loss.
    relabelled = labels.clone()
    relabelled[~kept] = 4
    with torch.no_grad():
        moved = tagger(inputs["input_ids"], inputs["attention_mask"], labels=relabelled).loss
    assert not torch.isclose(moved, output.loss)


def test_case_features_start_at_zero_so_logits_match_the_plain_model(case_tagger: Tagger) -> None:
    assert case_tagger.shape_embedding is not None
    assert torch.count_nonzero(case_tagger.shape_embedding.weight) == 0
    plain = Tagger(case_tagger.encoder, case_tagger.classifier, case_features=False).eval()
    inputs = _inputs(2, 5, case_tagger.encoder.config.vocab_size)
    with torch.no_grad():
        with_shapes = case_tagger(**inputs).logits
        without = plain(inputs["input_ids"], inputs["attention_mask"]).logits
    torch.testing.assert_close(with_shapes, without)


def test_a_trained_shape_embedding_changes_the_logits_of_words_with_that_shape(tiny_bert: Path) -> None:
    torch.manual_seed(0)
    model, _ = build_tagger(plain_model_config(tiny_bert, case_features=True), LABELS)
    model.eval()
    assert model.shape_embedding is not None
    inputs = _inputs(2, 5, model.encoder.config.vocab_size)
    inputs["shape_ids"] = torch.tensor([[1, 1, 2, 2, 1], [2, 1, 1, 2, 1]])
    weight = model.shape_embedding.weight
    with torch.no_grad():
        before = model(**inputs).logits
        weight[5].normal_()  # a shape no word here has
        unused_changed = model(**inputs).logits
        weight[1].normal_()
        used_changed = model(**inputs).logits
    torch.testing.assert_close(unused_changed, before)
    assert not torch.allclose(used_changed, before)


def test_collator_pads_to_the_longest_window() -> None:
    features = [
        {"input_ids": [2, 10, 11, 3], "shape_ids": [0, 1, 2, 0], "labels": [IGNORE, 1, 2, IGNORE]},
        {"input_ids": [2, 12, 3], "shape_ids": [0, 3, 0], "labels": [IGNORE, 0, IGNORE]},
        {"input_ids": [2, 3], "shape_ids": [0, 0], "labels": [IGNORE, IGNORE]},
    ]
    batch = Collator(pad_token_id=7)(features)
    assert batch["input_ids"].tolist() == [[2, 10, 11, 3], [2, 12, 3, 7], [2, 3, 7, 7]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 1, 0], [1, 1, 0, 0]]
    assert batch["shape_ids"].tolist() == [[0, 1, 2, 0], [0, 3, 0, PAD_SHAPE], [0, 0, PAD_SHAPE, PAD_SHAPE]]
    assert batch["labels"].tolist() == [
        [IGNORE, 1, 2, IGNORE],
        [IGNORE, 0, IGNORE, IGNORE],
        [IGNORE, IGNORE, IGNORE, IGNORE],
    ]
    assert all(t.dtype == torch.long for t in batch.values())


def test_collator_without_labels_gives_no_labels() -> None:
    batch = Collator(pad_token_id=0)([{"input_ids": [5], "shape_ids": [1]}, {"input_ids": [5, 6], "shape_ids": [1, 2]}])
    assert set(batch) == {"input_ids", "attention_mask", "shape_ids"}
    assert batch["input_ids"].tolist() == [[5, 0], [5, 6]]
    assert batch["attention_mask"].tolist() == [[1, 0], [1, 1]]
