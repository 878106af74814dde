"""`bertner select` end to end on the tiny model, and its bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bertner.cli import main


def test_select_writes_tasks_and_jsonl_within_the_budget(trained_run: Path, tmp_path: Path) -> None:
    pool = tmp_path / "pool.txt"
    texts = ["Tomas Berg left Aarhus .", "The Harbour Trust praised Danish fans .", "tomas berg left aarhus", "", "x"]
    pool.write_text("\n".join(texts) + "\n", encoding="utf-8")
    out = tmp_path / "chosen"
    argv = ["-q", "select", "--model", str(trained_run), "--input", str(pool), "--budget", "2", "--output", str(out)]
    assert main(argv) == 0
    tasks = json.loads((out / "tasks.json").read_text(encoding="utf-8"))
    lines = [json.loads(line) for line in (out / "selected.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(tasks) == len(lines) == 2
    assert [line["rank"] for line in lines] == [1, 2]
    assert [line["uncertainty"] for line in lines] == sorted((line["uncertainty"] for line in lines), reverse=True)
    assert all(task["data"]["text"] in texts for task in tasks)
    summary = json.loads((out / "selection.json").read_text(encoding="utf-8"))
    assert summary["pool"] == 4 and summary["skipped"] == {"empty texts": 1} and summary["chosen"] == 2


def test_random_selection_is_seeded(trained_run: Path, tmp_path: Path) -> None:
    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps({"id": i, "text": f"text number {i} here"}) + "\n" for i in range(8)))
    chosen = []
    for run in range(2):
        out = tmp_path / f"r{run}"
        argv = ["-q", "select", "--model", str(trained_run), "--input", str(pool), "--budget", "3"]
        assert main([*argv, "--output", str(out), "--strategy", "random", "--seed", "4"]) == 0
        chosen.append([json.loads(line)["id"] for line in (out / "selected.jsonl").read_text().splitlines()])
    assert chosen[0] == chosen[1] and len(chosen[0]) == 3


def test_bad_pool_exits_2_naming_the_line(
    trained_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pool = tmp_path / "pool.jsonl"
    pool.write_text('{"text": "fine"}\n{"text": 3}\n', encoding="utf-8")
    out = tmp_path / "out"
    argv = ["select", "--model", str(trained_run), "--input", str(pool), "--budget", "1", "--output", str(out)]
    assert main(argv) == 2
    assert f"{pool}:2:" in capsys.readouterr().err and not out.exists()
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--duplicate-threshold", "1.5"])
    assert exited.value.code == 2 and "expected a number in (0, 1]" in capsys.readouterr().err
