"""`bertner predict` streams: output line N is input line N, ids kept, input read a chunk at a time."""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bertner.cli import main
from bertner.data.segment import segment
from bertner.inference.predictor import Predictor

ODD_LINES = ["Tomas Berg\x0bleft", "Aarhus\x1cLisbon", "Quill\u2028hired Anika", "", "   ", "x\x85y\u2029z"]


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> list[dict]:
    capsys.readouterr()
    assert main(["-q", "predict", *argv]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.split("\n") if line]


def test_many_lines_with_odd_break_characters_map_one_to_one(
    all_per_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [ODD_LINES[i % len(ODD_LINES)] + f" n{i}" * (i % 3) for i in range(1500)]
    path = tmp_path / "in.txt"
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8"))
    records = _run(["--model", str(all_per_run), "--input", str(path), "--chunk-size", "100"], capsys)
    assert [r["text"] for r in records] == lines
    # The all-B-PER model makes every word an entity: the oracle is the text's words and their offsets.
    for record in records[:50]:
        words = segment(record["text"])
        assert [(e["start"], e["end"], e["text"]) for e in record["entities"]] == [
            (w.start, w.end, w.text) for w in words
        ]


def test_jsonl_input_keeps_ids_and_output_goes_to_a_file(
    all_per_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text('{"id": "a", "text": "Lisbon ."}\n{"id": 2, "text": ""}\n{"text": "Quill"}\n', encoding="utf-8")
    assert (
        _run(["--model", str(all_per_run), "--input", str(path), "--output", str(tmp_path / "out.jsonl")], capsys) == []
    )
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(r.get("id"), r["text"], len(r["entities"])) for r in records] == [
        ("a", "Lisbon .", 2),
        (2, "", 0),
        (None, "Quill", 1),
    ]


def test_a_bad_jsonl_line_fails_naming_it_and_leaves_no_output_file(
    all_per_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "Lisbon"}\n{"txt": "oops"}\n', encoding="utf-8")
    output = tmp_path / "out.jsonl"
    assert main(["-q", "predict", "--model", str(all_per_run), "--input", str(path), "--output", str(output)]) == 2
    assert f'{path}:2: the object has no "text" field' in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [path]


def test_the_stream_reads_only_a_chunk_ahead(all_per_run: Path) -> None:
    predictor = Predictor.load(all_per_run, chunk_size=16)
    pulled = 0

    def endless() -> Iterator[str]:
        nonlocal pulled
        for i in itertools.count():
            pulled += 1
            yield f"Lisbon {i}"

    results = list(itertools.islice(predictor.predict_stream(endless()), 20))
    assert [len(r) for r in results] == [2] * 20
    # Bounded memory: at most one chunk is held beyond what was already returned.
    assert pulled <= 20 + 16


def test_stdin_is_read_as_bytes_split_on_newline_only(
    all_per_run: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = ("\n".join(ODD_LINES) + "\n").encode("utf-8")
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))
    assert [r["text"] for r in _run(["--model", str(all_per_run)], capsys)] == ODD_LINES
