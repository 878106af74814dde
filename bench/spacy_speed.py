"""Words per second: the spaCy component (`nlp.pipe` on spacy.blank("en") + the bertner pipe) against the Predictor
(`bertner predict`'s path, in process) on the same texts and model.

    python bench/spacy_speed.py --model runs/spacy-bench --conll /work/shared/data/conll2003/test.txt --sentences 1000

Each text is one CoNLL sentence, its words joined by spaces; words/s counts the CoNLL words. The model is loaded and
warmed up once before timing; each measurement is repeated (`--repeats`, alternating which goes first). On a busy
machine wall-clock time says more about the neighbours than about the code, so the figure compared is words per
CPU-second of this process (one torch thread by default, the lowest of the repeats); wall-clock medians are printed
too. The component's time includes spaCy's tokenizer and the alignment of bertner's offsets onto its tokens.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import spacy
import torch

from bertner.data.conll import read_conll
from bertner.inference.predictor import Predictor


def _timed(run: Callable[[], object]) -> tuple[float, float]:
    """Wall-clock and CPU seconds of `run()` (CPU: this process's, all its threads)."""
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--conll", type=Path, required=True)
    p.add_argument("--sentences", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=8, help="windows per forward pass, for both")
    p.add_argument("--pipe-batch", type=int, default=256, help="docs per nlp.pipe batch (one Predictor call each)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1: CPU time close to wall time)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    sentences = read_conll(args.conll)[: args.sentences]
    texts = [" ".join(sentence.words) for sentence in sentences]
    words = sum(len(sentence.words) for sentence in sentences)
    predictor = Predictor.load(args.model, batch_size=args.batch_size)
    nlp = spacy.blank("en")
    component = nlp.add_pipe("bertner", config={"model": args.model, "batch_size": args.batch_size})
    component._predictor = predictor  # the same loaded model for both
    predictor.predict(texts[:32])  # warm-up
    list(nlp.pipe(texts[:32]))

    runs = {
        "predictor": lambda: predictor.predict(texts),
        "spacy": lambda: list(nlp.pipe(texts, batch_size=args.pipe_batch)),
    }
    wall: dict[str, list[float]] = {name: [] for name in runs}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    for repeat in range(args.repeats):
        for name in sorted(runs, reverse=repeat % 2 == 1):  # alternate which goes first
            seconds = _timed(runs[name])
            wall[name].append(round(seconds[0], 2))
            cpu[name].append(round(seconds[1], 2))
    best_cpu = {name: min(values) for name, values in cpu.items()}
    result = {
        "command": " ".join(["python", *sys.argv]),
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads",
        "spacy": spacy.__version__,
        "texts": len(texts),
        "words": words,
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "words_per_cpu_s": {name: round(words / value, 1) for name, value in best_cpu.items()},
        "words_per_wall_s_median": {name: round(words / statistics.median(v), 1) for name, v in wall.items()},
        "spacy_over_predictor_cpu": round(best_cpu["spacy"] / best_cpu["predictor"], 3),
        "component_counts": dict(component.counts),
    }
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
