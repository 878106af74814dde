"""The onnxruntime backend's pieces that need no export: the CRF's JSON form, and the missing-extra error."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import pytest
import torch

from bertner.inference.onnx.runtime import crf_from_dict, crf_to_dict, import_onnxruntime
from bertner.model.crf import CRF

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def test_crf_survives_its_json_form_exactly() -> None:
    torch.manual_seed(0)
    crf = CRF.from_labels(TAGS)
    with torch.no_grad():
        crf.transitions.normal_(std=2.0)
        crf.start_transitions.normal_()
        crf.end_transitions.normal_()
    copy = crf_from_dict(json.loads(json.dumps(crf_to_dict(crf))), "crf.json")
    for name in ("start_transitions", "end_transitions", "transitions", "allowed", "allowed_start"):
        assert torch.equal(getattr(copy, name), getattr(crf, name))
    # (batch, seq_len, num_tags), the last two rows padded
    emissions = torch.randn(4, 7, len(TAGS))
    mask = torch.ones(4, 7, dtype=torch.bool)
    mask[2:, 5:] = False
    assert copy.decode(emissions, mask) == crf.decode(emissions, mask)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("transitions"), "'transitions'"),
        (lambda d: d.update(allowed=[[True]]), "allowed must be a bool tensor"),
        (lambda d: d.update(end_transitions=[0.0]), r"crf.json: .*end_transitions has shape \(1,\), expected \(5,\)"),
    ],
)
def test_a_damaged_crf_description_is_refused_naming_the_file(
    change: Callable[[dict[str, Any]], object], message: str
) -> None:
    values = crf_to_dict(CRF.from_labels(TAGS))
    change(values)
    with pytest.raises(ValueError, match=message):
        crf_from_dict(values, "crf.json")


def test_missing_onnxruntime_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ImportError, match=r"pip install 'bertner\[onnx\]'"):
        import_onnxruntime()
