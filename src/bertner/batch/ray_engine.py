"""Corpus-scale batch inference on Ray Data: `bertner predict --engine ray`.

    files = pending(corpus_files("corpus/", Path("tagged/")))
    with ray_cluster(address=None):                          # a local cluster, or join one: "auto", "host:6379"
        for done in tag_corpus(files, PredictorOptions("runs/mine"), actors=2):
            ...

The pipeline is Ray Data's own: `read_binary_files` reads each file (one block per file, so that the
actor pool shares out files, not blocks of files), and `map_batches` hands the files, one per call, to a
pool of actors (`ActorPoolStrategy`), each holding one `Predictor` loaded once in its constructor. An actor
parses a file's lines as plain `predict` does (data/textinput.py), tags them in the same chunks through the
same code (batch/tagged_lines.py) and writes the file's output atomically, so the lines are the ones
plain `predict` writes for that file, in input order, and an output file that exists is complete.
Not `read_text` or `read_json`: `read_text` splits lines with `str.splitlines` (on `\x0b`, U+2028, ... too,
so output line N would not be input line N), and `read_json` puts ids into Arrow columns, where a file
whose ids mix strings and numbers fails; plain predict's reader splits on `\n` only and keeps any JSON id.

A file is the unit of work: it is held in memory whole while it is tagged (split a huge file into shards),
and a failed file fails the job with its `path:line: what` error; the files finished before stay finished.
Outputs are written by the actors, as Ray Data's own writers do: on a cluster of several machines the output
folder (and the input) must be on storage every node sees, at the same path.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import io
import logging
import os
import socket
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from bertner.batch.corpus_files import CorpusFile
from bertner.batch.tagged_lines import tag_records
from bertner.data.textinput import read_records
from bertner.errors import MissingExtraError
from bertner.files import write_text_atomic
from bertner.inference.predictor import Predictor

logger = logging.getLogger(__name__)


def import_ray() -> Any:
    """The `ray` module with Ray Data, or an ImportError that names the extra to install."""
    try:
        import ray
        import ray.data
    except ImportError as error:
        raise MissingExtraError("the Ray engine needs Ray Data: pip install 'bertner[ray]'") from error
    return ray


@dataclass(frozen=True)
class PredictorOptions:
    """How each actor loads its Predictor: the arguments of `Predictor.load`. `threads` None: one thread."""

    model: str
    backend: str = "auto"
    threads: int | None = None
    batch_size: int = 8
    chunk_size: int = 512
    min_score: float = 0.0
    bf16: bool | str = "auto"

    def load(self) -> Predictor:
        threads = self.threads or 1
        return Predictor.load(
            self.model, self.backend, threads, self.batch_size, self.chunk_size, self.min_score, bf16=self.bf16
        )


@dataclass(frozen=True)
class TaggedFile:
    """One file tagged: its output, how many texts it held, the seconds its actor spent on it, and which
    actor (`host:pid`) that was."""

    source: str
    output: str
    texts: int
    seconds: float
    worker: str


class FileTagger:
    """The callable class of `map_batches`: one Predictor per actor, a batch of files per call."""

    def __init__(self, options: PredictorOptions, files: dict[str, CorpusFile]) -> None:
        self.predictor: Predictor | None = None
        self.load_error: Exception | None = None
        try:
            self.predictor = options.load()
        except (ValueError, OSError, ImportError) as error:
            # A model that cannot be loaded (a bad folder, a missing extra) fails the first file instead: Ray
            # reports an error raised in a constructor as the actor's death, with the cause only as text, and an
            # error raised in a call as itself, so the user reads the loader's one-line message.
            self.load_error = error
        self.files = files
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        # As in plain predict: the model lives as long as the actor, out of the collector's generations.
        gc.collect()
        gc.freeze()

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        if self.predictor is None:
            assert self.load_error is not None
            raise self.load_error
        done: list[TaggedFile] = []
        for path, data in zip(batch["path"], batch["bytes"], strict=True):
            file = self.files[_key(path)]
            start = time.perf_counter()
            records = read_records(io.BytesIO(data), str(file.source), file.format)
            lines = [line for chunk in tag_records(self.predictor, records) for line in chunk]
            write_text_atomic(file.output, "".join(lines))
            done.append(
                TaggedFile(str(file.source), str(file.output), len(lines), time.perf_counter() - start, self.worker)
            )
        return {field.name: [getattr(d, field.name) for d in done] for field in dataclasses.fields(TaggedFile)}


def _key(path: str) -> str:
    # Ray names a local file by its path without a scheme; both sides use the absolute path.
    return os.path.abspath(path.removeprefix("local://"))


def _unwrap(error: BaseException) -> BaseException:
    """The error raised in an actor, out of Ray's wrappers, so that a bad file reads `path:line: what`."""
    while isinstance(getattr(error, "cause", None), BaseException) and error.cause is not error:  # type: ignore[attr-defined]
        error = error.cause  # type: ignore[attr-defined]
    return error


def tag_corpus(
    files: Sequence[CorpusFile], options: PredictorOptions, actors: int | None = None, progress: bool = True
) -> Iterator[TaggedFile]:
    """Tag `files` on the connected Ray cluster, yielding each file as its output is written (in no set order).

    Args:
        actors: a fixed pool of this many actors, each with `options.threads` CPUs (1 by default);
            None: Ray's autoscaling pool, from one actor to as many as the cluster's CPUs hold.
        progress: Ray Data's progress bars on stderr.
    """
    ray = import_ray()
    if not files:
        return
    if actors is not None and actors < 1:
        raise ValueError(f"actors must be at least 1, not {actors}")
    by_path = {_key(str(file.source)): file for file in files}
    # Reading is I/O: a read task holds no CPU, so it never waits for one behind actors that hold them all.
    dataset = ray.data.read_binary_files(
        list(by_path), include_paths=True, num_cpus=0, override_num_blocks=len(by_path)
    )
    pool = ray.data.ActorPoolStrategy(size=actors) if actors else ray.data.ActorPoolStrategy(min_size=1)
    dataset = dataset.map_batches(
        FileTagger,
        batch_size=1,
        compute=pool,
        fn_constructor_args=(options, by_path),
        num_cpus=options.threads or 1,
    )
    dataset.context.enable_progress_bars = progress
    # A file's error reaches us as raised (a ValueError naming path:line), not as a UserCodeException.
    dataset.context.raise_original_map_exception = True
    try:
        for row in dataset.iter_rows():
            yield TaggedFile(**{field.name: row[field.name] for field in dataclasses.fields(TaggedFile)})
    except ray.exceptions.RayError as error:
        raise _unwrap(error) from error


@contextlib.contextmanager
def ray_cluster(address: str | None = None, num_cpus: int | None = None) -> Iterator[None]:
    """Connected to Ray for the block: the cluster at `address` ("auto": the one started on this machine with
    `ray start`), or, with None, a new local cluster of `num_cpus` CPUs (None: all) shut down at the end.
    A program that has already called `ray.init` keeps its connection."""
    ray = import_ray()
    if ray.is_initialized():
        if address is not None:
            logger.warning("already connected to Ray, so not joining %s: tagging on the cluster connected to", address)
        yield
        return
    if address is None:
        # "local", not ray.init()'s default: that joins whichever cluster `ray start` last started here.
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False)
    else:
        ray.init(address=address)
    try:
        yield
    finally:
        ray.shutdown()
