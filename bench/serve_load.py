"""A bounded load on `bertner serve` over loopback: throughput, latency, errors and the server's peak memory.

    python bench/serve_load.py --model runs/minilm-plain-seed42 [--data ../shared/data/conll2003] \\
        [--clients 32] [--duration 60] [--sentences 1000] [--backend auto] [--threads 2] [--workers 1] \\
        [--batch-wait-ms 5] [--max-batch-texts 64] [--output serve_load.json]

Starts `bertner serve` in a subprocess on a free loopback port, waits for /health, warms up, then runs
`--clients` concurrent clients for `--duration` seconds, each sending one sentence per request ({"text": ...})
and waiting for the answer before the next (a closed loop). The sentences are the first N CoNLL-2003 test
sentences as raw text (words joined by spaces), taken in turn. The run then stops by itself and stops the server.

First, the anchor: offline `Predictor.predict` words/s on the same sentences with the same model, backend and
threads (in a process of its own); the served words/s is reported beside it (issue 10's target: at least half;
issue 23's: at least 0.7x).
Reports requests/s and words/s (of answered requests), p50/p99 latency, the number of 5xx answers and of other
errors (other statuses, broken connections, timeouts), the server's peak RSS (sampled every 0.1 s, the server
process and all its children, i.e. every worker) and its RSS once loaded, and the batching the server saw
(`/v1/stats`: with several workers, only the worker that answered that request). The clients are a minimal
HTTP/1.1 keep-alive client on asyncio, so that on a small machine the load generator takes little of the CPU it
shares with the server; its CPU seconds are reported beside the server's. Prints one JSON line, then a table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import psutil

from bertner.data.conll import read_conll
from bertner.data.corpus import find_split

FLAGS = ("avx512_bf16", "avx512_vnni", "amx_bf16", "amx_int8", "amx_tile")
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "conll2003"


def machine() -> dict[str, Any]:
    """The processor, its core count and the lscpu flags that decide bf16 and int8 speed."""
    text = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    flags = set(fields.get("Flags", "").split())
    return {
        "processor": fields.get("Model name", platform.processor() or platform.machine()).strip(),
        "cpus": os.cpu_count(),
        "flags": {flag: flag in flags for flag in FLAGS},
    }


def load_sentences(data: Path, count: int) -> list[str]:
    """The first `count` test sentences of a CoNLL folder (or file), as raw text: words joined by spaces."""
    path = find_split(data, "test") if data.is_dir() else data
    return [" ".join(sentence.words) for sentence in read_conll(path)[:count]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MemorySampler(threading.Thread):
    """Samples the RSS of a process and all its descendants until stopped; keeps the peak."""

    def __init__(self, pid: int, every_s: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.every_s = every_s
        self.peak = 0
        self.stopped = threading.Event()

    def rss(self) -> int:
        total = 0
        for process in [self.process, *self.process.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):  # a worker that ended between listing and reading
                total += process.memory_info().rss
        return total

    def cpu_seconds(self) -> float:
        total = 0.0
        for process in [self.process, *self.process.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                total += times.user + times.system
        return total

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                self.peak = max(self.peak, self.rss())
            except psutil.Error:
                return
            self.stopped.wait(self.every_s)


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    words: int = 0
    server_errors: int = 0
    other_errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)


class Connection:
    """One keep-alive HTTP/1.1 connection: POST a JSON body, read the status and the Content-Length body."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        lines = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
        headers = {name.strip().lower(): value.strip() for name, value in headers.items()}
        answer = await self.reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, answer

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None


async def client(port: int, bodies: list[tuple[bytes, int]], turn: list[int], deadline: float, tally: Tally) -> None:
    connection = Connection(port)
    while time.perf_counter() < deadline:
        body, words = bodies[turn[0] % len(bodies)]
        turn[0] += 1
        started = time.perf_counter()
        try:
            status, _ = await asyncio.wait_for(connection.post("/v1/ner", body), timeout=60)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError, IndexError):
            tally.other_errors += 1
            await connection.close()
            continue
        tally.statuses[status] = tally.statuses.get(status, 0) + 1
        if status == 200:
            tally.latencies.append(time.perf_counter() - started)
            tally.words += words
        elif status >= 500:
            tally.server_errors += 1
        else:
            tally.other_errors += 1
    await connection.close()


