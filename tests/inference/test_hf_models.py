"""Any HF token-classification model: label names read as tags, predictions scored like a bertner model's."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForTokenClassification, BertConfig, BertForTokenClassification, BertTokenizerFast

from bertner.inference.hf_labels import read_model_labels
from bertner.inference.load import load_inference_model
from bertner.inference.predictor import Predictor
from bertner.labels import Scheme


@pytest.mark.parametrize(
    ("names", "tags", "scheme"),
    [
        (["O", "B-PER", "I-PER"], ("O", "B-PER", "I-PER"), Scheme.IOB2),
        (["o", "b_per", "i_per"], ("O", "B-per", "I-per"), Scheme.IOB2),
        (["O", "B-LOC", "I-LOC", "E-LOC", "S-LOC"], ("O", "B-LOC", "I-LOC", "E-LOC", "S-LOC"), Scheme.BIOES),
        (["O", "U-ORG", "B-ORG", "L-ORG"], ("O", "S-ORG", "B-ORG", "E-ORG"), Scheme.BIOES),
        (["O", "PER", "LOC"], ("O", "I-PER", "I-LOC"), Scheme.IOB1),
    ],
)
def test_label_names_are_read_as_tags_of_one_scheme(names: list[str], tags: tuple[str, ...], scheme: Scheme) -> None:
    labels = read_model_labels({str(i): name for i, name in enumerate(names)}, "config.json")
    assert (labels.tags, labels.scheme) == (tags, scheme)


@pytest.mark.parametrize(
    ("id2label", "message"),
    [
        ({0: "LABEL_0", 1: "LABEL_1"}, "placeholder names"),
        ({0: "B-PER", 1: "I-PER"}, r"no outside label \('O'\)"),
        ({0: "O", 2: "B-PER"}, "ids 0..n-1"),
        ({"x": "O"}, "keys must be integers"),
    ],
)
def test_unusable_label_maps_are_refused_with_the_reason(id2label: dict, message: str) -> None:
    with pytest.raises(ValueError, match=f"config.json: .*{message}"):
        read_model_labels(id2label, "config.json")


def _hf_folder(tiny_bert: Path, folder: Path, names: list[str], always: str) -> Path:
    """An HF BertForTokenClassification saved as run_ner.py saves one, whose head always says `always`."""
    config = BertConfig.from_pretrained(
        tiny_bert, id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)}
    )
    torch.manual_seed(0)
    model = BertForTokenClassification(config)
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.zero_()
        model.classifier.bias[names.index(always)] = 20.0
    model.save_pretrained(folder)
    BertTokenizerFast.from_pretrained(tiny_bert).save_pretrained(folder)
    return folder


def test_an_hf_model_with_bilou_labels_predicts_iob2_entities(tiny_bert: Path, tmp_path: Path) -> None:
    folder = _hf_folder(tiny_bert, tmp_path / "hf", ["O", "U-LOC", "B-LOC", "L-LOC"], always="U-LOC")
    predictor = Predictor.load(folder)
    assert (predictor.model.kind, predictor.model.backend, predictor.model.types) == ("hf", "torch", ("LOC",))
    [entities] = predictor.predict(["Lisbon and Aarhus"])
    assert [(e.text, e.type) for e in entities] == [("Lisbon", "LOC"), ("and", "LOC"), ("Aarhus", "LOC")]


def test_an_hf_model_scores_what_its_own_forward_scores(tiny_bert: Path, tmp_path: Path) -> None:
    names = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    folder = _hf_folder(tiny_bert, tmp_path / "hf", names, always="O")
    with torch.no_grad():
        model = AutoModelForTokenClassification.from_pretrained(folder)
        model.classifier.weight.normal_(std=3.0)
        model.save_pretrained(folder)
    loaded = load_inference_model(folder)
    tokenizer = loaded.tokenizer
    words = ["maria", "flew", "to", "lisbon"]
    encoded = tokenizer([words], is_split_into_words=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(**encoded).logits[0]
    # The oracle: HF's own forward read at each word's first sub-token.
    first = {w: k for k, w in reversed(list(enumerate(encoded.word_ids(0)))) if w is not None}
    expected = [names[int(logits[first[w]].argmax())] for w in range(len(words))]
    from bertner.inference.tagging import tag_words

    tagged = tag_words(loaded, [words])
    assert list(tagged.tags[0]) == expected


def test_a_folder_that_is_no_model_says_what_it_looked_for(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"not a bertner run folder \(no labels.json\), not an export"):
        load_inference_model(tmp_path)
