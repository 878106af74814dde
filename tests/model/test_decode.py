"""predict_words: one prediction per word, however long the sentence, read at each word's first sub-token."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bertner.config import DataConfig
from bertner.data.alignment import IGNORE, first_subtokens
from bertner.data.encoding import EncodingPlan, encode
from bertner.labels import LabelSet
from bertner.model.build import build_tagger
from bertner.model.decode import length_sorted_batches, predict_words
from bertner.model.tagger import Tagger
from tiny_models import plain_model_config, write_tiny_bert

LABELS = LabelSet.from_types(["LOC", "MISC", "ORG", "PER"])
DATA = DataConfig(max_length=16, window_overlap=4)
WORDS = ("Maria", "Okafor", "flew", "to", "Lisbon", "on", "Tuesday", ".")


@pytest.fixture(scope="module")
def short_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Tagger, EncodingPlan]:
    """A tiny encoder that takes at most 24 positions, so a 3,000-word sentence must be windowed."""
    folder = write_tiny_bert(tmp_path_factory.mktemp("short-bert"), max_positions=24)
    torch.manual_seed(0)
    tagger, tokenizer = build_tagger(plain_model_config(folder), LABELS)
    with torch.no_grad():
        # A larger random head, so that predictions vary from word to word instead of being all one label.
        tagger.classifier.weight.normal_(std=3.0)
    return tagger.eval(), EncodingPlan.for_config(DATA, tokenizer, LABELS)


def test_a_sentence_far_past_the_position_limit_gets_one_prediction_per_word(
    short_model: tuple[Tagger, EncodingPlan],
) -> None:
    tagger, plan = short_model
    sentence = [WORDS[i % len(WORDS)] for i in range(3000)]
    windows = encode(plan, [sentence, list(WORDS)])
    assert max(len(w.input_ids) for w in windows) <= 16
    result = predict_words(tagger, windows, [3000, len(WORDS)], plan.tokenizer.pad_token_id, batch_size=32)
    assert [len(row) for row in result.label_ids] == [3000, len(WORDS)]
    assert [len(row) for row in result.confidences] == [3000, len(WORDS)]
    assert all(0 <= label < len(LABELS) for row in result.label_ids for label in row)
    assert all(0.0 < p <= 1.0 for row in result.confidences for p in row)


def test_predictions_are_the_argmax_at_each_words_first_subtoken(short_model: tuple[Tagger, EncodingPlan]) -> None:
    tagger, plan = short_model
    words = ["Tomas", "Berg", "hired", "Anika", "Rao"]  # short enough for one window
    windows = encode(plan, [words])
    assert len(windows) == 1
    result = predict_words(tagger, windows, [len(words)], plan.tokenizer.pad_token_id)

    # The oracle: the tokenizer and the model called directly, without bertner's windowing or collation.
    encoded = plan.tokenizer(words, is_split_into_words=True, return_tensors="pt")
    with torch.no_grad():
        logits = tagger(encoded["input_ids"], encoded["attention_mask"]).logits[0]
    word_ids = encoded.word_ids(0)
    positions = first_subtokens(word_ids)
    assert [word_ids[p] for p in positions] == list(range(len(words)))
    probabilities = logits.softmax(-1)
    assert list(result.label_ids[0]) == [int(logits[p].argmax()) for p in positions]
    assert list(result.confidences[0]) == pytest.approx([float(probabilities[p].max()) for p in positions])


def test_batching_does_not_change_predictions(short_model: tuple[Tagger, EncodingPlan]) -> None:
    tagger, plan = short_model
    sentences = [list(WORDS[:n]) for n in range(1, len(WORDS) + 1)] + [list(WORDS) * 6]
    windows = encode(plan, sentences)
    counts = [len(s) for s in sentences]
    one_by_one = predict_words(tagger, windows, counts, plan.tokenizer.pad_token_id, batch_size=1)
    batched = predict_words(tagger, windows, counts, plan.tokenizer.pad_token_id, batch_size=8)
    assert batched.label_ids == one_by_one.label_ids
    for got, expected in zip(batched.confidences, one_by_one.confidences, strict=True):
        assert got == pytest.approx(expected, abs=1e-5)


def test_predict_words_restores_training_mode(short_model: tuple[Tagger, EncodingPlan]) -> None:
    tagger, plan = short_model
    tagger.train()
    try:
        predict_words(tagger, encode(plan, [list(WORDS)]), [len(WORDS)], plan.tokenizer.pad_token_id)
        assert tagger.training
    finally:
        tagger.eval()


def test_length_sorted_batches_cover_every_window_once_longest_first(
    short_model: tuple[Tagger, EncodingPlan],
) -> None:
    _, plan = short_model
    windows = encode(plan, [list(WORDS[:n]) for n in (3, 8, 1, 5, 2)])
    batches = list(length_sorted_batches(windows, batch_size=2))
    order = [i for batch in batches for i in batch]
    assert sorted(order) == list(range(len(windows)))
    assert all(len(batch) <= 2 for batch in batches)
    lengths = [len(windows[i].input_ids) for i in order]
    assert lengths == sorted(lengths, reverse=True)


def test_the_evaluation_loss_is_the_mean_word_cross_entropy_of_the_gold_labels(tiny_bert: Path) -> None:
    """Oracle: cross-entropy computed by hand from the logits at each word's first sub-token."""
    label_set = LabelSet.from_types(["PER", "LOC"])
    torch.manual_seed(0)
    tagger, tokenizer = build_tagger(plain_model_config(tiny_bert), label_set)
    tagger.eval()
    words = [["Maria", "Okafor", "flew", "to", "Lisbon"], ["Rain", "fell"]]
    gold = [[3, 4, 0, 0, 1], [0, IGNORE]]  # B-PER I-PER O O B-LOC; O and a word without a known label
    windows = encode(EncodingPlan(tokenizer, 64, 8), words)

    result = predict_words(tagger, windows, [5, 2], tokenizer.pad_token_id, gold_label_ids=gold)

    losses = []
    for window, row in zip(windows, gold, strict=True):
        batch = tokenizer([words[window.sentence]], is_split_into_words=True, return_tensors="pt")
        with torch.no_grad():
            logits = tagger(batch["input_ids"], batch["attention_mask"]).logits[0]
        starts = [batch.word_ids(0).index(w) for w in range(len(row))]
        for word, label in enumerate(row):
            if label != IGNORE:
                losses.append(-torch.log_softmax(logits[starts[word]], -1)[label])
    assert result.loss == pytest.approx(float(torch.stack(losses).mean()), abs=1e-5)
    assert predict_words(tagger, windows, [5, 2], tokenizer.pad_token_id).loss is None
