"""Fixtures of the reliability tests (issue 12): one torch thread, and a tiny model saved in each layout."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from bertner.labels import LabelSet
from bertner.model.build import LoadedModel, build_tagger
from bertner.model.store import save_model
from tiny_models import built_run_config, plain_model_config

LABELS = LabelSet.from_types(["LOC", "MISC", "ORG", "PER"])


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> None:
    # The tiny model's ops take microseconds; with two threads on a busy machine each waited ~10 ms for a core.
    torch.set_num_threads(1)


def tiny_model(encoder: Path, case_features: bool = False) -> LoadedModel:
    """A tiny untrained tagger: the plain HF layout, or with case features the custom one."""
    model_config = plain_model_config(encoder, case_features=case_features)
    torch.manual_seed(0)
    tagger, tokenizer = build_tagger(model_config, LABELS)
    return LoadedModel(tagger.eval(), tokenizer, LABELS, built_run_config(model_config))


@pytest.fixture(scope="module")
def tiny_models(tiny_bert: Path) -> Callable[[bool], LoadedModel]:
    """`tiny_models(case_features)`: a new tiny untrained tagger each call."""
    return lambda case_features: tiny_model(tiny_bert, case_features)


@pytest.fixture(scope="module")
def saved_models(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A saved model of each layout, kept pristine: tests damage copies of them."""
    folders = {}
    for layout, case_features in (("plain", False), ("custom", True)):
        folders[layout] = tmp_path_factory.mktemp(f"saved-{layout}")
        save_model(tiny_model(tiny_bert, case_features), folders[layout])
    return folders
