"""Exit codes and messages: a bad option value is one line naming the option (exit 2), never a traceback; an
internal error is one line saying where its traceback was saved (exit 1)."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest

from bertner import cli
from bertner.cli import main
from bertner.data.conll import ConllFormatError
from bertner.errors import MissingExtraError, UserError

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
        raise UserError("model is not a folder\n\nand no hub id either")

    monkeypatch.setitem(cli.COMMANDS, "compare", failing)
    assert main(["compare", "run"]) == 2
    assert capsys.readouterr().err == "bertner compare: error: model is not a folder and no hub id either\n"


def _saved_traceback(line: str, pattern: str, tmp_path: Path) -> str:
    match = re.fullmatch(pattern, line)
    assert match, line
    saved = Path(match.group(1))
    assert saved.parent == tmp_path
    return saved.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "error",
    [ValueError("max() arg is an empty sequence"), ImportError("cannot import name 'x'"), KeyError("a bug")],
    ids=["ValueError", "ImportError", "KeyError"],
)
def test_an_internal_error_of_a_user_error_type_is_exit_1_with_its_traceback(
    error: Exception, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Only an error raised as a UserError is the user's fault (issue 20): a ValueError or ImportError from inside
    bertner, or from a library it calls, is a bug, reported as one."""

    def buggy(args: object) -> int:
        raise error

    monkeypatch.setitem(cli.COMMANDS, "compare", buggy)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    assert main(["compare", "run"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    name = type(error).__name__
    pattern = rf"bertner compare: internal error: {name}: .+ \(a bug in bertner; the traceback is in (.+)\)"
    trace = _saved_traceback(lines[0], pattern, tmp_path)
    assert "in buggy" in trace and type(error).__name__ in trace


def test_an_os_error_not_raised_as_a_user_error_is_exit_1_with_its_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A disk that fills up is neither the user's input nor a bug: exit 1, the traceback saved, no blame."""

    def full(args: object) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setitem(cli.COMMANDS, "compare", full)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)
    assert main(["compare", "run"]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    pattern = r"bertner compare: error: OSError: \[Errno 28\] No space left on device \(the traceback is in (.+)\)"
    assert "in full" in _saved_traceback(line, pattern, tmp_path)


@pytest.mark.parametrize(
    "error", [MissingExtraError("plots need matplotlib: pip install 'bertner[plots]'"), ConllFormatError("f:3: bad")]
)
def test_user_error_subclasses_are_exit_2(
    error: Exception, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def failing(args: object) -> int:
        raise error

    monkeypatch.setitem(cli.COMMANDS, "compare", failing)
    assert main(["compare", "run"]) == 2
    assert capsys.readouterr().err == f"bertner compare: error: {error}\n"


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--data", "{tmp}/no-such-data", "--output", "{tmp}/run"],
        ["train", "--data", "{data}", "--output", "{tmp}/run", "--encoder", "{tmp}/no-such-encoder", "--epochs", "1"],
        ["evaluate", "--model", "{tmp}/no-such-model", "--data", "{data}"],
        ["predict", "--model", "{tmp}", "--text", "x"],
        ["compare", "{tmp}"],
        ["train", "--data", "{data}", "--output", "{tmp}/run", "--config", "{tmp}/no-such.toml"],
    ],
    ids=["no-data", "no-encoder", "no-model", "not-a-model", "not-a-run", "no-config"],
)
def test_bad_input_is_still_a_user_error(
    argv: list[str], tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    filled = [arg.format(tmp=tmp_path, data=tiny_data) for arg in argv]
    assert main(["-q", *filled]) == 2, capsys.readouterr().err
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"bertner {argv[0]}: error: ") and str(tmp_path) in line
