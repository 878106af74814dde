"""Ray batch inference against plain `bertner predict` on the same corpus: sentences/s, and the entities diffed.

    nice -n 19 python bench/ray_predict.py --model runs/minilm-crf-seed42 [--data ../shared/data/conll2003] \\
        [--files 20 --lines-per-file 2560] [--actors 1 2] [--backend auto] [--work runs/bench-ray]

The corpus is CoNLL-2003's train, valid and test sentences as raw text (words joined by spaces), repeated in
order as needed, written as `--files` files of `--lines-per-file` lines (20 x 2,560 = 51,200 sentences).
Each contender runs as a user runs it, a `bertner predict` process timed end to end:
- the anchor, plain `bertner predict` on all the files' lines in one file (one process, the model loaded once),
  with the library's default threads and, with `--plain-threads 0 1`, again with one thread, as each actor has;
- `bertner predict --engine ray --actors N` on the folder of files, a local Ray cluster of the machine's CPUs,
  each actor with one CPU and one thread (Ray's default for a one-CPU actor).
Each is also run on a one-sentence corpus: its fixed cost (process start, imports, Ray, model loads), so that
the rate net of that cost shows too. With `--lines-per-file` a multiple of `--chunk-size`, plain predict
tags the same chunks as the Ray actors do, so the outputs should match byte for byte; the diff is reported
as lines whose entities (start, end, type) differ, which must be none, and lines whose scores differ.
The CPU flags (lscpu) and the date are printed with the results; a JSON line at the end holds them all.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from infer_speed import cpu_flags

from bertner.data.conll import read_conll

SPLITS = ("train.txt", "valid.txt", "test.txt")


@dataclass(frozen=True)
class Timing:
    name: str
    seconds: float
    fixed_seconds: float
    sentences: int

    @property
    def per_second(self) -> float:
        return self.sentences / self.seconds

    @property
    def net_per_second(self) -> float:
        return self.sentences / max(self.seconds - self.fixed_seconds, 1e-9)


def write_corpus(data: Path, folder: Path, files: int, lines_per_file: int) -> list[Path]:
    """`files` text files of `lines_per_file` CoNLL sentences each, the corpus repeated as needed."""
    sentences = [" ".join(s.words) for split in SPLITS for s in read_conll(data / split)]
    folder.mkdir(parents=True)
    paths = []
    for f in range(files):
        lines = [sentences[(f * lines_per_file + i) % len(sentences)] for i in range(lines_per_file)]
        paths.append(folder / f"part-{f:03d}.txt")
        paths[-1].write_text("\n".join(lines) + "\n", encoding="utf-8")
    return paths


def _bertner(argv: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "bertner", "-q", "predict", *argv], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"bertner predict {' '.join(argv)} failed:\n{done.stderr[-3000:]}")
    return seconds


def run_plain(common: list[str], corpus: list[Path], output: Path) -> float:
    joined = output.with_suffix(".in.txt")
    with joined.open("wb") as stream:
        for path in corpus:
            stream.write(path.read_bytes())
    return _bertner([*common, "--input", str(joined), "--output", str(output)])


def run_ray(common: list[str], corpus_dir: Path, output: Path, actors: int) -> float:
    return _bertner(
        [*common, "--engine", "ray", "--actors", str(actors), "--input", str(corpus_dir), "--output", str(output)]
    )


def _diff_lines(expected: list[str], got: list[str]) -> dict[str, int]:
    """Lines whose entity spans and types (or text) differ, and lines that differ only in scores."""
    counts = {"lines": len(expected), "missing_or_extra_lines": abs(len(expected) - len(got))}
    entity_lines = score_lines = 0
    for a, b in zip(expected, got, strict=False):
        if a == b:
            continue
        left, right = json.loads(a), json.loads(b)
        spans = [[(e["start"], e["end"], e["type"]) for e in r["entities"]] for r in (left, right)]
        entity_lines += spans[0] != spans[1] or left["text"] != right["text"]
        score_lines += spans[0] == spans[1] and left["text"] == right["text"]
    return {**counts, "entity_lines_differing": entity_lines, "score_only_lines_differing": score_lines}


def diff(plain: Path, ray_dir: Path, corpus: list[Path]) -> dict[str, int]:
    """The Ray outputs, concatenated in corpus order, against plain predict's output."""
    got = [line for path in corpus for line in (ray_dir / path.with_suffix(".jsonl").name).read_text().splitlines()]
    return _diff_lines(plain.read_text(encoding="utf-8").splitlines(), got)


