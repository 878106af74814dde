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
from bertner_fuzzers import FUZZERS, TEXTS, check_prediction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bertner.inference.predictor import Predictor
from bertner.model.store import save_model

EXAMPLES = int(os.environ.get("BERTNER_FUZZ_EXAMPLES", "200"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=timedelta(seconds=10),  # a hang fails the example
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


@pytest.fixture(scope="module")
def predictor(tiny_models: Any, tmp_path_factory: pytest.TempPathFactory) -> Predictor:
    """The tiny model with a random head scaled up, so that its tags vary from word to word."""
    model = tiny_models(False)
    with torch.no_grad():
        torch.manual_seed(1)
        model.tagger.classifier.weight.normal_(0, 5.0)
    run_dir = tmp_path_factory.mktemp("fuzz-model")
    save_model(model, run_dir)
    return Predictor.load(run_dir, batch_size=8)


@pytest.mark.parametrize("fuzzer", [f for f in FUZZERS if f.name != "raw-text-prediction"], ids=lambda f: f.name)
def test_input_fuzzer(fuzzer: Any) -> None:
    @SETTINGS
    @given(fuzzer.strategy)
    def run(value: Any) -> None:
        fuzzer.check(value, None)

    run()


def test_raw_text_prediction_fuzzer(predictor: Predictor) -> None:
    @SETTINGS
    @given(TEXTS)
    def run(texts: list[str]) -> None:
        check_prediction(texts, predictor)

    run()


def test_raw_text_prediction_of_100k_character_texts(predictor: Predictor) -> None:
    @settings(SETTINGS, max_examples=3, deadline=timedelta(seconds=60))
    @given(st.lists(TEXTS.filter(lambda texts: any(texts)), min_size=1, max_size=1))
    def run(pieces: list[list[str]]) -> None:
        piece = " ".join(text for text in pieces[0] if text) + "\n"
        huge = (piece * (100_000 // len(piece) + 1))[:100_000]
        assert check_prediction([huge, "", " "], predictor)

    run()


def test_the_fuzzers_reach_both_outcomes_of_each_input_path(tmp_path: Path) -> None:
    """A fuzzer whose inputs all fail (or all pass) would test less than it claims: each must see both."""
    from hypothesis import find

    for fuzzer in FUZZERS:
        if fuzzer.name in ("conll-bytes", "config"):
            find(fuzzer.strategy, lambda value, f=fuzzer: f.check(value, None) == "error", settings=SETTINGS)
            find(fuzzer.strategy, lambda value, f=fuzzer: f.check(value, None) != "error", settings=SETTINGS)
