"""Entity scores as probabilities (issue 23): a temperature fitted on one labelled file, its ECE on another.

    python bench/calibration_ece.py --model runs/minilm-default-seed42 \\
        --fit /work/shared/data/conll2003/valid.txt --test /work/shared/data/conll2003/test.txt \\
        [--per-type] [--backend onnx] [--png reliability.png]

`--model` is a run, an export or an ensemble folder. Prints one JSON object: the fitted calibration, and for
the test file's predicted entities three scores side by side, each with its 15-bin ECE and the precision and
count of the entities it scores >= 0.9:

- `mean_confidence`: the score the predictor gave before issue 23, the mean over the entity's words of the
  softmax of the chosen tag's score;
- `probability`: the entity's probability at T = 1 (decoding/entities.py: CRF marginals or the product formula);
- `calibrated`: the same with the fitted temperature(s).

The predicted entities are the same in all three (a calibration never changes tags).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import date
from pathlib import Path

import numpy as np

from bertner.data.conll import read_conll
from bertner.decoding.calibration import fit_calibration
from bertner.decoding.entities import entities_of, score_entities
from bertner.decoding.words import WordScores, decode_words
from bertner.evaluation.calibration import Reliability, entity_outcomes, reliability, reliability_png
from bertner.evaluation.spans import Entity, chunks
from bertner.inference.ensemble.folder import load_tagging_model
from bertner.inference.tagging import TaggingModel


def _scores(model: TaggingModel, path: Path, batch_size: int) -> tuple[WordScores, list[list[Entity]]]:
    sentences = read_conll(path)
    words = [s.words for s in sentences]
    scores = model.word_scores(words, batch_size, documents=[s.document for s in sentences])
    return scores, [chunks(s.tags) for s in sentences]


def _summary(scores: list[float], correct: list[bool], threshold: float) -> tuple[dict, Reliability]:
    data = reliability(scores, correct)
    confident = np.asarray(scores) >= threshold
    right = np.asarray(correct, dtype=bool)
    return {
        "ece": data.ece,
        f"entities_scored_ge_{threshold}": int(confident.sum()),
        f"precision_scored_ge_{threshold}": float(right[confident].mean()) if confident.any() else None,
    }, data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--fit", type=Path, required=True, help="labelled CoNLL file the temperature is fitted on")
    parser.add_argument("--test", type=Path, required=True, help="labelled CoNLL file it is measured on")
    parser.add_argument("--backend", default="auto", choices=("auto", "torch", "onnx"))
    parser.add_argument("--per-type", action="store_true", help="also fit one temperature per entity type")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threshold", type=float, default=0.9)
    parser.add_argument("--png", type=Path, help="write the test file's reliability diagrams here")
    args = parser.parse_args()

    model = load_tagging_model(args.model, args.backend)
    labels, scheme = model.labels.tags, model.labels.scheme
    started = time.monotonic()
    fit_scores, fit_gold = _scores(model, args.fit, args.batch_size)
    scored = time.monotonic()
    calibration = fit_calibration(fit_scores, fit_gold, labels, str(args.fit), scheme, per_type=args.per_type)
    fitted = time.monotonic()

    test_scores, test_gold = _scores(model, args.test, args.batch_size)
    predictions = decode_words(test_scores, args.batch_size)
    predicted = entities_of(predictions.label_ids, labels, scheme)
    correct = [c for row in entity_outcomes(test_gold, predicted) for c in row]
    mean_confidence = [
        float(np.mean(confidences[e.start : e.end]))
        for confidences, found in zip(predictions.confidences, predicted, strict=True)
        for e in found
    ]
    flat = [p for row in score_entities(test_scores, predicted, labels) for p in row]
    calibrated = [p for row in score_entities(test_scores, predicted, labels, calibration) for p in row]
    result: dict = {
        "model": args.model,
        "backend": model.backend,
        "calibration": calibration.to_dict(),
        "seconds": {"score_fit_file": round(scored - started, 1), "fit": round(fitted - scored, 1)},
        "test": str(args.test),
        "test_entities": len(correct),
        "test_precision": float(np.mean(correct)) if correct else None,
    }
    panels = []
    for name, values in (("mean_confidence", mean_confidence), ("probability", flat), ("calibrated", calibrated)):
        result[name], data = _summary(values, correct, args.threshold)
        panels.append((name.replace("_", " "), data))
    result["machine"] = {"date": date.today().isoformat(), "cpu": platform.processor() or platform.machine()}
    print(json.dumps(result, indent=2))
    if args.png:
        args.png.write_bytes(reliability_png(panels, f"Entity reliability on {args.test.name}"))


if __name__ == "__main__":
    main()
