"""One file dealt into train/valid/test by document, seeded; and load_corpus on folders and files of exports, with
the report it carries for the run folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bertner.config import DataConfig
from bertner.config_files import config_from_dict
from bertner.data.annotations.split import SPLITS, deal, parse_ratios, split_documents
from bertner.data.conll import Sentence
from bertner.data.corpus import load_corpus
from bertner.errors import UserError

DATA = Path(__file__).parents[2] / "data" / "annotations"
RATIOS = st.tuples(st.integers(1, 8), st.integers(1, 8), st.integers(1, 8)).map(lambda t: tuple(x / sum(t) for x in t))


@settings(deadline=None, max_examples=100)
@given(st.integers(3, 200), RATIOS, st.integers(0, 2**32 - 1))
def test_deal_is_a_seeded_partition_at_the_ratios(count: int, ratios: tuple[float, ...], seed: int) -> None:
    try:
        parts = deal(count, ratios, seed, "document", "f")
    except UserError as error:
        assert "leaves" in str(error) and any(round(count * r) <= 1 for r in ratios)
        return
    assert sorted(i for part in parts.values() for i in part) == list(range(count))
    assert all(parts[name] and parts[name] == sorted(parts[name]) for name in SPLITS)
    # Largest remainders: each part is within one of its exact share.
    assert all(abs(len(parts[name]) - count * r) < 1 for name, r in zip(SPLITS, ratios, strict=True))
    assert deal(count, ratios, seed, "document", "f") == parts


def test_documents_stay_whole() -> None:
    sentences = [
        Sentence(("w",), ("O",), document=d, starts_document=i == 0, line=10 * d + i)
        for d in range(10)
        for i in range(3)
    ]
    parts, record = split_documents(sentences, (0.6, 0.2, 0.2), 7, "f")
    assert record.unit == "document" and [len(record.lines[n]) for n in SPLITS] == [6, 2, 2]
    for name, part in parts.items():
        documents = {s.document for s in part}
        assert len(part) == 3 * len(documents)
        assert record.lines[name] == sorted(10 * d for d in documents)


def test_one_document_is_split_by_sentence() -> None:
    sentences = [Sentence(("w",), ("O",), line=i) for i in range(10)]
    _, record = split_documents(sentences, (0.8, 0.1, 0.1), 0, "f")
    assert record.unit == "sentence" and [len(record.lines[n]) for n in SPLITS] == [8, 1, 1]


@pytest.mark.parametrize("text", ["0.8,0.2", "0.5,0.5,0.5", "a,b,c", "1,0,0", "0.8,-0.1,0.3"])
def test_bad_ratios_are_refused(text: str) -> None:
    with pytest.raises(UserError):
        parse_ratios(text)


def test_a_folder_of_exports_is_a_corpus_with_its_report() -> None:
    corpus = load_corpus(str(DATA / "folder"), DataConfig())
    assert (len(corpus.train), len(corpus.valid), len(corpus.test)) == (5, 2, 2)
    assert corpus.label_set.types == ("LOC", "MISC", "ORG", "PER")
    report = corpus.annotations
    assert report is not None and report.split is None
    assert [(f.format, f.offsets.unit) for f in report.files] == [
        ("labelstudio", "codepoints"),
        ("doccano", "utf16"),
        ("prodigy", "codepoints"),
    ]
    written = json.loads(report.to_json())
    assert written["settings"]["misaligned"] == "error"
    for file in written["files"]:
        assert file["entities"] == file["spans"] - len(file["dropped"]["list"])


def test_one_file_with_a_split_is_dealt_out_and_recorded() -> None:
    config = DataConfig(split=(0.6, 0.2, 0.2), split_seed=3)
    corpus = load_corpus(str(DATA / "single.jsonl"), config)
    assert (len(corpus.train), len(corpus.valid), len(corpus.test)) == (6, 2, 2)
    assert corpus.annotations is not None and corpus.annotations.split is not None
    lines = corpus.annotations.split.lines
    assert sorted(lines["train"] + lines["valid"] + lines["test"]) == list(range(1, 11))
    assert [s.line for s in corpus.valid] == lines["valid"]
    assert load_corpus(str(DATA / "single.jsonl"), config) == corpus


def test_a_conll_file_can_be_split_too(tiny_data: Path, tmp_path: Path) -> None:
    # The tiny train file holds two documents: too few for three parts.
    with pytest.raises(UserError, match="splitting 2 documents at 0.5,0.25,0.25 leaves test empty"):
        load_corpus(str(tiny_data / "train.conll"), DataConfig(split=(0.5, 0.25, 0.25)))
    path = tmp_path / "one.conll"  # no -DOCSTART-: one document, split by sentence
    path.write_text("".join(f"Name{i} B-PER\nleft O\n\n" for i in range(4)), encoding="utf-8")
    corpus = load_corpus(str(path), DataConfig(split=(0.5, 0.25, 0.25)))
    assert corpus.annotations is not None and corpus.annotations.files == ()
    assert corpus.annotations.split is not None and corpus.annotations.split.unit == "sentence"
    assert (len(corpus.train), len(corpus.valid), len(corpus.test)) == (2, 1, 1)


def test_split_settings_are_saved_and_read_back() -> None:
    config = config_from_dict({"data": {"split": [0.8, 0.1, 0.1], "format": "doccano", "misaligned": "skip"}})
    assert config.data.split == (0.8, 0.1, 0.1) and config.data.format == "doccano"
    for bad in ({"split": [0.8, 0.1]}, {"split": ["a"]}, {"misaligned": "ignore"}, {"format": "brat"}):
        with pytest.raises(UserError):
            config_from_dict({"data": bad})


def test_a_file_without_split_and_a_folder_with_one_are_refused() -> None:
    with pytest.raises(UserError, match="--split 0.8,0.1,0.1"):
        load_corpus(str(DATA / "single.jsonl"), DataConfig())
    with pytest.raises(UserError, match="--split divides one file"):
        load_corpus(str(DATA / "folder"), DataConfig(split=(0.8, 0.1, 0.1)))
