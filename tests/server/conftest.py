"""Server fixtures: a predictor with known entities, and the tiny random tagger as an oracle."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bertner.inference.model import InferenceModel
from bertner.inference.predictor import Predictor
from bertner.model.build import LoadedModel, build_tagger
from bertner.model.store import save_model
from tiny_models import built_run_config, plain_model_config

# serving.py imports FastAPI: it is imported in the fixtures, so that without the serve extra each test module
# skips itself (pytest.importorskip at its top) instead of this conftest failing to load.


@pytest.fixture(scope="module")
def keyword_predictor(tiny_bert: Path) -> Predictor:
    from serving import keyword_model

    return Predictor(keyword_model(tiny_bert))


def _random_tagger(tiny_bert: Path) -> LoadedModel:
    """The tiny tagger with a large random head: a mix of entities that only the Predictor itself can tell."""
    from serving import LABELS

    model_config = plain_model_config(tiny_bert)
    torch.manual_seed(0)
    tagger, tokenizer = build_tagger(model_config, LABELS)
    with torch.no_grad():
        tagger.classifier.weight.normal_(std=3.0)
    return LoadedModel(tagger.eval(), tokenizer, LABELS, built_run_config(model_config))


@pytest.fixture(scope="module")
def random_predictor(tiny_bert: Path) -> Predictor:
    return Predictor(InferenceModel.from_loaded(_random_tagger(tiny_bert)), batch_size=4)


@pytest.fixture(scope="session")
def tiny_run(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The random tagger saved as a run folder, as `bertner train` leaves one."""
    folder = tmp_path_factory.mktemp("tiny-run")
    save_model(_random_tagger(tiny_bert), folder)
    return folder