def diff_plain(plain: Path, other: Path) -> dict[str, int]:
    return _diff_lines(plain.read_text(encoding="utf-8").splitlines(), other.read_text(encoding="utf-8").splitlines())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/conll2003"))
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--lines-per-file", type=int, default=2560)
    parser.add_argument("--actors", type=int, nargs="*", default=[1, 2])
    parser.add_argument(
        "--plain-threads",
        type=int,
        nargs="+",
        default=[0, 1],
        help="plain predict's --threads, one run each; 0: the library's default (the first is the anchor)",
    )
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--chunk-size", type=int, default=512)
    parser.add_argument("--work", type=Path, default=Path("runs/bench-ray"), help="emptied first")
    args = parser.parse_args()

    shutil.rmtree(args.work, ignore_errors=True)
    corpus = write_corpus(args.data, args.work / "corpus", args.files, args.lines_per_file)
    tiny = args.work / "tiny"
    tiny.mkdir()
    (tiny / "one.txt").write_text(corpus[0].read_text(encoding="utf-8").split("\n", 1)[0] + "\n", encoding="utf-8")
    common = ["--model", args.model, "--backend", args.backend]
    common += ["--batch-size", str(args.batch_size), "--chunk-size", str(args.chunk_size)]
    sentences = args.files * args.lines_per_file
    print(f"date: {datetime.datetime.now().isoformat(timespec='seconds')}; machine: {cpu_flags()}")
    print(f"{sentences} sentences in {args.files} files; model {args.model}, backend {args.backend}")

    timings = []
    for threads in args.plain_threads:
        flags = [*common, "--threads", str(threads)] if threads else common
        name = f"plain predict, {f'{threads} thread' if threads else 'default threads'}"
        output = args.work / f"plain-{threads}.jsonl"
        seconds = run_plain(flags, corpus, output)
        fixed = run_plain(flags, [tiny / "one.txt"], args.work / f"plain-one-{threads}.jsonl")
        timings.append(Timing(name, seconds, fixed, sentences))
        print(f"{name}: {seconds:.1f} s, fixed cost {fixed:.1f} s", flush=True)
    plain = args.work / f"plain-{args.plain_threads[0]}.jsonl"
    diffs: dict[str, dict[str, int]] = {}
    for actors in args.actors:
        output = args.work / f"ray-{actors}"
        seconds = run_ray(common, args.work / "corpus", output, actors)
        fixed = run_ray(common, tiny, args.work / f"ray-one-{actors}", actors)
        timings.append(Timing(f"ray, {actors} actor{'s' if actors > 1 else ''}", seconds, fixed, sentences))
        print(f"{timings[-1].name}: {seconds:.1f} s, fixed cost {fixed:.1f} s", flush=True)
        diffs[f"ray {actors}"] = diff(plain, output, corpus)

    anchor = timings[0]
    print("| contender | wall s | sentences/s | x plain | fixed cost s | sentences/s net of it | x plain |")
    print("|---|---|---|---|---|---|---|")
    for t in timings:
        print(
            f"| {t.name} | {t.seconds:.1f} | {t.per_second:.0f} | {t.per_second / anchor.per_second:.2f} | "
            f"{t.fixed_seconds:.1f} | {t.net_per_second:.0f} | {t.net_per_second / anchor.net_per_second:.2f} |"
        )
    for threads in args.plain_threads[1:]:
        diffs[f"plain {threads}"] = diff_plain(plain, args.work / f"plain-{threads}.jsonl")
    for name, counts in diffs.items():
        print(f"diff, {name} vs {timings[0].name}: {counts}")
    print(json.dumps({"machine": cpu_flags(), "timings": [asdict(t) for t in timings], "diffs": diffs}))


if __name__ == "__main__":
    main()
