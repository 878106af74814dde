"""Test F1 of bertner against HF's own recipe (bench/hf_recipe.py) over several seeds, same hyperparameters.

One seed's test F1 moves by a few tenths with the seed alone (docs/FIELD.md), so a single run of each side
says little about which trains better. This trains each side once per seed and prints the spread.

    # one run: appends a JSON line to the results file
    python bench/hf_parity.py run --recipe hf --seed 42 --results parity.jsonl
    python bench/hf_parity.py run --recipe bertner --seed 42 --results parity.jsonl
    python bench/hf_parity.py run --recipe bertner --config configs/paper-random-batches.toml \\
        --name bertner-random --seed 42 --results parity.jsonl
    # the table: valid and test F1 per seed, mean +- std per recipe, and each recipe's mean minus HF's
    python bench/hf_parity.py summary parity.jsonl

Each run takes the whole corpus by default (about 14-25 min per run on 2 CPU cores with MiniLM-L6; runs
in separate processes can share one GPU). Both sides get the same sentences, encoder, lr, batch size,
epochs, weight decay and seed. bertner keeps its best epoch by valid F1, HF's recipe its last.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import defaultdict
from datetime import date
from pathlib import Path

import torch
from hf_recipe import PAPER_CONFIG, RecipeSettings, bertner_config, machine, train_hf_recipe

from bertner.config_files import load_config
from bertner.data.corpus import load_corpus
from bertner.evaluation.significance import mean_std
from bertner.inference.evaluate import evaluate_sentences
from bertner.model.encoders import resolve_encoder
from bertner.model.store import load_model
from bertner.training.trainer import train_model


def _settings(args: argparse.Namespace) -> RecipeSettings:
    return RecipeSettings(args.epochs, args.lr, args.batch_size, args.weight_decay, args.seed)


def run_hf(args: argparse.Namespace) -> dict:
    config = load_config(None, {"data": {"limit_train": args.limit_train, "limit_eval": args.limit_eval}})
    corpus = load_corpus(args.data, config.data)
    result = train_hf_recipe(
        resolve_encoder(args.encoder), corpus.train, corpus.valid, corpus.label_set, _settings(args), corpus.test
    )
    return {"seconds": result.seconds, "valid_f1": result.valid_f1, "test_f1": result.test_f1}


def run_bertner(args: argparse.Namespace) -> dict:
    config_file = args.config or PAPER_CONFIG
    config = bertner_config(config_file, _settings(args), args.encoder, args.limit_train, args.limit_eval)
    corpus = load_corpus(args.data, config.data)
    with tempfile.TemporaryDirectory() as output:
        started = time.monotonic()
        train_model(config, corpus, Path(output), progress=False)
        elapsed = time.monotonic() - started
        model = load_model(Path(output))
    if torch.cuda.is_available():
        model.tagger.to("cuda")
    valid = evaluate_sentences(model, corpus.valid).scores.overall.f1
    test = evaluate_sentences(model, corpus.test).scores.overall.f1
    return {"seconds": elapsed, "valid_f1": valid, "test_f1": test}


def run(args: argparse.Namespace) -> None:
    name = args.name or args.recipe
    result = run_hf(args) if args.recipe == "hf" else run_bertner(args)
    record = {
        "name": name,
        "seed": args.seed,
        **result,
        "config": str(args.config) if args.config else None,
        "hyperparameters": vars(_settings(args)),
        "slice": {"train": args.limit_train, "eval": args.limit_eval},
        "machine": machine(),
        "date": date.today().isoformat(),
    }
    line = json.dumps(record)
    print(line)
    # One short line per append: runs in parallel processes can share the file.
    with args.results.open("a", encoding="utf-8") as handle:
        handle.write(line + "\n")


def summary(args: argparse.Namespace) -> None:
    runs: dict[str, dict[int, dict]] = defaultdict(dict)
    for number, line in enumerate(args.results.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            record = json.loads(line)
            if record["seed"] in runs[record["name"]]:
                where = f"{args.results}:{number}"
                raise SystemExit(f"{where}: a second run of {record['name']} with seed {record['seed']}")
            runs[record["name"]][record["seed"]] = record
    anchor = runs.get("hf", {})
    print("| recipe | seeds | valid F1 | test F1 | test F1 per seed | min per run | test F1 minus HF's, same seeds |")
    print("|---|---|---|---|---|---|---|")
    for name, by_seed in sorted(runs.items()):
        seeds = sorted(by_seed)
        valid = mean_std([by_seed[s]["valid_f1"] for s in seeds])
        test = mean_std([by_seed[s]["test_f1"] for s in seeds])
        minutes = sum(by_seed[s]["seconds"] for s in seeds) / len(seeds) / 60
        per_seed = ", ".join(f"{s}: {by_seed[s]['test_f1'] * 100:.2f}" for s in seeds)
        shared = [s for s in seeds if s in anchor]
        difference = (
            ""
            if name == "hf" or not shared
            else mean_std([by_seed[s]["test_f1"] - anchor[s]["test_f1"] for s in shared]).format()
        )
        cells = [name, str(len(seeds)), valid.format(), test.format(), per_seed, f"{minutes:.1f}", difference]
        print("| " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("run", help="train and score one recipe with one seed")
    one.add_argument("--recipe", choices=("hf", "bertner"), required=True)
    one.add_argument("--name", help="the recipe's name in the table (default: --recipe)")
    one.add_argument("--config", type=Path, help="bertner config for its side (default: configs/paper.toml)")
    one.add_argument("--data", default="../shared/data/conll2003")
    one.add_argument("--encoder", default="minilm-l6")
    one.add_argument("--limit-train", type=int)
    one.add_argument("--limit-eval", type=int)
    one.add_argument("--epochs", type=int, default=3)
    one.add_argument("--lr", type=float, default=3e-5)
    one.add_argument("--batch-size", type=int, default=16)
    one.add_argument("--weight-decay", type=float, default=0.1)
    one.add_argument("--seed", type=int, default=42)
    one.add_argument("--results", type=Path, required=True, help="JSON-lines file the run is appended to")
    table = commands.add_parser("summary", help="print the table of a results file")
    table.add_argument("results", type=Path)
    args = parser.parse_args()
    if args.command == "run":
        if args.recipe == "hf" and args.config:
            parser.error("--config sets bertner's side only")
        run(args)
    else:
        summary(args)


if __name__ == "__main__":
    main()