async def load(port: int, sentences: list[str], clients: int, seconds: float) -> tuple[Tally, float]:
    bodies = [(json.dumps({"text": text}).encode(), len(text.split())) for text in sentences]
    tally, turn = Tally(), [0]
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*(client(port, bodies, turn, deadline, tally) for _ in range(clients)))
    return tally, time.perf_counter() - started


def get_json(port: int, path: str) -> Any:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    if " 200 " not in status_line:
        raise RuntimeError(f"GET {path}: {status_line}")
    return json.loads(body)


def start_server(args: argparse.Namespace, port: int, log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "bertner", "-q", "serve", "--model", str(args.model), "--port", str(port)]
    command += ["--workers", str(args.workers), "--backend", args.backend]
    command += ["--batch-wait-ms", str(args.batch_wait_ms), "--max-batch-texts", str(args.max_batch_texts)]
    if args.threads is not None:
        command += ["--threads", str(args.threads)]
    with log.open("wb") as sink:
        return subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)


def wait_until_healthy(server: subprocess.Popen[bytes], port: int, log: Path, timeout_s: float = 300) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited ({server.returncode}):\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if get_json(port, "/health").get("status") == "ok":
                return time.perf_counter() - started
        except (OSError, RuntimeError, ValueError):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"the server did not answer /health within {timeout_s:.0f} s")


