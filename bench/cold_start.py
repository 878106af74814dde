"""Whole-process costs of running an export: `bertner predict` from process start to exit, and the server's memory.

    python bench/cold_start.py --export runs/minilm-default-onnx-int8 --run runs/minilm-plain-seed42 \\
        [--export runs/minilm-plain-onnx-int8] [--sentences 2000] [--repeats 5] [--threads 2] [--python PY]

Each repetition runs, in a fresh process each and in an order rotated by one every repetition:
- `bertner -q predict --model EXPORT --text "..."` for every `--export` (one sentence: start, imports, load, tag);
- `bertner -q predict --model EXPORT --input FILE` on the first `--sentences` CoNLL-2003 test sentences as raw
  text, one per line (words joined by spaces), for every `--export`;
- the same sentences through HF's `pipeline("token-classification", aggregation_strategy="first")` on the plain
  run folder `--run` (batch 32, `--threads` torch threads), in a script that imports, loads, tags and exits.
Reported per command: the median wall time, user + system CPU seconds, and peak RSS (`os.wait4`), and for the
corpus runs words/s and the ratio to HF's pipeline. Then, once per export, `bertner serve` is started and its RSS
read (psutil, every process of the server) when /health answers: the server's memory once the model is loaded.
`--python` runs bertner with another interpreter (a venv with only `bertner[runtime,serve]`, say).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

from bertner.data.conll import read_conll
from bertner.data.corpus import find_split

HF_SCRIPT = """
import sys, torch
from transformers import pipeline
torch.set_num_threads(int(sys.argv[3]))
texts = open(sys.argv[2], encoding="utf-8").read().splitlines()
pipe = pipeline("token-classification", model=sys.argv[1], aggregation_strategy="first", device=-1)
found = pipe(texts, batch_size=32)
print(sum(len(entities) for entities in found), file=sys.stderr)
"""
TEXT = "EU rejects German call to boycott British lamb ."


def timed(command: list[str]) -> dict[str, float]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (MB) of one process, which must succeed."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    stderr = process.stderr.read().decode() if process.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {stderr[-2000:]}")
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024}


def served_rss(python: str, export: str, threads: int) -> float:
    """RSS (MB) of `bertner serve` on `export`, all its processes, once /health answers."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [python, "-m", "bertner", "-q", "serve", "--model", export, "--port", str(port)]
    command += ["--threads", str(threads)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"bertner serve on {export} did not answer /health in 120 s")
        time.sleep(0.5)
        parent = psutil.Process(server.pid)
        return sum(p.memory_info().rss for p in [parent, *parent.children(recursive=True)]) / 2**20
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--export", action="append", required=True, help="an export folder, repeatable")
    parser.add_argument("--run", required=True, help="the plain run folder HF's pipeline loads (linear head)")
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/conll2003")
    parser.add_argument("--sentences", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--python", default=sys.executable, help="the interpreter that runs bertner")
    args = parser.parse_args()

    sentences = read_conll(find_split(args.data, "test"))[: args.sentences]
    words = sum(len(s.words) for s in sentences)
    corpus = Path(tempfile.mkdtemp(prefix="bertner-cold-")) / "texts.txt"
    corpus.write_text("".join(" ".join(s.words) + "\n" for s in sentences), encoding="utf-8")
    bertner = [args.python, "-m", "bertner", "-q", "predict", "--threads", str(args.threads)]
    commands = {"HF pipeline, corpus": [sys.executable, "-c", HF_SCRIPT, args.run, str(corpus), str(args.threads)]}
    for export in args.export:
        commands[f"bertner {export}, one text"] = [*bertner, "--model", export, "--text", TEXT]
        commands[f"bertner {export}, corpus"] = [*bertner, "--model", export, "--input", str(corpus)]
    names = list(commands)
    results: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    for repeat in range(args.repeats):
        for name in names[repeat % len(names) :] + names[: repeat % len(names)]:
            results[name].append(timed(commands[name]))
    print(f"{len(sentences)} sentences, {words} words; {args.repeats} repetitions, rotated; medians")
    print("| command | wall s | CPU s | peak RSS MB | words/s | x HF |")
    print("|---|---|---|---|---|---|")
    rows = {}
    for name in names:
        row = {key: statistics.median(r[key] for r in results[name]) for key in ("wall_s", "cpu_s", "rss_mb")}
        rows[name] = row
    anchor = rows["HF pipeline, corpus"]["wall_s"]
    for name, row in rows.items():
        corpus_run = name.endswith("corpus")
        rate = f"{words / row['wall_s']:,.0f}" if corpus_run else ""
        ratio = f"{anchor / row['wall_s']:.2f}x" if corpus_run else ""
        print(f"| {name} | {row['wall_s']:.2f} | {row['cpu_s']:.2f} | {row['rss_mb']:.0f} | {rate} | {ratio} |")
    served = {export: served_rss(args.python, export, args.threads) for export in args.export}
    for export, rss in served.items():
        print(f"bertner serve {export}: {rss:.0f} MB RSS once loaded")
    print(json.dumps({"sentences": len(sentences), "words": words, "rows": rows, "served_rss_mb": served}))


if __name__ == "__main__":
    main()
