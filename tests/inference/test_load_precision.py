"""The machine that loads a run decides its precision (issue 20, defect 3), and says so in the log.

A run trained under bf16 autocast on a CPU with native bf16 records `train.bf16 = true`; loaded on a CPU without
native bf16 it is scored in fp32 (emulated bf16 is much slower), so its PyTorch backend finds what its fp32 ONNX
export finds. `--bf16 true|false` overrides the decision; an export or an HF model runs in fp32 only.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest
import torch

from bertner import precision
from bertner.cli import main
from bertner.config import DataConfig
from bertner.data.corpus import read_split
from bertner.errors import UserError
from bertner.inference.load import load_inference_model
from bertner.inference.tagging import tag_words
from bertner.labels import LabelSet
from bertner.model.build import LoadedModel, build_tagger
from bertner.model.store import save_model
from tiny_models import built_run_config, plain_model_config

LABELS = LabelSet.from_types(["LOC", "MISC", "ORG", "PER"])
NATIVE = ("avx2", "avx512_bf16")
EMULATED = ("avx2",)


def _run(tiny_bert: Path, folder: Path, trained_bf16: bool) -> Path:
    """A tiny default-setting run (a CRF, word-shape features) with random scores large enough to tag entities,
    saved as a run trained with `train.bf16 = trained_bf16` records it."""
    model_config = plain_model_config(tiny_bert, crf=True, case_features=True)
    torch.manual_seed(0)
    tagger, tokenizer = build_tagger(model_config, LABELS)
    with torch.no_grad():
        tagger.classifier.weight.normal_(std=3.0)
        assert tagger.crf is not None
        tagger.crf.transitions.normal_(std=2.0)
    config = built_run_config(model_config)
    config = dataclasses.replace(config, train=dataclasses.replace(config.train, bf16=trained_bf16))
    save_model(LoadedModel(tagger.eval(), tokenizer, LABELS, config), folder)
    return folder


@pytest.fixture(scope="module")
def bf16_run(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _run(tiny_bert, tmp_path_factory.mktemp("bf16-run"), trained_bf16=True)


@pytest.fixture(scope="module")
def fp32_run(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _run(tiny_bert, tmp_path_factory.mktemp("fp32-run"), trained_bf16=False)


def _on(monkeypatch: pytest.MonkeyPatch, flags: tuple[str, ...]) -> None:
    """Make this machine look like a CPU with `flags` (and no GPU) to precision.py."""
    monkeypatch.setattr(precision, "cpu_flags", lambda: flags)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.mark.parametrize(
    ("flags", "trained", "setting", "expected"),
    [
        (EMULATED, True, "auto", False),  # the defect: a bf16 run crawled on a CPU without native bf16
        (NATIVE, True, "auto", True),
        (NATIVE, False, "auto", False),  # a run trained in fp32 is scored as it was validated
        (EMULATED, False, True, True),  # --bf16 true overrides
        (NATIVE, True, False, False),  # --bf16 false overrides
    ],
)
def test_the_loading_machine_decides_and_the_log_says_so(
    bf16_run: Path,
    fp32_run: Path,
    flags: tuple[str, ...],
    trained: bool,
    setting: bool | str,
    expected: bool,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _on(monkeypatch, flags)
    run = bf16_run if trained else fp32_run
    with caplog.at_level(logging.INFO, logger=precision.__name__):
        model = load_inference_model(run, bf16=setting)
    assert model.scorer.bf16 is expected  # type: ignore[union-attr]
    logged = [record.getMessage() for record in caplog.records if record.name == precision.__name__]
    assert logged == [f"{run}: {'bf16 autocast' if expected else 'fp32'} ({logged[0].split('(', 1)[1]}"]


def test_a_bf16_run_on_a_cpu_without_native_bf16_tags_as_its_onnx_export(
    bf16_run: Path, tiny_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The torch and the ONNX backend of one run: the same tags, since both now run in fp32 there."""
    _on(monkeypatch, EMULATED)
    words = [s.words for split in ("valid", "test") for s in read_split(tiny_data, split, DataConfig())]
    torch_tags = tag_words(load_inference_model(bf16_run, backend="torch"), words).tags
    onnx_tags = tag_words(load_inference_model(bf16_run, backend="onnx", threads=1), words).tags
    assert any(tag != "O" for tags in torch_tags for tag in tags)
    assert torch_tags == onnx_tags


def test_bf16_true_is_refused_where_the_model_runs_in_fp32_only(bf16_run: Path) -> None:
    with pytest.raises(UserError, match="an ONNX graph runs in fp32"):
        load_inference_model(bf16_run, backend="onnx", bf16=True)


def test_the_cli_takes_bf16(
    bf16_run: Path, tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    predict = ["-q", "predict", "--model", str(bf16_run), "--text", "Maria Okafor flew to Lisbon ."]
    assert main([*predict, "--bf16", "false"]) == 0
    evaluate = ["-q", "evaluate", "--model", str(bf16_run), "--data", str(tiny_data), "--bootstrap-samples", "10"]
    assert main([*evaluate, "--output", str(tmp_path / "eval"), "--bf16", "true"]) == 0
    capsys.readouterr()
    assert main([*predict, "--backend", "onnx", "--bf16", "true"]) == 2
    assert "an ONNX graph runs in fp32" in capsys.readouterr().err
