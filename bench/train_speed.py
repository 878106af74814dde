"""Time bertner's training against HF's own token-classification recipe, side by side in one run.

The anchor is the recipe of HF's `run_ner.py`: `AutoModelForTokenClassification`, the tokenizer with
truncation, labels on the first sub-token, `DataCollatorForTokenClassification`, random batches, the
`Trainer`. Both sides get the same encoder, training slice, valid slice, hyperparameters, seed, and
one valid evaluation per epoch; both are scored with bertner's conlleval scorer at word level.

    python bench/train_speed.py --data ../shared/data/conll2003 --limit-train 3000 --limit-eval 500 --epochs 2

Prints both wall times, their ratio (target: bertner <= 0.6x the anchor), and both valid F1s. With
`--seeds 42 43 44` each side runs once per seed (alternating) and F1 is given as mean +- std: on a small
slice one seed's F1 spreads by a point or two (docs/results.md).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import date
from pathlib import Path

from hf_recipe import PAPER_CONFIG, RecipeSettings, bertner_config, machine, train_hf_recipe

from bertner.config_files import load_config
from bertner.data.conll import Sentence
from bertner.data.corpus import load_corpus
from bertner.evaluation.significance import mean_std
from bertner.labels import LabelSet
from bertner.model.encoders import resolve_encoder
from bertner.training.trainer import train_model


def run_anchor(
    args: argparse.Namespace, seed: int, train: list[Sentence], valid: list[Sentence], label_set: LabelSet
) -> dict:
    settings = RecipeSettings(args.epochs, args.lr, args.batch_size, args.weight_decay, seed)
    result = train_hf_recipe(resolve_encoder(args.encoder), train, valid, label_set, settings)
    history = list(result.valid_f1_per_epoch)
    return {"seconds": result.seconds, "valid_f1_per_epoch": history, "valid_f1": result.valid_f1}


def run_bertner(args: argparse.Namespace, seed: int) -> dict:
    settings = RecipeSettings(args.epochs, args.lr, args.batch_size, args.weight_decay, seed)
    config = bertner_config(args.config, settings, args.encoder, args.limit_train, args.limit_eval)
    corpus = load_corpus(args.data, config.data)
    with tempfile.TemporaryDirectory() as output:
        started = time.monotonic()
        result = train_model(config, corpus, Path(output), progress=False)
        elapsed = time.monotonic() - started
        lines = (Path(output) / "metrics.jsonl").read_text().splitlines()
    history = [json.loads(line)["valid"]["f1"] for line in lines]
    return {
        "seconds": elapsed,
        "train_seconds": result.train_seconds,
        "valid_f1_per_epoch": history,
        "valid_f1": history[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/conll2003")
    parser.add_argument("--encoder", default="minilm-l6")
    parser.add_argument(
        "--config",
        type=Path,
        default=PAPER_CONFIG,
        help="bertner config for its side (default: configs/paper.toml, the paper's setting, as HF's recipe has)",
    )
    parser.add_argument("--limit-train", type=int, default=3000)
    parser.add_argument("--limit-eval", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=3e-5)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--weight-decay", type=float, default=0.1)
    parser.add_argument("--seeds", type=int, nargs="+", default=[42], help="one HF run and one bertner run each")
    args = parser.parse_args()

    config = load_config(None, {"data": {"limit_train": args.limit_train, "limit_eval": args.limit_eval}})
    corpus = load_corpus(args.data, config.data)
    runs = []
    for seed in args.seeds:  # the two sides alternate, so that a slower stretch of the machine hits both
        anchor = run_anchor(args, seed, list(corpus.train), list(corpus.valid), corpus.label_set)
        runs.append({"seed": seed, "hf_recipe": anchor, "bertner": run_bertner(args, seed)})
    hf_seconds = sum(run["hf_recipe"]["seconds"] for run in runs)
    ours_seconds = sum(run["bertner"]["seconds"] for run in runs)
    hf_f1 = mean_std([run["hf_recipe"]["valid_f1"] for run in runs])
    ours_f1 = mean_std([run["bertner"]["valid_f1"] for run in runs])
    difference = mean_std([run["bertner"]["valid_f1"] - run["hf_recipe"]["valid_f1"] for run in runs])
    report = {
        "date": date.today().isoformat(),
        "machine": machine(),
        "slice": {"train": len(corpus.train), "valid": len(corpus.valid), "epochs": args.epochs},
        "bertner_config": str(args.config) if args.config else None,
        "runs": runs,
        "time_ratio": ours_seconds / hf_seconds,
    }
    print(json.dumps(report, indent=2))
    print(
        f"HF recipe {hf_seconds / len(runs):.0f} s per run, valid F1 {hf_f1.format()} | "
        f"bertner {ours_seconds / len(runs):.0f} s per run, valid F1 {ours_f1.format()} | "
        f"bertner minus HF, same seed: {difference.format()} | "
        f"time ratio {report['time_ratio']:.2f}x (target <= 0.60x)"
    )


if __name__ == "__main__":
    main()
