"""An export loads as its manifest says it was made (issue 20, defect 2): a CRF export without its crf.json is
refused naming the file, not decoded word by word; a crf.json the manifest does not know of is refused too."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch

from bertner.cli import main
from bertner.errors import UserError
from bertner.inference.load import load_inference_model
from bertner.labels import LabelSet
from bertner.layout import CRF_FILE, EXPORT_MANIFEST
from bertner.model.build import LoadedModel, build_tagger
from bertner.model.store import save_model
from tiny_models import built_run_config, plain_model_config

LABELS = LabelSet.from_types(["LOC", "MISC", "ORG", "PER"])


@pytest.fixture(scope="module")
def crf_export(tiny_bert: Path, tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The export of a tiny untrained run with a CRF (and word-shape features), made through the CLI."""
    model_config = plain_model_config(tiny_bert, crf=True, case_features=True)
    torch.manual_seed(0)
    tagger, tokenizer = build_tagger(model_config, LABELS)
    run = tmp_path_factory.mktemp("crf-run")
    save_model(LoadedModel(tagger.eval(), tokenizer, LABELS, built_run_config(model_config)), run)
    export = tmp_path_factory.mktemp("crf-export") / "export"
    assert main(["-q", "export", "--model", str(run), "--data", str(tiny_data), "--output", str(export)]) == 0
    assert json.loads((export / EXPORT_MANIFEST).read_text(encoding="utf-8"))["crf"] is True
    return export


def test_a_crf_export_loads_with_its_crf(crf_export: Path) -> None:
    assert load_inference_model(crf_export).scorer.crf is not None


def test_a_crf_export_without_its_crf_json_is_refused_naming_the_file(
    crf_export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    damaged = tmp_path / "export"
    shutil.copytree(crf_export, damaged)
    (damaged / CRF_FILE).unlink()
    with pytest.raises(UserError, match=re.escape(str(damaged / CRF_FILE))):
        load_inference_model(damaged)
    capsys.readouterr()
    assert main(["-q", "predict", "--model", str(damaged), "--text", "Paris"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("bertner predict: error: ") and str(damaged / CRF_FILE) in line


def test_a_crf_json_the_manifest_does_not_name_is_refused(crf_export: Path, tmp_path: Path) -> None:
    damaged = tmp_path / "export"
    shutil.copytree(crf_export, damaged)
    manifest = json.loads((damaged / EXPORT_MANIFEST).read_text(encoding="utf-8"))
    (damaged / EXPORT_MANIFEST).write_text(json.dumps({**manifest, "crf": False}), encoding="utf-8")
    with pytest.raises(UserError, match=re.escape(str(damaged / CRF_FILE))):
        load_inference_model(damaged)
