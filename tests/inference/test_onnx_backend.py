"""The onnxruntime backend's pieces that need no export: the CRF's JSON form, and the missing-extra error."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from bertner.decoding.chain import LinearChain
from bertner.decoding.viterbi import viterbi
from bertner.inference.onnx.runtime import import_onnxruntime, read_crf
from bertner.model.crf import CRF

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def _random_crf() -> CRF:
    torch.manual_seed(0)
    crf = CRF.from_labels(TAGS)
    with torch.no_grad():
        crf.transitions.normal_(std=2.0)
        crf.start_transitions.normal_()
        crf.end_transitions.normal_()
    return crf


def test_crf_json_read_without_torch_decodes_as_the_torch_crf(tmp_path: Path) -> None:
    crf = _random_crf()
    path = tmp_path / "crf.json"
    path.write_text(json.dumps(crf.to_chain().to_dict()), encoding="utf-8")
    chain = read_crf(path)
    assert isinstance(chain, LinearChain)
    for mine, theirs in zip(
        (chain.start, chain.end, chain.transitions, chain.allowed, chain.allowed_start),
        (crf.start_transitions, crf.end_transitions, crf.transitions, crf.allowed, crf.allowed_start),
        strict=True,
    ):
        assert np.array_equal(mine, theirs.detach().numpy())
    # (batch, seq_len, num_tags), the last two rows padded
    emissions = torch.randn(4, 7, len(TAGS))
    mask = torch.ones(4, 7, dtype=torch.bool)
    mask[2:, 5:] = False
    lengths = mask.sum(1).tolist()
    paths = viterbi(chain, [emissions[row, :length].numpy() for row, length in enumerate(lengths)])
    assert [path.tolist() for path in paths] == crf.decode(emissions, mask)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("transitions"), "'transitions'"),
        (lambda d: d.update(allowed=[[True]]), r"allowed must be a bool array of shape \(5, 5\)"),
        (lambda d: d.update(end_transitions=[0.0]), r"crf.json: .*end must be a float array of shape \(5,\)"),
    ],
)
def test_a_damaged_crf_description_is_refused_naming_the_file(
    change: Callable[[dict[str, Any]], object], message: str, tmp_path: Path
) -> None:
    values = CRF.from_labels(TAGS).to_chain().to_dict()
    change(values)
    path = tmp_path / "crf.json"
    path.write_text(json.dumps(values), encoding="utf-8")
    with pytest.raises(ValueError, match=message) as raised:
        read_crf(path)
    assert str(path) in str(raised.value)


def test_missing_onnxruntime_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ImportError, match=r"pip install 'bertner\[runtime\]'"):
        import_onnxruntime()
