"""Entity scores as probabilities (issue 23): the shipped calibration, fitted on valid, measured on test.

    python bench/calibration.py --model runs/minilm-default-seed42 --data /work/shared/data/conll2003 \\
        [--fit FILE] [--test FILE] [--per-type auto|yes|no] [--backend auto|torch|onnx] [--png reliability.png] \\
        [--isotonic]

`--model` is a run, an export or an ensemble folder. The temperature is fitted on the valid split (or on `--fit`, a
labelled file) exactly as `bertner train` and `bertner calibrate` fit it (inference/calibrate.py; nothing is
written into the model's folder), and the predicted entities of the test split (or of `--test`) are scored at
T = 1 and with it. Prints one JSON object: the calibration, and for each of `t1` and `calibrated` the 15-bin
entity ECE on the test file, how many of its entities score >= 0.9 and the precision among them. The entities
are the same in both: a temperature never changes the tags.

A diagnostic, `floor`: the ECE that perfectly calibrated scores would show on these entities by chance:
outcomes drawn as Bernoulli(score) from the calibrated scores themselves, 200 draws (mean and 95th
percentile). An ECE near it cannot be told from calibrated with this many entities.
Where the --isotonic flag is given, the calibration also gets the score map `bertner calibrate --isotonic` fits
(isotonic regression on the fit file's entity scores at the temperature, decoding/calibration.py), and `isotonic`
reports the test file's entities with it: whether a calibrator that can bend reaches what a temperature does not.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import subprocess
import time
from datetime import date
from pathlib import Path

import numpy as np

from bertner.data.corpus import find_split, read_file
from bertner.evaluation.calibration import entity_outcomes, reliability
from bertner.evaluation.report.calibration import EntityScores, calibration_section, summarise
from bertner.evaluation.spans import chunks
from bertner.inference.calibrate import fit_model
from bertner.inference.ensemble.folder import load_tagging_model
from bertner.inference.evaluate import evaluate_sentences


def _cpu_flags() -> str:
    try:
        flags = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return " ".join(flag for flag in ("avx512_bf16", "avx2") if flag in flags) or "neither"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a run, export or ensemble folder")
    parser.add_argument("--data", type=Path, help="a folder with valid and test splits")
    parser.add_argument("--fit", type=Path, help="the labelled file the temperature is fitted on (default: valid)")
    parser.add_argument("--test", type=Path, help="the labelled file it is measured on (default: test)")
    parser.add_argument("--per-type", default="auto", choices=("auto", "yes", "no"))
    parser.add_argument("--backend", default="auto", choices=("auto", "torch", "onnx"))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--png", type=Path, help="write the test split's reliability diagrams here")
    parser.add_argument("--isotonic", action="store_true", help="also an isotonic map fitted on the fit file (above)")
    args = parser.parse_args()
    if args.data is None and (args.fit is None or args.test is None):
        parser.error("give --data, or both --fit and --test")
    fit_path = args.fit or find_split(args.data, "valid")
    test_path = args.test or find_split(args.data, "test")

    model = load_tagging_model(args.model, args.backend)
    model = dataclasses.replace(model, calibration=None)  # measured from T = 1, whatever the folder holds
    fit_sentences, _ = read_file(fit_path, model.config.data)
    test, _ = read_file(test_path, model.config.data)
    started = time.monotonic()
    isotonic = "yes" if args.isotonic else "no"  # the temperature alone, then with the map: both, whatever auto says
    fitted = fit_model(model, fit_sentences, str(fit_path), args.per_type, args.batch_size, isotonic=isotonic)
    fit_seconds = time.monotonic() - started
    with_map = fitted.calibration
    fitted = dataclasses.replace(fitted, calibration=dataclasses.replace(fitted.calibration, score_map=None))
    calibrated = dataclasses.replace(model, calibration=fitted.calibration)
    evaluation = evaluate_sentences(calibrated, test, args.batch_size)
    scores = evaluation.entity_scores
    assert scores is not None
    if scores.calibrated is None:  # an identity calibration: T = 1 both times
        scores = EntityScores(raw=scores.raw, calibrated=scores.raw, calibration=fitted.calibration.describe())
    gold = [s.tags for s in test]
    metrics, _, images = calibration_section(gold, evaluation.predicted, scores, plots=args.png is not None)
    result = {
        "model": args.model,
        "backend": model.backend,
        "calibration": with_map.to_dict(),  # with --isotonic: the map's knots, and its held-out ECE on the fit file
        "per_type_evidence": None if fitted.evidence is None else dataclasses.asdict(fitted.evidence),
        "map_evidence": None if fitted.map_evidence is None else dataclasses.asdict(fitted.map_evidence),
        "fit_seconds": round(fit_seconds, 1),
        "fit": str(fit_path),
        "test": str(test_path),
        "test_f1": evaluation.scores.overall.f1,
        "test_entities": metrics["entities"],
        "t1": metrics["before"],
        "calibrated": metrics["after"],
        "machine": {"date": date.today().isoformat(), "cpu": platform.processor(), "flags": _cpu_flags()},
    }
    test_scores, test_correct = _flat_outcomes(scores.calibrated, evaluation.predicted, gold)
    result["floor"] = _floor(test_scores)
    if args.isotonic:
        # the map comes after the temperature and never changes the entities: the same test scores, mapped
        map_scores = np.asarray(with_map.map_scores(test_scores))
        result["isotonic"] = {
            "knots": len(with_map.score_map or ()),
            **summarise(map_scores, test_correct).to_dict(),
            "floor": _floor(map_scores),
        }
    print(json.dumps(result, indent=2))
    if args.png is not None:
        args.png.write_bytes(next(iter(images.values())))


def _flat_outcomes(rows, predicted, gold) -> tuple[np.ndarray, np.ndarray]:
    """Every predicted entity's score and whether it is right, flattened over sentences."""
    found = [chunks(row) for row in predicted]
    correct = [c for row in entity_outcomes([chunks(row) for row in gold], found) for c in row]
    return np.array([value for row in rows for value in row], dtype=np.float64), np.array(correct, dtype=bool)


def _floor(scores: np.ndarray, draws: int = 200) -> dict[str, float]:
    """The ECE of outcomes drawn from the scores themselves: what a calibrated model shows by chance."""
    rng = np.random.default_rng(0)
    eces = [reliability(scores, rng.random(len(scores)) < scores).ece for _ in range(draws)]
    return {"mean": float(np.mean(eces)), "p95": float(np.percentile(eces, 95))}


if __name__ == "__main__":
    main()
