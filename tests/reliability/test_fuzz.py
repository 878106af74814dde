"""The fuzzers of tests/reliability/bertner_fuzzers.py, a few hundred examples each (bench/fuzz.py runs 10,000).

$BERTNER_FUZZ_EXAMPLES sets the number of examples per fuzzer (default 200).
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import torch
from bertner_fuzzers import FUZZERS, TEXTS, Fuzzer, check_prediction
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from bertner.inference.predictor import Predictor
from bertner.labels import LabelSet
from bertner.model.build import LoadedModel, build_tagger
from bertner.model.store import save_model
from tiny_models import built_run_config, plain_model_config

LABELS = LabelSet.from_types(["LOC", "MISC", "ORG", "PER"])

EXAMPLES = int(os.environ.get("BERTNER_FUZZ_EXAMPLES", "200"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=timedelta(seconds=10),  # a hang fails the example
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


MODELS = ("plain", "default")
"""The plain model (a linear head) and the default one users get (a CRF over words and word-shape features)."""


@pytest.fixture(scope="module")
def predictors(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Predictor]:
    """Each tiny model with its random head (and CRF transitions) scaled up, so that its tags vary word to word."""
    loaded = {}
    for name in MODELS:
        model_config = plain_model_config(tiny_bert, crf=name == "default", case_features=name == "default")
        torch.manual_seed(0)
        tagger, tokenizer = build_tagger(model_config, LABELS)
        with torch.no_grad():
            torch.manual_seed(1)
            tagger.classifier.weight.normal_(0, 5.0)
            if tagger.crf is not None:
                tagger.crf.transitions.normal_(0, 2.0)
        run_dir = tmp_path_factory.mktemp(f"fuzz-{name}")
        save_model(LoadedModel(tagger.eval(), tokenizer, LABELS, built_run_config(model_config)), run_dir)
        loaded[name] = Predictor.load(run_dir, batch_size=8)
    return loaded


def _fuzz(fuzzer: Fuzzer, context: Any) -> None:
    """Run `fuzzer` for EXAMPLES inputs, then make sure it reached every one of its outcomes: a fuzzer whose inputs
    all take one path (all refused, all without entities) would test less than it claims. An outcome the run
    happened to miss is searched for before the test fails."""
    reached: set[str] = set()

    @SETTINGS
    @given(fuzzer.strategy)
    def run(value: Any) -> None:
        reached.add(fuzzer.check(value, context))

    run()
    assert reached <= set(fuzzer.outcomes), f"{fuzzer.name}: outcomes not declared: {reached - set(fuzzer.outcomes)}"
    for outcome in sorted(set(fuzzer.outcomes) - reached):
        find(fuzzer.strategy, lambda value, o=outcome: fuzzer.check(value, context) == o, settings=SETTINGS)


def test_there_are_four_fuzzers_with_two_outcomes_or_more() -> None:
    assert [fuzzer.name for fuzzer in FUZZERS] == ["conll-bytes", "conll-schemes", "raw-text-prediction", "config"]
    assert all(len(fuzzer.outcomes) >= 2 for fuzzer in FUZZERS)


@pytest.mark.parametrize("fuzzer", [f for f in FUZZERS if f.name != "raw-text-prediction"], ids=lambda f: f.name)
def test_input_fuzzer(fuzzer: Fuzzer) -> None:
    _fuzz(fuzzer, None)


@pytest.mark.parametrize("model", MODELS)
def test_raw_text_prediction_fuzzer(predictors: dict[str, Predictor], model: str) -> None:
    (fuzzer,) = [f for f in FUZZERS if f.name == "raw-text-prediction"]
    _fuzz(fuzzer, predictors[model])


def test_raw_text_prediction_of_100k_character_texts(predictors: dict[str, Predictor]) -> None:
    predictor = predictors["plain"]

    @settings(SETTINGS, max_examples=3, deadline=timedelta(seconds=60))
    @given(st.lists(TEXTS.filter(lambda texts: any(texts)), min_size=1, max_size=1))
    def run(pieces: list[list[str]]) -> None:
        piece = " ".join(text for text in pieces[0] if text) + "\n"
        huge = (piece * (100_000 // len(piece) + 1))[:100_000]
        assert check_prediction([huge, "", " "], predictor)

    run()
