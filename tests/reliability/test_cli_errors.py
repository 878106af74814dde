"""Exit codes and messages: a bad option value is one line naming the option (exit 2), never a traceback; an
internal error is one line saying where its traceback was saved (exit 1)."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest

from bertner import cli
from bertner.cli import main

BAD_OPTIONS = [
    ("train", "--batch-size", "0"),
    ("train", "--batch-size", "-4"),
    ("train", "--epochs", "0"),
    ("train", "--lr", "nan"),
    ("train", "--lr", "-1e-5"),
    ("train", "--weight-decay", "inf"),
    ("train", "--limit-train", "0"),
    ("train", "--lora-dropout", "1.5"),
    ("train", "--freeze-layers", "-1"),
    ("evaluate", "--batch-size", "0"),
    ("evaluate", "--bootstrap-samples", "0"),
    ("predict", "--batch-size", "-1"),
    ("predict", "--chunk-size", "0"),
    ("predict", "--threads", "0"),
    ("compare", "--samples", "0"),
    ("export", "--batch-size", "0"),
]
REQUIRED = {
    "train": ["--data", "data", "--output", "out"],
    "evaluate": ["--model", "model", "--data", "data"],
    "predict": ["--model", "model", "--text", "x"],
    "compare": ["run"],
    "export": ["--model", "model", "--output", "out"],
}


@pytest.mark.parametrize(("command", "option", "value"), BAD_OPTIONS)
def test_a_bad_option_value_is_one_line_naming_it(
    command: str, option: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command, *REQUIRED[command], f"{option}={value}"])
    assert exited.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"bertner {command}: error: argument {option}: expected ")
    assert repr(value) in lines[0]


def test_an_internal_error_is_one_line_and_its_traceback_is_saved(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def broken(args: object) -> int:
        return {}["a bug"]  # type: ignore[return-value]

    monkeypatch.setitem(cli.COMMANDS, "compare", broken)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    assert main(["compare", "run"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    match = re.fullmatch(
        r"bertner compare: internal error: KeyError: 'a bug' \(a bug in bertner; the traceback is in (.+)\)", lines[0]
    )
    assert match, lines[0]
    saved = Path(match.group(1))
    assert saved.parent == tmp_path
    trace = saved.read_text(encoding="utf-8")
    assert trace.startswith("Traceback (most recent call last):") and "in broken" in trace and "KeyError" in trace


def test_a_user_error_with_a_multi_line_message_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def failing(args: object) -> int:
        raise OSError("model is not a folder\n\nand no hub id either")

    monkeypatch.setitem(cli.COMMANDS, "compare", failing)
    assert main(["compare", "run"]) == 2
    assert capsys.readouterr().err == "bertner compare: error: model is not a folder and no hub id either\n"
