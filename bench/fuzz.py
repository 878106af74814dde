"""Every fuzzer of tests/reliability/bertner_fuzzers.py, many examples each: counts of each outcome, failures.

    nice -n 10 python bench/fuzz.py --examples 10000
    python bench/fuzz.py --examples 2000 --only conll-bytes config

The fuzzers are the CI tests' (tests/reliability/test_fuzz.py runs a few hundred examples of each); here
each runs `--examples` times (hypothesis's generate phase; a failure is shrunk and printed). Raw-text
prediction runs on a tiny random BERT with a random head (the CI fixture's), so that its tags vary. The
100,000-character texts run `--long-examples` times: each takes seconds. Exit code 1 if any fuzzer failed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
from hypothesis import HealthCheck, given, settings

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "reliability"), str(ROOT / "tests")]

from bertner_fuzzers import FUZZERS, TEXTS, Fuzzer, check_prediction  # noqa: E402

from bertner.config import Config, ModelConfig  # noqa: E402
from bertner.inference.predictor import Predictor  # noqa: E402
from bertner.labels import LabelSet  # noqa: E402
from bertner.model.build import LoadedModel, build_tagger  # noqa: E402
from bertner.model.store import save_model  # noqa: E402
from tiny_models import write_tiny_bert  # noqa: E402


def _predictor(folder: Path) -> Predictor:
    encoder = write_tiny_bert(folder / "encoder")
    labels = LabelSet.from_types(["LOC", "MISC", "ORG", "PER"])
    torch.manual_seed(0)
    tagger, tokenizer = build_tagger(ModelConfig(encoder=str(encoder)), labels)
    with torch.no_grad():
        torch.manual_seed(1)
        tagger.classifier.weight.normal_(0, 5.0)
    save_model(
        LoadedModel(tagger.eval(), tokenizer, labels, Config(model=ModelConfig(encoder=str(encoder)))), folder / "run"
    )
    return Predictor.load(folder / "run", batch_size=8)


def _long_texts() -> Fuzzer:
    def check(pieces: list[str], predictor: Any) -> str:
        piece = " ".join(text for text in pieces if text) + "\n"
        return check_prediction([(piece * (100_000 // len(piece) + 1))[:100_000], "", " "], predictor)

    return Fuzzer(
        name="raw-text-100k-chars", strategy=TEXTS.filter(any), check=check, outcomes=("entities", "no entities")
    )


def run(fuzzer: Fuzzer, examples: int, context: Any) -> tuple[Counter[str], float, BaseException | None]:
    outcomes: Counter[str] = Counter()

    @settings(
        max_examples=examples,
        deadline=timedelta(seconds=60),
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(fuzzer.strategy)
    def property_holds(value: Any) -> None:
        outcomes[fuzzer.check(value, context)] += 1

    started = time.monotonic()
    try:
        property_holds()
    except Exception as error:  # a failing example: hypothesis has shrunk it and put it in the message
        return outcomes, time.monotonic() - started, error
    return outcomes, time.monotonic() - started, None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=10_000, help="examples per fuzzer")
    parser.add_argument("--long-examples", type=int, default=20, help="examples of 100,000-character texts")
    parser.add_argument("--only", nargs="*", help="run only these fuzzers")
    args = parser.parse_args()
    torch.set_num_threads(1)
    failed = False
    with tempfile.TemporaryDirectory() as scratch:
        predictor = _predictor(Path(scratch))
        plan = [(fuzzer, args.examples) for fuzzer in FUZZERS] + [(_long_texts(), args.long_examples)]
        print("| fuzzer | examples | outcomes | failures | seconds |\n|---|---|---|---|---|")
        for fuzzer, examples in plan:
            if args.only and fuzzer.name not in args.only:
                continue
            outcomes, seconds, error = run(fuzzer, examples, predictor)
            shown = ", ".join(f"{name} {count}" for name, count in sorted(outcomes.items()))
            print(
                f"| {fuzzer.name} | {sum(outcomes.values())} | {shown} | {0 if error is None else 1} | {seconds:.0f} |"
            )
            if error is not None:
                failed = True
                print(f"{fuzzer.name} FAILED:\n{error}", file=sys.stderr)
            sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
