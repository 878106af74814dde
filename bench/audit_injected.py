"""How well `bertner audit` finds label errors: inject known ones into a labelled file, audit, and score the ranking.

Errors are injected the way annotators make them (issue 22), one per corrupted sentence, about `--rate` of the
sentences (5% by default), seeded:

- type swap: an entity gets another type of the file's;
- boundary shift: an entity's first or last word moves by one (grows over an O word or shrinks, never to nothing);
- missed: an entity is removed (its words become O);
- invented: one or two O words (a capitalised one where there is one, as annotators are drawn to names) become
  an entity of a random type.

Sentences are drawn first and a kind then at random among those the sentence offers, so a sentence without
entities (645 of CoNLL-2003's 3,250 valid sentences) can only get an invented one: invented entities come out
over-represented (72 of 162 there, seed 0). The corrupted tags are written from entity spans: legal IOB2.

The model audits the corrupted file (bertner.audit.run.audit_with_model, exactly what `bertner audit` runs), and
with k = the number of corrupted
sentences the script reports precision@k and recall@k (equal here: k is both the cut and the number of
positives), AUPRC (average precision, sklearn) and AUROC, overall and recall@k per error type. The file's own
errors, which exist (CoNLL++ corrected 5.4% of CoNLL-2003's test sentences), count against precision: this
measures finding *injected* errors, a lower bound of finding errors.

    python bench/audit_injected.py --model runs/minilm-default-seed42 \
        --data /work/shared/data/conll2003/valid.txt --output runs/audit-injected-default
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import numpy as np

from bertner.audit.run import audit_with_model
from bertner.data.conll import DOCSTART, Sentence, read_conll
from bertner.evaluation.spans import Entity, chunks
from bertner.inference.ensemble.folder import load_tagging_model

KINDS = ("type swap", "boundary shift", "missed", "invented")


@dataclass(frozen=True)
class Injected:
    sentence: int
    kind: str
    before: tuple[str, ...]
    after: tuple[str, ...]


def render(length: int, entities: list[Entity]) -> tuple[str, ...]:
    tags = ["O"] * length
    for entity in entities:
        tags[entity.start] = f"B-{entity.type}"
        for index in range(entity.start + 1, entity.end):
            tags[index] = f"I-{entity.type}"
    return tuple(tags)


def _free(entities: list[Entity], index: int) -> bool:
    return all(not e.start <= index < e.end for e in entities)


def corrupt(sentence: Sentence, kind: str, types: list[str], rng: random.Random) -> tuple[str, ...] | None:
    """The sentence's tags with one error of `kind`, or None when the sentence offers none."""
    entities = list(chunks(sentence.tags))
    length = len(sentence.words)
    if kind == "invented":
        free = [i for i in range(length) if _free(entities, i) and any(c.isalnum() for c in sentence.words[i])]
        if not free:
            return None
        capitalised = [i for i in free if sentence.words[i][:1].isupper()]
        start = rng.choice(capitalised or free)
        end = start + 2 if start + 1 < length and _free(entities, start + 1) and rng.random() < 0.3 else start + 1
        return render(length, sorted([*entities, Entity(start, end, rng.choice(types))], key=lambda e: e.start))
    if not entities:
        return None
    position = rng.randrange(len(entities))
    entity = entities[position]
    if kind == "type swap":
        others = [t for t in types if t != entity.type]
        if not others:
            return None
        entities[position] = replace(entity, type=rng.choice(others))
    elif kind == "missed":
        del entities[position]
    else:
        moves = []
        if entity.start > 0 and _free(entities, entity.start - 1):
            moves.append(replace(entity, start=entity.start - 1))
        if entity.end < length and _free(entities, entity.end):
            moves.append(replace(entity, end=entity.end + 1))
        if entity.end - entity.start > 1:
            moves += [replace(entity, start=entity.start + 1), replace(entity, end=entity.end - 1)]
        if not moves:
            return None
        entities[position] = rng.choice(moves)
    return render(length, entities)


