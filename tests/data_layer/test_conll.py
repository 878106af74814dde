"""CoNLL reading and writing: the tiny data counted by hand, column layouts, every kind of bad input
(each must name `path:line` and what was expected), and the prediction file round trip."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bertner.config import DataConfig
from bertner.data.conll import ConllFormatError, Sentence, check_known_tags, format_predictions, read_conll
from bertner.data.corpus import load_corpus, read_split


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _error(path: Path, **kwargs: object) -> str:
    with pytest.raises(ConllFormatError) as caught:
        read_conll(path, **kwargs)  # type: ignore[arg-type]
    return str(caught.value)


# ---------------------------------------------------------------------------------------------- the tiny data


def test_tiny_train_counted_by_hand(tiny_data: Path) -> None:
    # train.conll: -DOCSTART- on lines 1 and 29; sentences open on lines 3, 12, 20 | 31, 41, 49, 55.
    sentences = read_conll(tiny_data / "train.conll")
    assert len(sentences) == 7
    assert [s.line for s in sentences] == [3, 12, 20, 31, 41, 49, 55]
    assert [s.document for s in sentences] == [0, 0, 0, 1, 1, 1, 1]
    assert [s.starts_document for s in sentences] == [True, False, False, True, False, False, False]
    assert [len(s.words) for s in sentences] == [8, 7, 8, 9, 7, 5, 7]
    assert sentences[0].words == ("Maria", "Okafor", "flew", "to", "Lisbon", "on", "Tuesday", ".")
    assert sentences[0].tags == ("B-PER", "I-PER", "O", "O", "B-LOC", "O", "O", "O")
    assert all(s.source == str(tiny_data / "train.conll") for s in sentences)


@pytest.mark.parametrize(("name", "count", "lines"), [("dev.conll", 2, [3, 9]), ("test.conll", 3, [3, 10, 16])])
def test_tiny_dev_and_test_counted_by_hand(tiny_data: Path, name: str, count: int, lines: list[int]) -> None:
    sentences = read_conll(tiny_data / name)
    assert len(sentences) == count
    assert [s.line for s in sentences] == lines
    assert [s.starts_document for s in sentences] == [True] + [False] * (count - 1)


@pytest.mark.parametrize("name", ["train.conll", "dev.conll", "test.conll"])
def test_where_points_at_the_line_of_each_word(tiny_data: Path, name: str) -> None:
    path = tiny_data / name
    lines = path.read_text(encoding="utf-8").splitlines()
    sentences = read_conll(path)
    checked = 0
    for sentence in sentences:
        for index, (word, tag) in enumerate(zip(sentence.words, sentence.tags, strict=True)):
            source, number = sentence.where(index).rsplit(":", 1)
            assert source == str(path)
            fields = lines[int(number) - 1].split()
            assert (fields[0], fields[-1]) == (word, tag)
            checked += 1
    assert checked == sum(1 for line in lines if line and not line.startswith("-DOCSTART-"))


# ------------------------------------------------------------------------------------------ column layouts


@pytest.mark.parametrize(
    ("text", "second_line"),
    [
        ("EU\tNNP\tB-ORG\nrejects\tVBZ\tO\nGerman\tJJ\tB-MISC\n\nPeter\tNNP\tB-PER\nBlackburn\tNNP\tI-PER\n", 5),
        ("EU   NNP  B-ORG\nrejects VBZ \t O\nGerman  JJ B-MISC   \n\n\n  \nPeter NNP B-PER\nBlackburn NNP I-PER", 7),
        ("EU B-ORG\nrejects O\nGerman B-MISC\n\nPeter B-PER\nBlackburn I-PER\n", 5),
        ("EU B-ORG\r\nrejects O\r\nGerman B-MISC\r\n\r\nPeter B-PER\r\nBlackburn I-PER\r\n", 5),
    ],
    ids=["tabs", "multiple spaces and blank lines", "two columns", "CRLF"],
)
def test_separators_and_column_counts(tmp_path: Path, text: str, second_line: int) -> None:
    sentences = read_conll(_write(tmp_path, "a.conll", text))
    assert [s.words for s in sentences] == [("EU", "rejects", "German"), ("Peter", "Blackburn")]
    assert [s.tags for s in sentences] == [("B-ORG", "O", "B-MISC"), ("B-PER", "I-PER")]
    assert [s.line for s in sentences] == [1, second_line]


@pytest.mark.parametrize("tag_column", [1, -3])
def test_tag_column(tmp_path: Path, tag_column: int) -> None:
    path = _write(tmp_path, "a.conll", "Peter B-PER NNP I-NP\nsings O VBZ B-VP\n")
    sentences = read_conll(path, tag_column=tag_column)
    assert sentences[0].tags == ("B-PER", "O")
    # The same setting through the config, as the corpus loader passes it.
    assert read_split(path, "train", DataConfig(tag_column=tag_column))[0].tags == ("B-PER", "O")


def test_tag_column_outside_the_columns(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.conll", "Peter NNP B-PER\n")
    message = _error(path, tag_column=3)
    assert f"{path}:1:" in message
    assert "found 3 column(s)" in message
    assert "tag column 3" in message


def test_iob1_and_bioes_files_are_read_as_iob2(tmp_path: Path) -> None:
    iob1 = _write(tmp_path, "iob1.conll", "Peter I-PER\nBlackburn I-PER\nPaul B-PER\nin O\nBonn I-LOC\n")
    bioes = _write(tmp_path, "bioes.conll", "Peter B-PER\nBlackburn E-PER\nPaul S-PER\nin O\nBonn S-LOC\n")
    expected = ("B-PER", "I-PER", "B-PER", "O", "B-LOC")
    assert read_conll(iob1)[0].tags == expected
    assert read_conll(bioes)[0].tags == expected


def test_byte_order_mark_is_not_part_of_the_first_word(tmp_path: Path) -> None:
    path = tmp_path / "bom.conll"
    path.write_bytes("\ufeff-DOCSTART- O\n\nPeter B-PER\n".encode())
    sentences = read_conll(path)
    assert [(s.words, s.starts_document, s.line) for s in sentences] == [(("Peter",), True, 3)]


def test_only_newlines_end_a_line(tmp_path: Path) -> None:
    # U+2028, U+0085 and form feed are line breaks to str.splitlines(), but not in a CoNLL file.
    path = _write(tmp_path, "a.conll", "a\u2028b O\nc\x85d O\ne\x0cf O\nbad X-PER\n")
    message = _error(path)
    assert f"{path}:4:" in message
    good = _write(tmp_path, "b.conll", "a\u2028b O\nc\x85d O\n")
    assert read_conll(good)[0].words == ("a\u2028b", "c\x85d")


def test_sentences_before_the_first_docstart_are_their_own_document(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.conll", "Peter B-PER\n\n-DOCSTART- O\n\nBonn B-LOC\n\nParis B-LOC\n")
    sentences = read_conll(path)
    assert [s.document for s in sentences] == [0, 1, 1]
    assert [s.starts_document for s in sentences] == [False, True, False]


# ------------------------------------------------------------------------------------------------ bad input


def test_wrong_column_count(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.conll", "Peter NNP B-NP B-PER\nsings VBZ B-VP O\n\nBonn NNP B-LOC\n")
    message = _error(path)
    assert f"{path}:4:" in message
    assert "expected 4 columns, found 3" in message


def test_empty_word(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.conll", "Peter B-PER\n\tO\n")
    message = _error(path)
    assert f"{path}:2:" in message
    assert "empty word" in message


@pytest.mark.parametrize("tag", ["X-PER", "B-", "PER", "b-PER"])
def test_invalid_tag(tmp_path: Path, tag: str) -> None:
    path = _write(tmp_path, "a.conll", f"Peter B-PER\n\nin O\nBonn {tag}\n")
    message = _error(path)
    assert f"{path}:4:" in message
    assert repr(tag) in message
    assert "expected O or B-/I-/E-/S- and a type" in message


def test_illegal_iob2_sequence(tmp_path: Path) -> None:
    # B- opens the first entity, so the file is IOB2 and the I-PER after O on line 5 is an error.
    path = _write(tmp_path, "a.conll", "Peter B-PER\nsings O\n\nand O\nPaul I-PER\n")
    message = _error(path)
    assert f"{path}:5:" in message
    assert "illegal IOB2 sequence: 'I-PER' after 'O'" in message
    assert "I-X may only follow B-X or I-X" in message


def test_illegal_sequence_under_a_configured_scheme(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.conll", "Peter I-PER\nBlackburn I-PER\n")
    assert read_conll(path)[0].tags == ("B-PER", "I-PER")  # auto: IOB1
    message = _error(path, scheme="IOB2")
    assert f"{path}:1:" in message
    assert "'I-PER' after 'the sentence start'" in message


def test_unclosed_bioes_entity_at_the_sentence_end(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.conll", "Peter S-PER\n\nPaul B-PER\nBlackburn I-PER\n")
    message = _error(path)
    assert f"{path}:4:" in message
    assert "'I-PER' leaves an entity open at the sentence end" in message
    assert "expected E- or S-" in message


@pytest.mark.parametrize("text", ["", "\n\n  \n", "-DOCSTART- -X- -X- O\n\n", "-DOCSTART-\n-DOCSTART-\n"])
def test_file_without_sentences(tmp_path: Path, text: str) -> None:
    path = _write(tmp_path, "a.conll", text)
    message = _error(path)
    assert message.startswith(f"{path}:")
    assert "no sentences" in message


def test_missing_file(tmp_path: Path) -> None:
    message = _error(tmp_path / "nope.conll")
    assert f"{tmp_path / 'nope.conll'}: file not found" in message


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "a.conll"
    path.write_bytes(b"Peter B-PER\n\nK\xc3\xb6ln B-LOC\nM\xfcnchen B-LOC\n")
    message = _error(path)
    assert f"{path}:4:" in message
    assert "not valid UTF-8 (byte 0xfc at column 2)" in message
    path.write_bytes(b"Peter B-PER\n\n\xff O\n")
    message = _error(path)
    assert f"{path}:3:" in message
    assert "0xff" in message


def test_one_column(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.conll", "-DOCSTART-\n\nPeter\nsings\n")
    message = _error(path)
    assert f"{path}:3:" in message
    assert "found 1 column(s); need a word and a tag column" in message


def _corpus_folder(folder: Path, dev: str | None) -> Path:
    folder.mkdir()
    _write(folder, "train.txt", "Peter B-PER\nin O\nBonn B-LOC\n")
    if dev is not None:
        _write(folder, "dev.txt", dev)
    _write(folder, "test.txt", "Paul B-PER\n")
    return folder


def test_folder_without_a_dev_file(tmp_path: Path) -> None:
    folder = _corpus_folder(tmp_path / "corpus", dev=None)
    with pytest.raises(ConllFormatError) as caught:
        load_corpus(str(folder), DataConfig())
    message = str(caught.value)
    assert message.startswith(f"{folder}:")
    assert "no valid split" in message
    assert "dev.txt" in message and "valid.txt" in message


def test_dev_label_missing_from_training_data(tmp_path: Path) -> None:
    folder = _corpus_folder(tmp_path / "corpus", dev="Paul B-PER\n\nAcme B-FOO\nInc I-FOO\n")
    with pytest.raises(ConllFormatError) as caught:
        load_corpus(str(folder), DataConfig())
    message = str(caught.value)
    assert f"{folder / 'dev.txt'}:3:" in message
    assert "'B-FOO' does not occur in the training data" in message
    assert "known types: LOC, PER" in message


def test_check_known_tags_names_the_word(tmp_path: Path) -> None:
    sentence = Sentence(("Paul", "of", "Acme"), ("B-PER", "O", "B-ORG"), source="x.conll", line=10)
    check_known_tags([sentence], ["O", "B-PER", "I-PER", "B-ORG", "I-ORG"])
    with pytest.raises(ConllFormatError, match=re.escape("x.conll:12: tag 'B-ORG'")):
        check_known_tags([sentence], ["O", "B-PER", "I-PER"])


def test_folder_corpus_loads(tmp_path: Path) -> None:
    folder = _corpus_folder(tmp_path / "corpus", dev="Paul B-PER\n\nBonn B-LOC\n")
    corpus = load_corpus(str(folder), DataConfig(limit_eval=1))
    assert [s.words for s in corpus.train] == [("Peter", "in", "Bonn")]
    assert [s.words for s in corpus.valid] == [("Paul",)]
    assert [s.words for s in corpus.test] == [("Paul",)]
    assert corpus.label_set.labels == ("O", "B-LOC", "I-LOC", "B-PER", "I-PER")


# -------------------------------------------------------------------------------------------------- writing


def test_format_predictions_keeps_the_file_layout(tiny_data: Path, tmp_path: Path) -> None:
    path = tiny_data / "train.conll"
    sentences = read_conll(path)
    predicted = [["O"] * len(s.words) for s in sentences]
    text = format_predictions(sentences, predicted)
    # Oracle: the input file line by line, with `word gold pred` columns and a blank line after the last sentence.
    expected = []
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if not fields:
            expected.append("")
        elif fields[0] == "-DOCSTART-":
            expected.append("-DOCSTART- O O")
        else:
            expected.append(f"{fields[0]} {fields[-1]} O")
    assert text.splitlines() == [*expected, ""]
    # Read back: gold from the middle column, predictions from the last; documents kept.
    written = _write(tmp_path, "predictions.conll", text)
    gold = read_conll(written, tag_column=1)
    assert [(s.words, s.tags, s.document, s.starts_document, s.line) for s in gold] == [
        (s.words, s.tags, s.document, s.starts_document, s.line) for s in sentences
    ]
    assert [s.tags for s in read_conll(written)] == [tuple(p) for p in predicted]


def test_format_predictions_needs_one_prediction_per_word() -> None:
    sentence = Sentence(("Peter", "sings"), ("B-PER", "O"))
    assert format_predictions([sentence], [["B-PER", "B-LOC"]]) == "Peter B-PER B-PER\nsings O B-LOC\n\n"
    with pytest.raises(ValueError):
        format_predictions([sentence], [["B-PER"]])
