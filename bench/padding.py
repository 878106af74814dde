"""How many sub-tokens one training epoch computes: random batches padded, random batches packed, grouped batches.

    python bench/padding.py --data ../shared/data/conll2003 --encoder minilm-l6 --batch-size 16 --seed 42

Counts positions the encoder runs on (batch x longest for padded batches; rows x row length for packed
ones, model/packing.py) and attention scores (the squares), over the training split's windows as
bertner encodes them. No timing: the wall-clock effect is bench/train_speed.py's.
"""

from __future__ import annotations

import argparse
import json

import torch
from transformers.trainer_pt_utils import get_length_grouped_indices

from bertner.config_files import load_config
from bertner.data.corpus import load_corpus
from bertner.data.encoding import EncodingPlan
from bertner.model.encoders import resolve_encoder
from bertner.model.packing import plan_rows
from bertner.model.tokenizer import load_tokenizer
from bertner.training.trainer import encode_sentences


def _batches(order: list[int], size: int) -> list[list[int]]:
    return [order[i : i + size] for i in range(0, len(order), size)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/conll2003")
    parser.add_argument("--encoder", default="minilm-l6")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    config = load_config(None, {"model": {"encoder": args.encoder}})
    corpus = load_corpus(args.data, config.data)
    tokenizer = load_tokenizer(resolve_encoder(args.encoder))
    plan = EncodingPlan.for_config(config.data, tokenizer, corpus.label_set)
    lengths = [len(window.input_ids) for window in encode_sentences(plan, corpus.train, corpus.label_set)]

    torch.manual_seed(args.seed)
    random_batches = [[lengths[i] for i in b] for b in _batches(torch.randperm(len(lengths)).tolist(), args.batch_size)]
    torch.manual_seed(args.seed)
    grouped = get_length_grouped_indices(lengths, args.batch_size)
    grouped_batches = [[lengths[i] for i in b] for b in _batches(grouped, args.batch_size)]

    def padded(batches: list[list[int]]) -> dict[str, int]:
        return {
            "positions": sum(max(b) * len(b) for b in batches),
            "attention": sum(max(b) ** 2 * len(b) for b in batches),
        }

    def packed(batches: list[list[int]]) -> dict[str, int]:
        positions = attention = 0
        for b in batches:
            rows = plan_rows(b)
            row_len = max(sum(b[i] for i in row) for row in rows)
            positions += row_len * len(rows)
            attention += row_len**2 * len(rows)
        return {"positions": positions, "attention": attention}

    report = {
        "windows": len(lengths),
        "real_subtokens": sum(lengths),
        "random_padded": padded(random_batches),
        "random_packed": packed(random_batches),
        "grouped_padded": padded(grouped_batches),
    }
    print(json.dumps(report, indent=2))
    base = report["random_padded"]
    for name in ("random_packed", "grouped_padded"):
        ratios = {key: report[name][key] / base[key] for key in base}  # type: ignore[index]
        print(f"{name}: {ratios['positions']:.3f} of the padded positions, {ratios['attention']:.3f} of the attention")


if __name__ == "__main__":
    main()
