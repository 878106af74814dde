"""A simulated active-learning loop on a labelled corpus: does choosing by uncertainty beat choosing at random?

Per seed: `--initial` sentences drawn at random from the training split are labelled, and one model is trained on
them (round 0, shared by every strategy). Then, for each strategy, `--rounds` rounds: the round's model scores
the rest of the training split (the pool), `bertner select`'s ranking and near-duplicate rule choose `--step`
more (bertner.selection: each sentence is one text), their gold labels are revealed, and a model is trained
afresh on all labelled so far. Every model is bertner's default setting (MiniLM-L6, a CRF, word-shape
features) trained with `train_model`, picks its epoch on the valid split and is scored on the test split with
conlleval's rules. `random` draws from the pool with a seeded shuffle; it is always run, as the baseline.
`--random-sizes` trains random further, at larger sizes, to say how many random sentences match the best
strategy (by linear interpolation of random's mean curve).

Each row is appended to rows.jsonl as it is made (a killed run keeps what it did). At the end: results.json
(every round's size, words labelled, test F1 and timings), table.md (test F1 and words labelled per size per
strategy, mean over seeds; where random is matched) and active_learning.png; it prints the cost of the run
before it starts and, at the end, the cost of the full-size run (issue 22) at the pace measured here.

Full size (issue 22; 47 min for the 2 seeds on a 2-core AVX-512 VM, 2026-12-06, docs/results.md):

    python bench/active_learning.py --data /work/shared/data/conll2003 --output runs/al-full --seeds 42 43

Two runs' results as one table and plot (the first run's row wins where both have one, e.g. random and the
initial round, which a seed makes the same in both):

    python bench/active_learning.py --merge runs/al-full/results.json runs/al-total/results.json --output OUT

A tiny check that it works:

    python bench/active_learning.py --data /work/shared/data/conll2003 --output runs/al-tiny \\
        --initial 50 --step 50 --rounds 2 --epochs 1 --limit-eval 200 --limit-train 1000 --seeds 42
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np

from bertner.config import Config
from bertner.config_files import load_config
from bertner.data.conll import Sentence
from bertner.data.corpus import Corpus, load_corpus
from bertner.inference.evaluate import evaluate_sentences
from bertner.inference.load import load_inference_model
from bertner.inference.probabilities import word_probabilities
from bertner.selection.dedup import choose
from bertner.selection.uncertainty import MODEL_STRATEGIES, ranking, text_uncertainties
from bertner.training.trainer import train_model


def plan(args: argparse.Namespace, config: Config, pool: int) -> dict[str, int]:
    """What the run costs: trainings, optimizer steps, and pool sentences scored."""
    strategies = len(args.strategies) + 1
    sizes = [args.initial] + [args.initial + args.step * r for r in range(1, args.rounds + 1)] * strategies
    sizes += list(getattr(args, "random_sizes", []))
    steps = sum(math.ceil(size / config.train.batch_size) * config.train.epochs for size in sizes)
    scored = sum(pool - args.initial - args.step * r for r in range(args.rounds)) * len(args.strategies)
    return {
        "trainings": len(sizes) * len(args.seeds),
        "steps": steps * len(args.seeds),
        "scored": scored * len(args.seeds),
    }


def train_and_test(config: Config, labelled: list[Sentence], corpus: Corpus, seed: int, keep: Path) -> dict:
    """Train on `labelled` into `keep` (a temporary folder), score test; the model stays in `keep` for selection."""
    config = replace(config, train=replace(config.train, seed=seed))
    started = time.monotonic()
    train_corpus = replace(corpus, train=tuple(labelled))
    result = train_model(config, train_corpus, keep, progress=False)
    trained = time.monotonic() - started
    model = load_inference_model(str(keep))
    started = time.monotonic()
    evaluation = evaluate_sentences(model, corpus.test)
    tested = time.monotonic() - started
    steps = json.loads((keep / "metrics.jsonl").read_text().splitlines()[-1])["step"]
    return {
        "size": len(labelled),
        "words": sum(len(sentence.words) for sentence in labelled),
        "test_f1": evaluation.scores.overall.f1,
        "valid_f1": result.best_valid_f1,
        "train_seconds": round(trained, 1),
        "steps": steps,
        "test_seconds": round(tested, 2),
        "test_sentences": len(corpus.test),
    }


def choose_next(model_dir: Path, strategy: str, pool: list[int], train: tuple[Sentence, ...], step: int, seed: int):
    """Indices (into `train`) of the next `step` sentences chosen from `pool` by `strategy`, and the seconds spent."""
    started = time.monotonic()
    texts = [" ".join(train[i].words) for i in pool]
    if strategy == "random":
        order = ranking(None, len(pool), "random", seed)
    else:
        model = load_inference_model(str(model_dir))
        words = [train[i].words for i in pool]
        found = word_probabilities(model, words, documents=list(range(len(pool))))
        scores = text_uncertainties(found.sentences(), list(range(len(pool))), len(pool), strategy)
        order = ranking(scores, len(pool), strategy, seed)
    chosen = choose(order, texts, step)
    return [pool[i] for i in chosen.kept], time.monotonic() - started


def _rows(results: list[dict], strategy: str, size: int) -> list[dict]:
    return [r for r in results if r["size"] == size and r["strategy"] in (strategy, "initial")]


def table(results: list[dict], strategies: list[str]) -> str:
    """Test F1 (mean ± std over seeds) and mean words labelled, per size and strategy; then, for each strategy,
    how many random sentences match its F1 at its largest size."""
    sizes = sorted({row["size"] for row in results})
    header = "| labelled sentences | " + " | ".join(f"{s}: test F1 | {s}: words" for s in strategies) + " |"
    lines = [header, "|" + "---|" * (2 * len(strategies) + 1)]
    for size in sizes:
        cells = []
        for strategy in strategies:
            rows = _rows(results, strategy, size)
            f1s = [r["test_f1"] * 100 for r in rows]
            words = [r["words"] for r in rows if "words" in r]  # runs before 2026-12-06 16:20 did not record it
            cells.append(f"{np.mean(f1s):.2f} ± {np.std(f1s):.2f} (n={len(f1s)})" if f1s else "")
            cells.append(f"{np.mean(words):,.0f}" if words else ("not recorded" if rows else ""))
        lines.append(f"| {size} | " + " | ".join(cells) + " |")
    random_sizes = [size for size in sizes if _rows(results, "random", size)]
    random_f1 = [np.mean([r["test_f1"] * 100 for r in _rows(results, "random", size)]) for size in random_sizes]
    lines.append("")
    for strategy in strategies[1:]:
        ran = [size for size in sizes if any(r["strategy"] == strategy for r in _rows(results, strategy, size))]
        if not ran:
            continue
        largest = max(ran)
        f1 = float(np.mean([r["test_f1"] * 100 for r in _rows(results, strategy, largest)]))
        lines.append(f"- {strategy} at {largest}: {f1:.2f}; {matched(random_sizes, random_f1, f1)}")
    return "\n".join(lines) + "\n"


def matched(sizes: list[int], f1s: list[float], target: float) -> str:
    """Where random's mean curve (`f1s` at `sizes`, ascending) first reaches `target`, linearly interpolated."""
    for index in range(1, len(sizes)):
        if f1s[index] >= target:
            low, high = f1s[index - 1], f1s[index]
            share = (target - low) / (high - low) if high > low else 1.0
            at = sizes[index - 1] + share * (sizes[index] - sizes[index - 1])
            return f"random matches it at about {at:,.0f} sentences"
    return f"random does not reach it by {sizes[-1]:,} sentences ({f1s[-1]:.2f})"


