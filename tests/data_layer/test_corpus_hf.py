"""A corpus from a local HF `datasets.DatasetDict`: ClassLabel ids and string tags, split names, errors."""

from __future__ import annotations

from typing import Any

import pytest

datasets = pytest.importorskip("datasets")

from bertner.config import DataConfig  # noqa: E402
from bertner.data.conll import ConllFormatError  # noqa: E402
from bertner.data.corpus import corpus_from_hf  # noqa: E402

# datasets 4 renamed the list feature to `List` (`Sequence` stays as a function); 3.x only has `Sequence`.
LIST = getattr(datasets, "List", None) or datasets.Sequence
NAMES = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
ROWS = {
    "train": {
        "tokens": [["Maria", "Okafor", "flew", "to", "Lisbon"], ["Rain", "fell"]],
        "ner_tags": [[1, 2, 0, 0, 3], [0, 0]],
    },
    "validation": {"tokens": [["Tomas", "left", "New", "Haven"]], "ner_tags": [[1, 0, 3, 4]]},
    "test": {"tokens": [["Lisbon"], [], ["Leo"]], "ner_tags": [[3], [], [1]]},
}


def _class_label_features() -> Any:
    return datasets.Features(
        {"tokens": LIST(datasets.Value("string")), "ner_tags": LIST(datasets.ClassLabel(names=NAMES))}
    )


def _string_features() -> Any:
    return datasets.Features({"tokens": LIST(datasets.Value("string")), "ner_tags": LIST(datasets.Value("string"))})


def _dataset_dict(rows: dict[str, dict[str, list[Any]]], features: Any) -> Any:
    return datasets.DatasetDict(
        {split: datasets.Dataset.from_dict(columns, features=features) for split, columns in rows.items()}
    )


def _as_strings(rows: dict[str, dict[str, list[Any]]]) -> dict[str, dict[str, list[Any]]]:
    return {
        split: {"tokens": columns["tokens"], "ner_tags": [[NAMES[t] for t in tags] for tags in columns["ner_tags"]]}
        for split, columns in rows.items()
    }


def _expected(split: str) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    columns = ROWS[split]
    return [
        (tuple(words), tuple(NAMES[t] for t in tags))
        for words, tags in zip(columns["tokens"], columns["ner_tags"], strict=True)
        if words
    ]


@pytest.mark.parametrize("kind", ["class labels", "strings"])
def test_corpus_from_hf(kind: str) -> None:
    if kind == "class labels":
        dataset = _dataset_dict(ROWS, _class_label_features())
    else:
        dataset = _dataset_dict(_as_strings(ROWS), _string_features())
    corpus = corpus_from_hf(dataset, DataConfig(), where="hf:local")
    assert [(s.words, s.tags) for s in corpus.train] == _expected("train")
    assert [(s.words, s.tags) for s in corpus.valid] == _expected("validation")
    # The empty test row is skipped, not turned into an empty sentence.
    assert [(s.words, s.tags) for s in corpus.test] == _expected("test")
    assert corpus.label_set.labels == ("O", "B-LOC", "I-LOC", "B-PER", "I-PER")
    assert corpus.valid[0].where(2) == "hf:local:validation[0]:2"


def test_dev_is_accepted_as_the_valid_split_and_limits_apply() -> None:
    rows = {"train": ROWS["train"], "dev": ROWS["validation"], "test": ROWS["test"]}
    corpus = corpus_from_hf(_dataset_dict(rows, _class_label_features()), DataConfig(limit_train=1, limit_eval=1))
    assert [s.words for s in corpus.train] == [("Maria", "Okafor", "flew", "to", "Lisbon")]
    assert [s.words for s in corpus.valid] == [("Tomas", "left", "New", "Haven")]
    assert [s.words for s in corpus.test] == [("Lisbon",)]


def test_iob1_string_tags_are_converted() -> None:
    rows = {
        split: {"tokens": [["Peter", "Blackburn", "Paul"]], "ner_tags": [["I-PER", "I-PER", "B-PER"]]}
        for split in ("train", "validation", "test")
    }
    corpus = corpus_from_hf(_dataset_dict(rows, _string_features()), DataConfig())
    assert corpus.train[0].tags == ("B-PER", "I-PER", "B-PER")


def test_missing_split() -> None:
    rows = {"train": ROWS["train"], "validation": ROWS["validation"]}
    with pytest.raises(ConllFormatError) as caught:
        corpus_from_hf(_dataset_dict(rows, _class_label_features()), DataConfig(), where="hf:local")
    assert str(caught.value) == "hf:local: no test split: expected one of test"


def test_missing_column() -> None:
    dataset = datasets.DatasetDict(
        {split: datasets.Dataset.from_dict({"tokens": [["a"]], "tags": [["O"]]}) for split in ROWS}
    )
    with pytest.raises(ConllFormatError, match="hf:train: missing column 'ner_tags'"):
        corpus_from_hf(dataset, DataConfig())


def test_validation_tag_missing_from_training_data() -> None:
    rows = _as_strings(ROWS)
    rows["validation"] = {"tokens": [["Acme", "Inc"]], "ner_tags": [["B-ORG", "I-ORG"]]}
    with pytest.raises(ConllFormatError) as caught:
        corpus_from_hf(_dataset_dict(rows, _string_features()), DataConfig())
    assert "hf:validation[0]:0: tag 'B-ORG' does not occur in the training data" in str(caught.value)


def test_illegal_sequence_names_the_row() -> None:
    rows = _as_strings(ROWS)
    rows["test"] = {"tokens": [["Lisbon"], ["in", "Lisbon"]], "ner_tags": [["B-LOC"], ["O", "I-LOC"]]}
    with pytest.raises(ConllFormatError, match=r"hf:test\[1\]: illegal IOB2 sequence at word 1: 'I-LOC'"):
        corpus_from_hf(_dataset_dict(rows, _string_features()), DataConfig())
