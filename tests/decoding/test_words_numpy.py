"""Decoding per-word scores in numpy: the same tags as the torch CRF, the word loss, the word distributions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from chain_oracle import IOB2_LABELS, brute_marginals, iob2_constraints, random_chain

from bertner.data.alignment import IGNORE
from bertner.decoding.words import WordScores, decode_words, word_loss, word_marginals
from bertner.model.crf import CRF


def flat_scores(lengths: list[int], seed: int, crf: CRF | None = None) -> WordScores:
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 3.0, (sum(lengths), len(IOB2_LABELS))).astype(np.float32)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return WordScores(logits, offsets, None if crf is None else crf.to_chain())


def test_crf_tags_are_the_torch_crf_paths_and_confidences_the_chosen_softmax() -> None:
    torch.manual_seed(0)
    crf = CRF.from_labels(list(IOB2_LABELS))
    with torch.no_grad():
        for parameter in crf.parameters():
            parameter.normal_(0.0, 2.0)
    lengths = [3, 0, 1, 12, 5, 40, 2]
    scores = flat_scores(lengths, seed=1, crf=crf)
    sentences = [torch.from_numpy(s) for s in scores.sentences()]
    emissions = torch.nn.utils.rnn.pad_sequence(sentences, batch_first=True)
    mask = torch.arange(emissions.size(1)).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    predictions = decode_words(scores, batch_size=3)
    assert [list(row) for row in predictions.label_ids] == crf.decode(emissions, mask)
    for sentence, path, confidences in zip(sentences, predictions.label_ids, predictions.confidences, strict=True):
        expected = sentence.softmax(-1)[torch.arange(len(path)), list(path)].tolist()
        np.testing.assert_allclose(confidences, expected, rtol=1e-6)


def test_without_a_crf_each_word_takes_its_argmax() -> None:
    scores = flat_scores([2, 0, 3], seed=2)
    predictions = decode_words(scores)
    assert [list(row) for row in predictions.label_ids] == [s.argmax(axis=1).tolist() for s in scores.sentences()]
    assert [len(row) for row in predictions.confidences] == [2, 0, 3]
    assert decode_words(WordScores(np.zeros((0, 5), np.float32), np.array([0]))).label_ids == ()


def test_word_loss_is_the_cross_entropy_of_the_known_gold_labels() -> None:
    scores = flat_scores([3, 2], seed=3)
    gold = [[1, IGNORE, 4], [0, 2]]
    targets = torch.tensor([label for row in gold for label in row])
    expected = torch.nn.functional.cross_entropy(torch.from_numpy(scores.logits), targets, ignore_index=IGNORE)
    assert word_loss(scores, gold) == pytest.approx(float(expected), rel=1e-6)
    assert word_loss(scores, [[IGNORE] * 3, [IGNORE] * 2]) is None
    with pytest.raises(ValueError, match="gold labels for 4 words, scores for 5"):
        word_loss(scores, [[1, 2], [0, 2]])


def test_word_marginals_are_softmaxes_without_a_crf_and_forward_backward_with_one() -> None:
    scores = flat_scores([2, 4], seed=4)
    softmax = np.exp(scores.logits) / np.exp(scores.logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(word_marginals(scores), softmax, rtol=1e-6)
    allowed, start = iob2_constraints(IOB2_LABELS)
    chain = random_chain(5, seed=5, allowed=allowed, start=start)
    with_crf = WordScores(scores.logits, scores.offsets, chain)
    marginals = word_marginals(with_crf)
    np.testing.assert_allclose(marginals.sum(axis=1), 1.0, atol=1e-12)
    for sentence, begin in zip(with_crf.sentences(), (0, 2), strict=True):
        expected = brute_marginals(chain, sentence.astype(np.float64))
        np.testing.assert_allclose(marginals[begin : begin + len(sentence)], expected, atol=1e-12)
