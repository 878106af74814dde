"""Predictor: entity offsets always slice the input, and batching never changes the result."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bertner.data.segment import segment
from bertner.data.sentences import split_sentences
from bertner.inference.model import InferenceModel
from bertner.inference.predictor import Predictor, TextEntity
from bertner.labels import LabelSet
from bertner.model.build import LoadedModel, build_tagger
from tiny_models import built_run_config, plain_model_config

LABELS = LabelSet.from_types(["LOC", "MISC", "ORG", "PER"])

# Words of the tiny vocabulary, names, punctuation and whitespace, plus arbitrary unicode.
PIECES = st.sampled_from(["Maria", "Okafor", "flew", "to", "Lisbon", ".", ",", "U.S.", "3.5", "New-York", "Zürich's"])
SEPARATORS = st.sampled_from([" ", "  ", "\t", "\n", "", "\u00a0"])
TEXTS = st.one_of(
    st.lists(st.tuples(PIECES, SEPARATORS), max_size=12).map(lambda parts: "".join(p + s for p, s in parts)),
    st.text(max_size=60),
)


def _model(tiny_bert: Path, always: str | None = None) -> LoadedModel:
    """An untrained tagger; with `always`, one whose head ignores the encoder and predicts that label."""
    model_config = plain_model_config(tiny_bert)
    torch.manual_seed(0)
    tagger, tokenizer = build_tagger(model_config, LABELS)
    with torch.no_grad():
        if always is None:
            # A larger random head, so that an untrained model predicts a mix of entities rather than one label.
            tagger.classifier.weight.normal_(std=3.0)
        else:
            tagger.classifier.weight.zero_()
            tagger.classifier.bias.zero_()
            tagger.classifier.bias[LABELS.label2id[always]] = 20.0
    return LoadedModel(tagger.eval(), tokenizer, LABELS, built_run_config(model_config))


@pytest.fixture(scope="module")
def predictor(tiny_bert: Path) -> Predictor:
    return Predictor(InferenceModel.from_loaded(_model(tiny_bert)), batch_size=4)


def _is_white_space(char: str) -> bool:
    """Unicode's White_Space property; Python's isspace() also counts the separators U+001C..U+001F."""
    return char.isspace() and char not in "\x1c\x1d\x1e\x1f"


def _check_entity(text: str, entity: TextEntity) -> None:
    assert 0 <= entity.start < entity.end <= len(text)
    assert entity.text == text[entity.start : entity.end]
    assert entity.text != ""
    assert not _is_white_space(entity.text[0]) and not _is_white_space(entity.text[-1])
    assert entity.type in LABELS.types
    assert 0.0 <= entity.score <= 1.0


@settings(max_examples=20, deadline=None)
@given(text=TEXTS)
def test_entities_slice_the_input_and_have_known_types(predictor: Predictor, text: str) -> None:
    [entities] = predictor.predict([text])
    for entity in entities:
        _check_entity(text, entity)
    starts = [e.start for e in entities]
    assert starts == sorted(starts)
    assert all(a.end <= b.start for a, b in zip(entities, entities[1:], strict=False))


@settings(max_examples=20, deadline=None)
@given(texts=st.lists(TEXTS, min_size=1, max_size=4))
def test_a_batch_gives_the_same_entities_as_one_text_at_a_time(predictor: Predictor, texts: list[str]) -> None:
    batched = predictor.predict(texts)
    one_by_one = [predictor.predict([text])[0] for text in texts]
    assert len(batched) == len(texts)
    for got, expected in zip(batched, one_by_one, strict=True):
        assert [(e.start, e.end, e.text, e.type) for e in got] == [(e.start, e.end, e.text, e.type) for e in expected]
        assert [e.score for e in got] == pytest.approx([e.score for e in expected], abs=1e-3)


def test_a_model_that_always_says_b_per_makes_every_word_an_entity(tiny_bert: Path) -> None:
    predictor = Predictor(InferenceModel.from_loaded(_model(tiny_bert, always="B-PER")))
    text = "Maria  Okafor flew to U.S. , on 1996-08-22."
    [entities] = predictor.predict([text])
    assert [e.text for e in entities] == ["Maria", "Okafor", "flew", "to", "U.S.", ",", "on", "1996-08-22", "."]
    assert [(e.start, e.end) for e in entities][:2] == [(0, 5), (7, 13)]
    assert {e.type for e in entities} == {"PER"}
    assert all(e.score == 1.0 for e in entities)


def test_a_model_that_always_says_i_loc_makes_one_entity_of_all_words(tiny_bert: Path) -> None:
    # conlleval reads an I- that follows O (or the sentence start) as the start of an entity.
    predictor = Predictor(InferenceModel.from_loaded(_model(tiny_bert, always="I-LOC")))
    text = "  New Haven , Lisbon\t"
    assert [e.to_dict() for e in predictor.predict([text])[0]] == [
        {"start": 2, "end": 20, "text": "New Haven , Lisbon", "type": "LOC", "score": 1.0}
    ]


def test_empty_and_blank_texts_have_no_entities(predictor: Predictor) -> None:
    assert predictor.predict(["", "   ", "\n"]) == [[], [], []]
    assert predictor.predict([]) == []


def test_a_100k_character_document_is_tagged_sentence_by_sentence_with_offsets_into_it(tiny_bert: Path) -> None:
    predictor = Predictor(InferenceModel.from_loaded(_model(tiny_bert, always="B-PER")))
    paragraph = "Maria Okafor flew to Lisbon on Tuesday. Mr. Berg stayed in Aarhus!\n\n"
    document = paragraph * (100_000 // len(paragraph) + 1)
    [entities] = predictor.predict([document])
    words = segment(document)
    assert len(document) > 100_000
    # Every word is its own entity under an all-B-PER model: the oracle is the segmenter's words and offsets.
    assert [(e.start, e.end, e.text) for e in entities] == [(w.start, w.end, w.text) for w in words]
    assert len(split_sentences(document, words)) == 2 * document.count(paragraph)


def test_raw_text_prediction_does_not_import_the_training_or_report_stack() -> None:
    code = (
        "import sys, bertner.inference.predictor;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('bertner', 'matplotlib', 'peft', 'datasets')))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "bertner.inference.predictor" in loaded
    for heavy in (
        "bertner.training",
        "bertner.evaluation.report",
        "bertner.experiments",
        "matplotlib",
        "peft",
        "datasets",
    ):
        assert f"'{heavy}" not in loaded
