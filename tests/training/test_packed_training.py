"""train.packing: training on packed rows is training on the padded batches, for less compute.

Oracle: the same training run without packing. With dropout off (the only randomness that depends on the
tensors' shapes), both runs must end with the same weights and the same valid scores.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import safetensors.torch
import torch

from bertner.config_files import load_config
from bertner.data.corpus import load_corpus
from bertner.model import tagger as tagger_module
from bertner.model.packing import encode_packed
from bertner.training.trainer import train_model


@pytest.fixture(scope="module")
def tiny_bert_without_dropout(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("no-dropout") / "bert"
    shutil.copytree(tiny_bert, folder)
    config = json.loads((folder / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def _train(encoder: Path, data: Path, run_dir: Path, packing: bool, case_features: bool) -> dict[str, torch.Tensor]:
    torch.set_num_threads(1)
    config = load_config(
        None,
        {
            "model": {"encoder": str(encoder), "classifier_dropout": 0.0, "case_features": case_features},
            "train": {"epochs": 2, "batch_size": 4, "lr": 1e-3, "group_by_length": False, "packing": packing},
        },
    )
    train_model(config, load_corpus(str(data), config.data), run_dir, progress=False)
    weights = next(run_dir.glob("*.safetensors"))
    return safetensors.torch.load_file(str(weights))


@pytest.mark.parametrize("case_features", [False, True])
def test_packed_training_ends_where_padded_training_does(
    tiny_bert_without_dropout: Path, tiny_data: Path, tmp_path: Path, case_features: bool
) -> None:
    packed = _train(tiny_bert_without_dropout, tiny_data, tmp_path / "packed", True, case_features)
    padded = _train(tiny_bert_without_dropout, tiny_data, tmp_path / "padded", False, case_features)
    assert packed.keys() == padded.keys()
    # Both moved away from the pretrained weights (lr 1e-3), to the same place.
    for name in packed:
        torch.testing.assert_close(packed[name], padded[name], atol=1e-4, rtol=1e-3, msg=name)
    history = [(tmp_path / side / "metrics.jsonl").read_text().splitlines() for side in ("packed", "padded")]
    scores = [[json.loads(line)["valid"]["f1"] for line in lines] for lines in history]
    assert scores[0] == pytest.approx(scores[1], abs=1e-6)


def test_training_packs_only_when_asked(
    tiny_bert: Path, tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    def spy(encoder: object, attention_mask: torch.Tensor, *args: object) -> torch.Tensor:
        calls.append(attention_mask.size(0))
        return encode_packed(encoder, attention_mask, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(tagger_module, "encode_packed", spy)
    for packing in (True, False):
        calls.clear()
        _train(tiny_bert, tiny_data, tmp_path / str(packing), packing, case_features=False)
        assert bool(calls) == packing
