"""Time `write_report` on a prediction set the size of CoNLL-2003 test (target: under 60 s on 2 cores).

    python bench/report_speed.py                          # synthetic: 3,453 sentences, 46,435 words
    python bench/report_speed.py --predictions FILE       # a real `word gold pred` file

The synthetic set has CoNLL-2003 test's shape (231 documents, about 5,600 entities of four types) and a
system that gets about 90% of entities right, with every kind of error, so that every part of the
report has work to do. Prints the seconds taken; the report is written to a temporary folder.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

from bertner.data.conll import Sentence
from bertner.evaluation.predictions import PredictionSet, read_predictions
from bertner.evaluation.report.write import write_report

SENTENCES, WORDS, DOCUMENTS = 3453, 46435, 231
TYPES = ("LOC", "MISC", "ORG", "PER")


def _entity_tags(rng: random.Random, length: int) -> list[str]:
    """Gold IOB2 tags with about one entity every eight words."""
    tags = ["O"] * length
    position = 0
    while position < length:
        if rng.random() < 0.12:
            size = min(rng.choice((1, 1, 1, 2, 2, 3)), length - position)
            entity_type = rng.choice(TYPES)
            tags[position : position + size] = [f"B-{entity_type}"] + [f"I-{entity_type}"] * (size - 1)
            position += size + 1
        else:
            position += 1
    return tags


def _noisy(rng: random.Random, gold: list[str]) -> list[str]:
    """A prediction: most words copied, with type swaps, boundary slips, misses and spurious entities."""
    predicted = list(gold)
    for index, tag in enumerate(gold):
        roll = rng.random()
        if tag.startswith("B-") and roll < 0.04:
            swapped = f"-{rng.choice(TYPES)}"
            for j in range(index, len(gold)):
                if j > index and not gold[j].startswith("I-"):
                    break
                predicted[j] = gold[j][0] + swapped
        elif tag.startswith("B-") and roll < 0.07:
            predicted[index] = "O"
        elif tag == "O" and roll < 0.01:
            predicted[index] = f"B-{rng.choice(TYPES)}"
        elif tag.startswith("I-") and roll < 0.05:
            predicted[index] = "O"
    return predicted


def synthetic(seed: int = 0) -> PredictionSet:
    """A deterministic prediction set with CoNLL-2003 test's numbers of sentences, words and documents."""
    rng = random.Random(seed)
    lengths = [1] * SENTENCES
    for _ in range(WORDS - SENTENCES):
        lengths[rng.randrange(SENTENCES)] += 1
    vocabulary = [f"Word{i}" for i in range(5000)]
    sentences, predicted = [], []
    for index, length in enumerate(lengths):
        document = index * DOCUMENTS // SENTENCES
        starts = index == 0 or document != (index - 1) * DOCUMENTS // SENTENCES
        gold = _entity_tags(rng, length)
        words = tuple(rng.choice(vocabulary) for _ in range(length))
        sentences.append(Sentence(words, tuple(gold), document, starts, "synthetic", index + 1))
        predicted.append(tuple(_noisy(rng, gold)))
    return PredictionSet(tuple(sentences), tuple(predicted))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--predictions", type=Path, help="a `word gold pred` file instead of synthetic data")
    parser.add_argument("--repeat", type=int, default=1, help="time this many reports and print each")
    args = parser.parse_args()
    pred = read_predictions(args.predictions) if args.predictions else synthetic()
    print(f"{len(pred.sentences)} sentences, {pred.words} words")
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.repeat):
            started = time.perf_counter()
            files = write_report(pred, Path(folder) / "report")
            print(f"write_report: {time.perf_counter() - started:.2f} s ({len(files.all)} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
