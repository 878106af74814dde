"""A model trained with document context: it predicts a sentence of a raw-text document exactly as it does
through the CoNLL path, every word once, and the context really reaches the network."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bertner.cli import main
from bertner.data.conll import read_conll
from bertner.evaluation.spans import chunks
from bertner.inference.evaluate import evaluate_sentences
from bertner.inference.load import load_inference_model
from bertner.inference.predictor import Predictor
from bertner.inference.tagging import tag_words


@pytest.fixture(scope="module")
def context_run(tiny_bert: Path, tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("context") / "run"
    argv = ["-q", "train", "--data", str(tiny_data), "--output", str(run_dir), "--encoder", str(tiny_bert)]
    assert main([*argv, "--epochs", "1", "--lr", "1e-3", "--batch-size", "4", "--context", "16", "--no-test"]) == 0
    return run_dir


def test_the_run_records_its_context(context_run: Path) -> None:
    assert load_inference_model(context_run).config.data.context == 16


def test_raw_text_document_is_tagged_as_the_conll_path_tags_it(context_run: Path, tiny_data: Path) -> None:
    sentences = read_conll(tiny_data / "test.conll")
    document = [s for s in sentences if s.document == sentences[0].document]
    assert len(document) >= 3
    model = load_inference_model(context_run)
    conll = evaluate_sentences(model, document)
    # The document as one text: its sentences joined by spaces (the sentence splitter finds them again).
    text = " ".join(" ".join(s.words) for s in document)
    entities = Predictor(model).predict([text])[0]
    starts, position = [], 0
    for s in document:
        starts.append(position)
        position += len(" ".join(s.words)) + 1
    expected = []
    for s, start, tags in zip(document, starts, conll.predicted, strict=True):
        offsets = [start + sum(len(w) + 1 for w in s.words[:i]) for i in range(len(s.words))]
        for chunk in chunks(tags):
            end = offsets[chunk.end - 1] + len(s.words[chunk.end - 1])
            expected.append((offsets[chunk.start], end, chunk.type))
    assert [(e.start, e.end, e.type) for e in entities] == expected


def test_context_changes_what_the_network_sees_but_not_which_words_are_predicted(
    context_run: Path, tiny_data: Path
) -> None:
    sentences = read_conll(tiny_data / "test.conll")
    model = load_inference_model(context_run)
    words = [s.words for s in sentences]
    together = tag_words(model, words, documents=[0] * len(words))
    alone = tag_words(model, words, documents=list(range(len(words))))
    for row_together, row_alone, sentence in zip(together.tags, alone.tags, sentences, strict=True):
        assert len(row_together) == len(row_alone) == len(sentence.words)
    # The first sentence has a right neighbour, so its scores move; a one-sentence document gets none.
    first = len(words[0])
    assert not np.array_equal(
        model.word_scores(words, documents=[0] * len(words)).logits[:first],
        model.word_scores(words, documents=list(range(len(words)))).logits[:first],
    )
    np.testing.assert_array_equal(
        model.word_scores(words[:1], documents=[0]).logits, model.word_scores(words[:1]).logits
    )