def inject(sentences: list[Sentence], rate: float, seed: int) -> tuple[list[Sentence], list[Injected]]:
    rng = random.Random(seed)
    types = sorted({e.type for s in sentences for e in chunks(s.tags)})
    count = max(1, round(rate * len(sentences)))
    out, injected = list(sentences), []
    for index in rng.sample(range(len(sentences)), len(sentences)):
        if len(injected) == count:
            break
        for kind in rng.sample(KINDS, len(KINDS)):  # a kind at random; another if this sentence offers none
            tags = corrupt(sentences[index], kind, types, rng)
            if tags is not None and tags != sentences[index].tags:
                out[index] = replace(sentences[index], tags=tags)
                injected.append(Injected(index, kind, sentences[index].tags, tags))
                break
    return out, injected


def write_conll(sentences: list[Sentence], path: Path) -> None:
    lines = []
    for sentence in sentences:
        if sentence.starts_document:
            lines += [f"{DOCSTART} O", ""]
        lines += [f"{w} {t}" for w, t in zip(sentence.words, sentence.tags, strict=True)] + [""]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def scores(ranked: list[int], scores_by_sentence: np.ndarray, corrupted: set[int]) -> dict[str, float]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    k = len(corrupted)
    hits = len(set(ranked[:k]) & corrupted)
    truth = np.array([i in corrupted for i in range(len(scores_by_sentence))])
    # lower label quality = more likely wrong, so the detector's score is its negation
    return {
        "k": k,
        "precision_at_k": hits / k,
        "recall_at_k": hits / k,
        "auprc": float(average_precision_score(truth, -scores_by_sentence)),
        "auroc": float(roc_auc_score(truth, -scores_by_sentence)),
        "auprc_chance": float(truth.mean()),
    }


def machine() -> str:
    flags = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    found = sorted({flag for flag in ("avx512_bf16", "avx2") if flag in flags})
    return f"{platform.machine()} {' '.join(found)}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a run, export or ensemble folder")
    parser.add_argument("--data", required=True, type=Path, help="a labelled CoNLL file (e.g. the valid split)")
    parser.add_argument("--output", required=True, type=Path, help="folder for the corrupted file and results.json")
    parser.add_argument("--rate", type=float, default=0.05, help="share of sentences corrupted (default 0.05)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, help="only the first N sentences")
    parser.add_argument("--token-score", default="self_confidence")
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()

    sentences = read_conll(args.data)[: args.limit]
    corrupted, injected = inject(sentences, args.rate, args.seed)
    args.output.mkdir(parents=True, exist_ok=True)
    write_conll(corrupted, args.output / "corrupted.conll")
    model = load_tagging_model(args.model)
    started = time.monotonic()
    result = audit_with_model(model, corrupted, str(args.data), args.token_score, args.batch_size, progress=True)
    seconds = time.monotonic() - started
    ranked = [audit.sentence for audit in result.ranking]
    by_sentence = np.empty(len(corrupted))
    for audit in result.ranking:
        by_sentence[audit.sentence] = audit.score
    positives = {item.sentence for item in injected}
    overall = scores(ranked, by_sentence, positives)
    top = set(ranked[: len(positives)])
    per_kind = {
        kind: {
            "injected": sum(item.kind == kind for item in injected),
            "found_in_top_k": sum(item.kind == kind and item.sentence in top for item in injected),
        }
        for kind in KINDS
    }
    flagged = {audit.sentence for audit in result.ranking if audit.flagged}
    report = {
        "command": " ".join(["python", *sys.argv]),
        "date": date.today().isoformat(),
        "machine": machine(),
        "model": args.model,
        "data": str(args.data),
        "sentences": len(corrupted),
        "seed": args.seed,
        "rate": args.rate,
        **overall,
        "per_kind": per_kind,
        "flagged_by_confident_learning": len(flagged),
        "flagged_and_corrupted": len(flagged & positives),
        "audit_seconds": round(seconds, 1),
        "injected": [item.__dict__ for item in injected],
    }
    (args.output / "results.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    shown = {key: value for key, value in report.items() if key != "injected"}
    print(json.dumps(shown, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
