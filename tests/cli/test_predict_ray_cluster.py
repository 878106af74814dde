"""`bertner predict --engine ray --address` as a cluster user runs it: a head and a second node started with
`ray start`, one CPU each, and `bertner predict` in a process of its own, joining them with two actors.

The nodes are started with `--block` in sessions of their own and stopped by signalling those two processes,
never with `ray stop`, which stops every Ray process of the machine (other tests' and other users').
Token authentication is on, as `ray start` turns it on: each process gets the same random token.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bertner.cli import main
from bertner.labels import LabelSet
from tiny_models import write_random_run

RAY = str(Path(sys.executable).parent / "ray")
STARTUP_S = 180  # a loaded 2-core machine takes ~15 s to bring a node up; far more only when something is wrong


@dataclass(frozen=True)
class Cluster:
    address: str
    env: dict[str, str]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start(argv: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("wb") as stream:
        return subprocess.Popen(argv, stdout=stream, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def _wait_for(log: Path, text: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_S
    while text not in log.read_text(errors="replace"):
        assert process.poll() is None, log.read_text(errors="replace")
        assert time.monotonic() < deadline, f"{log.name}: no {text!r} in {STARTUP_S} s"
        time.sleep(0.5)


def _stop(nodes: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM to each `ray start --block`, which stops its node's processes; its process group if it hangs."""
    for node in nodes:
        if node.poll() is None:
            node.send_signal(signal.SIGTERM)
    for node in nodes:
        try:
            node.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(node.pid, signal.SIGKILL)
            node.wait()


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    # A short temp dir of its own: Ray's socket paths must fit in 107 bytes, and `ray start --head` records its
    # address there (not in /tmp/ray, where any `ray.init()` on the machine would find and join it).
    temp_dir = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))
    # No drain on SIGTERM (30 s by default): the test's nodes have nothing left to hand over when it stops them.
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    env["RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S"] = "0"
    env["RAY_worker_niceness"] = "0"  # not 15 steps nicer than the test: a busy machine starves such workers
    port = _free_port()
    head_argv = [RAY, "start", "--head", "--block", "--num-cpus", "1", "--port", str(port)]
    options = ["--include-dashboard=false", "--disable-usage-stats", "--temp-dir", str(temp_dir)]
    nodes = [_start([*head_argv, *options], temp_dir / "head.log", env)]
    try:
        _wait_for(temp_dir / "head.log", "Ray runtime started", nodes[0])
        address = f"127.0.0.1:{port}"
        node_argv = [RAY, "start", "--block", "--address", address, "--num-cpus", "1", "--disable-usage-stats"]
        nodes.append(_start(node_argv, temp_dir / "node.log", env))
        _wait_for(temp_dir / "node.log", "Ray runtime started", nodes[1])
        yield Cluster(address, env)
    finally:
        _stop(nodes)
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_predict_joins_a_two_node_cluster_and_writes_what_plain_predict_writes(
    cluster: Cluster, tiny_bert: Path, tmp_path: Path
) -> None:
    model = write_random_run(tiny_bert, tmp_path / "run", LabelSet.from_types(["LOC", "ORG", "PER"]), crf=True)
    corpus, out = tmp_path / "corpus", tmp_path / "out"
    (corpus / "web").mkdir(parents=True)
    texts = ["Tomas Berg moved to Aarhus .", "Quill hired Anika Lind in Lisbon .", "", "Berg left Quill ."]
    (corpus / "a.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    (corpus / "web" / "b.txt").write_text("\n".join(reversed(texts)), encoding="utf-8")
    (corpus / "c.jsonl").write_text("".join(json.dumps({"id": f"c{i}", "text": t}) + "\n" for i, t in enumerate(texts)))

    argv = [sys.executable, "-m", "bertner", "-q", "predict", "--engine", "ray", "--address", cluster.address]
    argv += ["--actors", "2", "--model", str(model), "--input", str(corpus), "--output", str(out)]
    # One CPU per node and two one-CPU actors, one on each node; Ray Data gives files to whichever is ready.
    done = subprocess.run(argv, env=cluster.env, capture_output=True, text=True, timeout=STARTUP_S + 120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "tagged 3 files (12 texts) with " in done.stdout

    for source, output in [("a.txt", "a.jsonl"), ("web/b.txt", "web/b.jsonl"), ("c.jsonl", "c.jsonl")]:
        plain = tmp_path / "plain.jsonl"
        assert (
            main(["-q", "predict", "--model", str(model), "--input", str(corpus / source), "--output", str(plain)]) == 0
        )
        assert (out / output).read_bytes() == plain.read_bytes()
    records = [json.loads(line) for line in (out / "c.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in records] == ["c0", "c1", "c2", "c3"]
    assert sum(len(r["entities"]) for r in records) > 0
