"""Inference speed: HF's `pipeline("ner")` against bertner's Predictor on each backend, the same model, one process.

    python bench/infer_speed.py --run runs/minilm-plain-seed42 \\
        --backend torch=runs/minilm-plain-seed42 --backend onnx=runs/minilm-plain-onnx \\
        --backend int8=runs/minilm-plain-onnx-int8 [--sentences 1000] [--repeats 5] [--threads 2] [--f1]

The texts are the first N CoNLL-2003 test sentences given as raw text (words joined by spaces). Each
repetition times every contender once, in an order rotated by one each time, so drift in the machine's
speed reaches all of them alike; the median over repetitions is reported. For each contender:
- words/s batched, end to end (texts in, entities out; HF: `pipe(texts, batch_size=32)`, bertner:
  `Predictor.predict(texts)` with its batch size), and the model-only part of that time (HF: the pipeline's
  `_forward`; bertner: the backend's `logits` calls), so the time outside the network shows;
- single-sentence latency, p50 and p95 over `--latency-sentences` calls with one text each, in blocks of
  one contender at a time, rotated like the batched runs;
- with `--latency-alone`, the single-sentence latency of a backend in a process of its own;
- with `--f1`, entity F1 on the whole test set (`evaluate_sentences`, pre-split words), for the bertner backends.
The machine's CPU flags that matter (avx512_bf16, avx512_vnni, amx) are printed with the results.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from bertner.data.conll import read_conll
from bertner.inference.evaluate import evaluate_sentences
from bertner.inference.predictor import Predictor

FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8")


def cpu_flags() -> str:
    """The model name and the CPU flags that decide bf16 and int8 speed, from `lscpu`."""
    text = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    flags = set(fields.get("Flags", "").split())
    name = fields.get("Model name", "?").strip()
    return f"{name}; {' '.join(f for f in FLAGS if f in flags)}; {torch.get_num_threads()} torch threads"


@dataclasses.dataclass
class TimedScorer:
    """A backend's scorer that adds up the seconds spent in its `logits` calls."""

    inner: Any
    seconds: float = 0.0

    @property
    def num_labels(self) -> int:
        return int(self.inner.num_labels)

    @property
    def crf(self) -> Any:
        return self.inner.crf

    def logits(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        started = time.perf_counter()
        try:
            return self.inner.logits(batch)
        finally:
            self.seconds += time.perf_counter() - started


@dataclasses.dataclass
class Contender:
    name: str
    batched: Callable[[Sequence[str]], object]
    single: Callable[[str], object]
    model_seconds: Callable[[], float]
    reset: Callable[[], None]


def _bertner(name: str, path: str, backend: str, threads: int, batch_size: int) -> tuple[Contender, Predictor]:
    predictor = Predictor.load(path, backend=backend, threads=threads, batch_size=batch_size)
    timed = TimedScorer(predictor.model.scorer)
    predictor = dataclasses.replace(predictor, model=dataclasses.replace(predictor.model, scorer=timed))

    def reset() -> None:
        timed.seconds = 0.0

    return Contender(name, predictor.predict, lambda t: predictor.predict([t]), lambda: timed.seconds, reset), predictor


def _hf(run: str, batch_size: int) -> Contender:
    from transformers import pipeline

    pipe = pipeline("token-classification", model=run, aggregation_strategy="first", device=-1)
    spent = [0.0]
    forward = pipe._forward

    def timed_forward(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return forward(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - started

    pipe._forward = timed_forward  # type: ignore[method-assign]

    def reset() -> None:
        spent[0] = 0.0

    return Contender(
        f"HF pipeline (batch {batch_size})",
        lambda texts: pipe(list(texts), batch_size=batch_size),
        lambda text: pipe(text),
        lambda: spent[0],
        reset,
    )


_ALONE = """
import json, sys, time
from bertner.inference.predictor import Predictor
folder, backend, threads, batch_size, texts = json.loads(sys.stdin.read())
predictor = Predictor.load(folder, backend=backend, threads=threads, batch_size=batch_size)
for text in texts[:10]:
    predictor.predict([text])
times = []
for text in texts:
    started = time.perf_counter()
    predictor.predict([text])
    times.append((time.perf_counter() - started) * 1000)
print(json.dumps(times))
"""


def latency_alone(spec: str, texts: Sequence[str], threads: int, batch_size: int) -> list[float]:
    """Single-sentence latencies (ms) of one bertner backend in a process of its own, with no other model's
    thread pools beside it (in the shared process, the HF pipeline's PyTorch threads slowed onnxruntime's
    short calls by about 1 ms)."""
    name, _, rest = spec.partition("=")
    folder, _, backend = rest.partition(":")
    payload = json.dumps([folder, backend or "auto", threads, batch_size, list(texts)])
    result = subprocess.run([sys.executable, "-c", _ALONE], input=payload, capture_output=True, text=True, check=True)
    return [float(ms) for ms in json.loads(result.stdout.splitlines()[-1])]


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="the plain run folder HF's pipeline loads (linear head)")
    parser.add_argument("--backend", action="append", default=[], help="NAME=FOLDER[:torch|onnx], repeatable")
    parser.add_argument("--data", type=Path, default=Path("../shared/data/conll2003"))
    parser.add_argument("--sentences", type=int, default=1000)
    parser.add_argument("--latency-sentences", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8, help="bertner's windows per forward pass")
    parser.add_argument("--hf-batch-size", type=int, default=32)
    parser.add_argument("--f1", action="store_true", help="also score each bertner backend on the whole test set")
    parser.add_argument(
        "--latency-alone",
        action="append",
        default=[],
        help="NAME=FOLDER[:backend]: also measure single-sentence latency of this backend in a process of its own",
    )
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    test = read_conll(args.data / "test.txt")
    texts = [" ".join(s.words) for s in test[: args.sentences]]
    words = sum(len(s.words) for s in test[: args.sentences])
    contenders = [_hf(args.run, args.hf_batch_size)]
    predictors: dict[str, Predictor] = {}
    for spec in args.backend:
        name, _, rest = spec.partition("=")
        folder, _, backend = rest.partition(":")
        contender, predictor = _bertner(f"bertner {name}", folder, backend or "auto", args.threads, args.batch_size)
        contenders.append(contender)
        predictors[name] = predictor
    # Objects that live as long as the process (models, pipelines, modules) leave the garbage collector's
    # generations, as `bertner predict` and `serve` do after loading: otherwise each full collection walks
    # them all, and with four models loaded here that cost each contender time outside its own work.
    gc.collect()
    gc.freeze()
    print(f"machine: {cpu_flags()}")
    print(f"{len(texts)} sentences, {words} words; {args.repeats} repetitions, alternating")

    for contender in contenders:  # warm-up: first calls allocate and, for onnxruntime, plan
        contender.batched(texts[:64])
    batched: dict[str, list[tuple[float, float]]] = {c.name: [] for c in contenders}
    for repeat in range(args.repeats):
        for contender in contenders[repeat % len(contenders) :] + contenders[: repeat % len(contenders)]:
            contender.reset()
            started = time.perf_counter()
            contender.batched(texts)
            batched[contender.name].append((time.perf_counter() - started, contender.model_seconds()))
    # Latency in blocks, one contender at a time (rotated each repetition): interleaving them sentence by
    # sentence measured each one against the others' thread pools still spinning from the call before.
    latency: dict[str, list[float]] = {c.name: [] for c in contenders}
    singles = texts[: args.latency_sentences]
    for repeat in range(args.repeats):
        for contender in contenders[repeat % len(contenders) :] + contenders[: repeat % len(contenders)]:
            for text in singles[:5]:
                contender.single(text)
            for text in singles[repeat :: args.repeats]:
                started = time.perf_counter()
                contender.single(text)
                latency[contender.name].append((time.perf_counter() - started) * 1000)

    anchor = statistics.median(t for t, _ in batched[contenders[0].name])
    rows = []
    print("| contender | words/s end to end | x HF | model-only s | other s | p50 ms | p95 ms |")
    print("|---|---|---|---|---|---|---|")
    for contender in contenders:
        total = statistics.median(t for t, _ in batched[contender.name])
        model = statistics.median(m for _, m in batched[contender.name])
        row = {
            "name": contender.name,
            "words_per_s": words / total,
            "x_hf": anchor / total,
            "seconds": total,
            "model_seconds": model,
            "p50_ms": _percentile(latency[contender.name], 0.5),
            "p95_ms": _percentile(latency[contender.name], 0.95),
        }
        rows.append(row)
        print(
            f"| {row['name']} | {row['words_per_s']:,.0f} | {row['x_hf']:.2f}x | {model:.2f} | {total - model:.2f} | "
            f"{row['p50_ms']:.1f} | {row['p95_ms']:.1f} |"
        )
    for spec in args.latency_alone:
        alone = latency_alone(spec, texts[: args.latency_sentences], args.threads, args.batch_size)
        p50, p95 = _percentile(alone, 0.5), _percentile(alone, 0.95)
        name = spec.partition("=")[0]
        print(f"single-sentence latency of bertner {name} in a process of its own: p50 {p50:.1f} ms, p95 {p95:.1f} ms")
        rows.append({"name": f"bertner {name} alone", "p50_ms": p50, "p95_ms": p95})
    if args.f1:
        for name, predictor in predictors.items():
            f1 = evaluate_sentences(predictor.model, test, args.batch_size).scores.overall.f1
            print(f"test F1 ({len(test)} sentences), bertner {name}: {f1 * 100:.2f}")
            next(r for r in rows if r["name"] == f"bertner {name}")["test_f1"] = f1
    print(json.dumps({"machine": cpu_flags(), "sentences": len(texts), "words": words, "rows": rows}))


if __name__ == "__main__":
    main()