def plot(results: list[dict], strategies: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    for strategy in strategies:
        rows = [r for r in results if r["strategy"] in (strategy, "initial")]
        sizes = sorted({r["size"] for r in rows})
        means = [np.mean([r["test_f1"] * 100 for r in rows if r["size"] == s]) for s in sizes]
        axis.plot(sizes, means, marker="o", label=strategy, linestyle="--" if strategy == "random" else "-")
    axis.set_xlabel("labelled training sentences")
    axis.set_ylabel("test F1 (mean over seeds)")
    axis.legend()
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def merge(paths: list[Path], output: Path) -> int:
    """Write table.md and active_learning.png for the rows of several runs' results.json."""
    results: list[dict] = []
    seen: set[tuple] = set()
    for path in paths:
        for row in json.loads(path.read_text(encoding="utf-8"))["results"]:
            key = (row["seed"], row["strategy"], row["round"])
            if key not in seen:
                seen.add(key)
                results.append(row)
    named = {row["strategy"] for row in results} - {"initial", "random"}
    strategies = ["random", *[s for s in MODEL_STRATEGIES if s in named]]
    output.mkdir(parents=True, exist_ok=True)
    text = table(results, strategies)
    (output / "table.md").write_text(text, encoding="utf-8")
    plot(results, strategies, output / "active_learning.png")
    print(text)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="a corpus folder with train/valid/test")
    parser.add_argument("--merge", nargs="+", type=Path, help="results.json files to merge into one table and plot")
    parser.add_argument("--output", required=True, type=Path)
    parser.add_argument("--config", type=Path, help="a training config (default: bertner's defaults, MiniLM-L6)")
    parser.add_argument("--initial", type=int, default=500)
    parser.add_argument("--step", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--strategies", nargs="+", default=list(MODEL_STRATEGIES), choices=MODEL_STRATEGIES)
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 43])
    parser.add_argument(
        "--random-sizes",
        nargs="*",
        type=int,
        default=[],
        help="more sizes (beyond the last round) to train random at, to find where it matches the best strategy",
    )
    parser.add_argument("--epochs", type=int, help="epochs per training (default: the config's)")
    parser.add_argument("--limit-eval", type=int, help="only the first N valid and test sentences")
    parser.add_argument(
        "--limit-train", type=int, help="only the first N training sentences (the initial set and pool)"
    )
    args = parser.parse_args()
    if args.merge:
        return merge(args.merge, args.output)
    if args.data is None:
        parser.error("--data is needed to run the loop")

    overrides = {
        "train": {"epochs": args.epochs},
        "data": {"limit_eval": args.limit_eval, "limit_train": args.limit_train},
    }
    config = load_config(args.config, overrides)
    corpus = load_corpus(args.data, config.data)
    cost = plan(args, config, len(corpus.train))
    print(f"this run: {json.dumps(cost)} (trainings, optimizer steps, pool sentences scored)", flush=True)
    strategies = ["random", *args.strategies]
    args.output.mkdir(parents=True, exist_ok=True)
    results: list[dict] = []
    log = (args.output / "rows.jsonl").open("a", encoding="utf-8")

    def record(row: dict) -> None:
        results.append(row)
        line = json.dumps(row)
        print(line, flush=True)
        log.write(line + "\n")
        log.flush()

    work = Path(tempfile.mkdtemp(prefix="al-", dir=args.output))
    try:
        for seed in args.seeds:
            initial = random.Random(seed).sample(range(len(corpus.train)), args.initial)
            first = work / f"seed{seed}-initial"
            row = train_and_test(config, [corpus.train[i] for i in initial], corpus, seed, first)
            record({"seed": seed, "strategy": "initial", "round": 0, **row})
            for strategy in strategies:
                labelled, model_dir = list(initial), first
                for round_number in range(1, args.rounds + 1):
                    chosen_set = set(labelled)
                    pool = [i for i in range(len(corpus.train)) if i not in chosen_set]
                    picked, seconds = choose_next(
                        model_dir, strategy, pool, corpus.train, args.step, seed * 1000 + round_number
                    )
                    labelled += picked
                    here = work / f"seed{seed}-{strategy}-{round_number}"
                    row = train_and_test(config, [corpus.train[i] for i in labelled], corpus, seed, here)
                    record(
                        {
                            "seed": seed,
                            "strategy": strategy,
                            "round": round_number,
                            "select_seconds": round(seconds, 1),
                            "pool": len(pool),
                            **row,
                        }
                    )
                    if model_dir != first:
                        shutil.rmtree(model_dir, ignore_errors=True)
                    model_dir = here
                if model_dir != first:
                    shutil.rmtree(model_dir, ignore_errors=True)
                if strategy == "random":
                    for size in sorted(args.random_sizes):
                        chosen_set = set(labelled)
                        pool = [i for i in range(len(corpus.train)) if i not in chosen_set]
                        order = ranking(None, len(pool), "random", seed * 1000 + size)
                        labelled += [pool[i] for i in order[: size - len(labelled)]]
                        here = work / f"seed{seed}-random-{size}"
                        row = train_and_test(config, [corpus.train[i] for i in labelled], corpus, seed, here)
                        record({"seed": seed, "strategy": "random", "round": f"extra-{size}", **row})
                        shutil.rmtree(here, ignore_errors=True)
            shutil.rmtree(first, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        log.close()

    # Paces measured here: evaluation (test scoring) per sentence; a training step with its per-epoch valid
    # evaluation taken out; pool scoring per sentence. The full run's cost is extrapolated from them.
    eval_pace = sum(r["test_seconds"] for r in results) / sum(r["test_sentences"] for r in results)
    valid_seconds = sum(config.train.epochs * len(corpus.valid) * eval_pace for _ in results)
    step_pace = max(0.0, sum(r["train_seconds"] for r in results) - valid_seconds) / sum(r["steps"] for r in results)
    scoring = [r for r in results if r["strategy"] not in ("initial", "random")]
    score_pace = sum(r["select_seconds"] for r in scoring) / max(1, sum(r["pool"] for r in scoring))
    full_args = argparse.Namespace(initial=500, step=500, rounds=3, strategies=list(MODEL_STRATEGIES), seeds=[42, 43])
    full_config = load_config(args.config, {})
    whole = load_corpus(args.data, full_config.data)
    full = plan(full_args, full_config, len(whole.train))
    evaluated = full["trainings"] * (full_config.train.epochs * len(whole.valid) + len(whole.test))
    full_seconds = full["steps"] * step_pace + evaluated * eval_pace + full["scored"] * score_pace
    full_hours = full_seconds / 3600
    flags = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    report = {
        "command": " ".join(["python", *sys.argv]),
        "date": date.today().isoformat(),
        "machine": " ".join(sorted({f for f in ("avx512_bf16", "avx2") if f in flags})),
        "this_run": cost,
        "seconds_per_step": round(step_pace, 3),
        "seconds_per_evaluated_sentence": round(eval_pace, 5),
        "seconds_per_pool_sentence": round(score_pace, 5),
        "full_size": {**full, "epochs": full_config.train.epochs, "estimated_hours": round(full_hours, 1)},
        "results": results,
    }
    (args.output / "results.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    text = table(results, strategies)
    (args.output / "table.md").write_text(text, encoding="utf-8")
    plot(results, strategies, args.output / "active_learning.png")
    print(text)
    print(
        f"full size (500 + 3 x 500, {len(MODEL_STRATEGIES)} strategies + random, 2 seeds, "
        f"{full_config.train.epochs} epochs): {full['trainings']} trainings, {full['steps']:,} steps, "
        f"{full['scored']:,} pool sentences scored, {evaluated:,} sentences evaluated: about {full_hours:.1f} h at "
        f"this run's pace ({step_pace:.2f} s/step, {eval_pace * 1000:.1f} ms per evaluated sentence, "
        f"{score_pace * 1000:.1f} ms per pool sentence)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
