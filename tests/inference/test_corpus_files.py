"""The files of a corpus and their outputs: folders, globs, formats, reruns, and the names that would collide."""

from __future__ import annotations

from pathlib import Path

import pytest

from bertner.batch.corpus_files import CorpusFile, corpus_files, pending


def _touch(root: Path, *names: str) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("Lisbon\n", encoding="utf-8")


def _pairs(files: list[CorpusFile], root: Path, out: Path) -> list[tuple[str, str, str]]:
    return [(str(f.source.relative_to(root)), str(f.output.relative_to(out)), f.format) for f in files]


def test_a_folder_gives_every_file_under_it_sorted_without_hidden_ones(tmp_path: Path) -> None:
    corpus, out = tmp_path / "corpus", tmp_path / "out"
    _touch(corpus, "b.txt", "a.jsonl", "news/c.txt", ".hidden.txt", ".cache/d.txt", "e")
    assert _pairs(corpus_files(str(corpus), out), corpus, out) == [
        ("a.jsonl", "a.jsonl", "jsonl"),
        ("b.txt", "b.jsonl", "text"),
        ("e", "e.jsonl", "text"),
        ("news/c.txt", "news/c.jsonl", "text"),
    ]


def test_a_glob_names_outputs_relative_to_its_folder_without_wildcards(tmp_path: Path) -> None:
    corpus, out = tmp_path / "corpus", tmp_path / "out"
    _touch(corpus, "2024/a.txt", "2025/b.txt", "2025/c.jsonl", "notes.md")
    files = corpus_files(str(corpus / "*" / "*.txt"), out, format="jsonl")
    assert _pairs(files, corpus, out) == [
        ("2024/a.txt", "2024/a.jsonl", "jsonl"),
        ("2025/b.txt", "2025/b.jsonl", "jsonl"),
    ]
    assert _pairs(corpus_files(str(corpus / "**" / "*.jsonl"), out), corpus, out) == [
        ("2025/c.jsonl", "2025/c.jsonl", "jsonl")
    ]


def test_one_file_is_a_corpus_of_one(tmp_path: Path) -> None:
    _touch(tmp_path, "in/a.txt")
    assert _pairs(
        corpus_files(str(tmp_path / "in" / "a.txt"), tmp_path / "out"), tmp_path / "in", tmp_path / "out"
    ) == [("a.txt", "a.jsonl", "text")]


def test_outputs_inside_the_input_folder_are_not_inputs_on_a_rerun(tmp_path: Path) -> None:
    _touch(tmp_path, "a.txt", "tagged/a.jsonl")
    assert _pairs(corpus_files(str(tmp_path), tmp_path / "tagged"), tmp_path, tmp_path / "tagged") == [
        ("a.txt", "a.jsonl", "text")
    ]


def test_pending_leaves_out_files_whose_output_exists(tmp_path: Path) -> None:
    corpus, out = tmp_path / "corpus", tmp_path / "out"
    _touch(corpus, "a.txt", "b.txt", "c.txt")
    _touch(out, "b.jsonl")
    assert [f.source.name for f in pending(corpus_files(str(corpus), out))] == ["a.txt", "c.txt"]


@pytest.mark.parametrize(
    ("names", "pattern", "output", "message"),
    [
        (["a.txt", "a.jsonl"], "corpus", "out", "would both be tagged into"),
        (["a.txt"], "corpus", "corpus", "the output folder must not hold the input"),
        (["a.txt"], "corpus/sub", "corpus", "the output folder must not hold the input"),
        (["a.txt"], "corpus/*.md", "out", "corpus/*.md: matches no files"),
        (["a.txt"], "missing", "out", "missing: no such file or folder"),
    ],
)
def test_bad_inputs_are_value_errors_that_say_what(
    tmp_path: Path, names: list[str], pattern: str, output: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _touch(tmp_path / "corpus", *names)
    (tmp_path / "corpus" / "sub").mkdir()
    _touch(tmp_path / "corpus" / "sub", "b.txt")
    with pytest.raises(ValueError, match=message.replace("*", r"\*")):
        corpus_files(pattern, Path(output))