def stop_server(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM (uvicorn's graceful stop) to the server's process group, then SIGKILL after 20 s."""
    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(args: argparse.Namespace, sentences: list[str], log: Path) -> dict[str, Any]:
    port = free_port()
    server = start_server(args, port, log)
    try:
        startup_s = wait_until_healthy(server, port, log)
        sampler = MemorySampler(server.pid)
        sampler.start()
        model = get_json(port, "/v1/model")
        loaded_rss = sampler.rss()
        asyncio.run(load(port, sentences, args.clients, args.warmup))
        before = get_json(port, "/v1/stats")
        cpu_before, client_cpu_before = sampler.cpu_seconds(), time.process_time()
        tally, elapsed = asyncio.run(load(port, sentences, args.clients, args.duration))
        server_cpu, client_cpu = sampler.cpu_seconds() - cpu_before, time.process_time() - client_cpu_before
        after = get_json(port, "/v1/stats")
        sampler.stopped.set()
        sampler.join()
    finally:
        stop_server(server)
    batches = after["batches"] - before["batches"]
    answered = len(tally.latencies)
    return {
        "model": {key: model[key] for key in ("name", "kind", "backend", "encoder")},
        "startup_s": round(startup_s, 1),
        "seconds": round(elapsed, 2),
        "requests": answered + tally.server_errors + tally.other_errors,
        "answered": answered,
        "requests_per_s": round(answered / elapsed, 1),
        "words_per_s": round(tally.words / elapsed, 1),
        "latency_ms": {
            "p50": round(1000 * (percentile(tally.latencies, 0.50) or 0), 1),
            "p99": round(1000 * (percentile(tally.latencies, 0.99) or 0), 1),
            "mean": round(1000 * statistics.fmean(tally.latencies), 1) if tally.latencies else None,
        },
        "server_errors_5xx": tally.server_errors,
        "other_errors": tally.other_errors,
        "statuses": {str(status): count for status, count in sorted(tally.statuses.items())},
        "rss_mb": {"loaded": round(loaded_rss / 2**20), "peak": round(sampler.peak / 2**20)},
        "cpu_s": {"server": round(server_cpu, 1), "load_generator": round(client_cpu, 1)},
        "batching": {
            "batches": batches,
            "texts_per_batch": round((after["texts"] - before["texts"]) / batches, 1) if batches else None,
            "largest_batch_texts": after["largest_batch_texts"],
            "note": "one worker's counters" if args.workers > 1 else "the server's counters",
        },
    }


_OFFLINE = """
import json, sys, time
from bertner.inference.predictor import Predictor
model, backend, threads, texts = json.loads(sys.stdin.read())
predictor = Predictor.load(model, backend=backend, threads=threads)
predictor.predict(texts[:64])
times = []
for _ in range(3):
    started = time.perf_counter()
    predictor.predict(texts)
    times.append(time.perf_counter() - started)
print(min(times))
"""


def offline_words_per_s(args: argparse.Namespace, sentences: list[str]) -> float:
    """The anchor: `Predictor.predict` on the same sentences in one call (as `bertner predict` tags a file),
    best of three, in a process of its own with the server's backend and threads, before the server starts."""
    payload = json.dumps([str(args.model), args.backend, args.threads, sentences])
    seconds = subprocess.run(
        [sys.executable, "-c", _OFFLINE], input=payload, capture_output=True, text=True, check=True
    ).stdout.split()[-1]
    return round(sum(len(text.split()) for text in sentences) / float(seconds), 1)


def table(report: dict[str, Any]) -> str:
    result, latency = report["result"], report["result"]["latency_ms"]
    rows = [
        ("model", f"{result['model']['name']} ({result['model']['kind']}, {result['model']['backend']})"),
        ("load", f"{report['settings']['clients']} clients, {result['seconds']} s, {report['sentences']} sentences"),
        ("requests/s", result["requests_per_s"]),
        ("words/s", result["words_per_s"]),
        ("offline predict words/s (anchor)", f"{report['offline_words_per_s']} ({report['served_vs_offline']:.2f}x)"),
        ("latency p50 / p99", f"{latency['p50']} / {latency['p99']} ms"),
        ("5xx / other errors", f"{result['server_errors_5xx']} / {result['other_errors']}"),
        ("server RSS loaded / peak", f"{result['rss_mb']['loaded']} / {result['rss_mb']['peak']} MB"),
        ("CPU s server / load generator", f"{result['cpu_s']['server']} / {result['cpu_s']['load_generator']}"),
        ("texts per batch", result["batching"]["texts_per_batch"]),
        ("machine", f"{report['machine']['processor']}, {report['machine']['cpus']} CPUs"),
        ("flags", " ".join(f"{k}={'yes' if v else 'no'}" for k, v in report["machine"]["flags"].items())),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, type=Path, help="a run folder or an export folder")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="a CoNLL folder (its test split) or file")
    parser.add_argument("--sentences", type=int, default=1000, help="the first N test sentences")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of measured load")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of load before measuring")
    parser.add_argument("--backend", choices=["auto", "torch", "onnx"], default="auto")
    parser.add_argument("--threads", type=int, help="the server's intra-op threads per worker")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--batch-wait-ms", type=float, default=5.0)
    parser.add_argument("--max-batch-texts", type=int, default=64)
    parser.add_argument("--output", type=Path, help="also write the JSON report here")
    args = parser.parse_args()
    if args.clients < 1 or args.duration <= 0 or args.sentences < 1:
        parser.error("--clients and --sentences must be at least 1, --duration above 0")
    sentences = load_sentences(args.data, args.sentences)
    offline = offline_words_per_s(args, sentences)
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "server.log"
        result = measure(args, sentences, log)
    settings = ("clients", "duration", "warmup", "backend", "threads", "workers", "batch_wait_ms", "max_batch_texts")
    report = {
        "date": date.today().isoformat(),
        "machine": machine(),
        "sentences": len(sentences),
        "words": sum(len(text.split()) for text in sentences),
        "settings": {name: getattr(args, name) for name in settings},
        "result": result,
        "offline_words_per_s": offline,
        "served_vs_offline": round(result["words_per_s"] / offline, 3),
    }
    line = json.dumps(report)
    print(line)
    print(table(report))
    if args.output:
        args.output.write_text(line + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
