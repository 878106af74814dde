"""Prediction files: reading back what format_predictions writes, errors with path:line, and type maps."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bertner.data.conll import Sentence, format_predictions
from bertner.evaluation.predictions import (
    PredictionSet,
    TypeMap,
    apply_type_map,
    map_sentences,
    parse_type_map,
    read_predictions,
    type_coverage,
)
from bertner.evaluation.spans import Entity, chunks

FILE = """\
-DOCSTART- O O

EU B-ORG B-ORG
rejects O O

Peter B-PER B-PER
Blackburn I-PER O

-DOCSTART- O O

BRUSSELS B-LOC B-ORG

"""


def test_reads_sentences_documents_and_lines(tmp_path: Path) -> None:
    path = tmp_path / "predictions.conll"
    path.write_text(FILE, encoding="utf-8")
    result = read_predictions(path)
    assert result.sentences == (
        Sentence(("EU", "rejects"), ("B-ORG", "O"), 0, True, str(path), 3),
        Sentence(("Peter", "Blackburn"), ("B-PER", "I-PER"), 0, False, str(path), 6),
        Sentence(("BRUSSELS",), ("B-LOC",), 1, True, str(path), 11),
    )
    assert result.predicted == (("B-ORG", "O"), ("B-PER", "O"), ("B-ORG",))
    assert result.words == 5
    assert result.gold == (("B-ORG", "O"), ("B-PER", "I-PER"), ("B-LOC",))


def test_round_trip_through_format_predictions(tmp_path: Path) -> None:
    path = tmp_path / "predictions.conll"
    path.write_text(FILE, encoding="utf-8")
    first = read_predictions(path)
    again = tmp_path / "again.conll"
    again.write_text(format_predictions(first.sentences, first.predicted), encoding="utf-8")
    assert again.read_text(encoding="utf-8") == FILE
    assert read_predictions(again).predicted == first.predicted


def test_no_docstart_and_extra_columns(tmp_path: Path) -> None:
    # conlleval's layout: the last two columns are gold and predicted, anything between is ignored.
    path = tmp_path / "p.txt"
    path.write_text("Paris NNP I-NP B-LOC B-LOC\nis VBZ I-VP O O\n", encoding="utf-8")
    result = read_predictions(path)
    assert result.sentences[0].document == 0 and not result.sentences[0].starts_document
    assert result.gold == (("B-LOC", "O"),)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a O O\nb O\n", ":2: expected 3 columns, found 2"),
        ("a O\n", ":1: expected word, gold and predicted columns, found 2"),
        ("a O O\n\nb X-PER O\n", ":3: gold tag 'X-PER' is not valid"),
        ("a O B-\n", ":1: predicted tag 'B-' is not valid"),
        ("-DOCSTART- O O\n\n", ": no sentences found"),
    ],
)
def test_errors_name_path_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.conll"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError) as error:
        read_predictions(path)
    assert str(error.value).startswith(f"{path}{message}")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="file not found"):
        read_predictions(tmp_path / "absent.conll")


def test_prediction_set_checks_lengths() -> None:
    sentence = Sentence(("a", "b"), ("O", "O"))
    with pytest.raises(ValueError, match="2 words but 1 predicted tags"):
        PredictionSet((sentence,), (("O",),))
    with pytest.raises(ValueError, match="1 sentences but 0"):
        PredictionSet((sentence,), ())


def test_parse_type_map() -> None:
    mapping = parse_type_map(" PERSON=PER, LOCATION = LOC,,DATE=O ")
    assert mapping.renames == {"PERSON": "PER", "LOCATION": "LOC", "DATE": "O"}
    assert mapping("PERSON") == "PER" and mapping("MISC") == "MISC"
    assert parse_type_map("A=B,A=B").renames == {"A": "B"}


@pytest.mark.parametrize(("text", "message"), [("PERSON", "'PERSON'"), ("=PER", "'=PER'"), ("A=B,A=C", "already")])
def test_parse_type_map_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_type_map(text)


def test_apply_type_map_examples() -> None:
    mapping = TypeMap({"PERSON": "PER", "GPE": "LOC", "FAC": "LOC", "DATE": "O"})
    assert apply_type_map(["B-PERSON", "I-PERSON", "O", "B-DATE", "I-DATE"], mapping) == (
        "B-PER",
        "I-PER",
        "O",
        "O",
        "O",
    )
    # Two neighbouring entities renamed to one type stay two entities.
    assert apply_type_map(["B-GPE", "I-FAC"], mapping) == ("B-LOC", "B-LOC")
    assert apply_type_map(["I-GPE", "I-FAC"], mapping) == ("I-LOC", "B-LOC")


def test_map_sentences_renames_gold_only() -> None:
    sentence = Sentence(("Obama",), ("B-PERSON",), document=3)
    (mapped,) = map_sentences([sentence], parse_type_map("PERSON=PER"))
    assert mapped.tags == ("B-PER",) and mapped.words == ("Obama",) and mapped.document == 3


def test_type_coverage() -> None:
    coverage = type_coverage({"PER", "LOC", "DATE"}, ["PER", "LOC", "ORG", "MISC"])
    assert coverage.shared == ("LOC", "PER")
    assert coverage.gold_only == ("DATE",)
    assert coverage.model_only == ("MISC", "ORG")
    assert coverage.to_dict()["gold_only"] == ["DATE"]


TYPES = ["A", "B", "C"]
TAGS = ["O"] + [f"{p}-{t}" for p in "BIES" for t in TYPES]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(TAGS), max_size=12),
    st.dictionaries(st.sampled_from(TYPES), st.sampled_from(["A", "B", "X", "O"])),
)
def test_mapping_renames_entities_and_keeps_boundaries(tags: list[str], renames: dict[str, str]) -> None:
    mapping = TypeMap(renames)
    expected = [Entity(e.start, e.end, mapping(e.type)) for e in chunks(tags) if mapping(e.type) != "O"]
    assert chunks(apply_type_map(tags, mapping)) == expected
