"""Data-parallel training (issue 13): what bertner does around the HF Trainer's own DDP.

`torchrun --nproc_per_node N -m bertner train ...` (or `accelerate launch`) starts N processes. The Trainer
and Accelerate do the data parallelism: torch.distributed (gloo on CPU, NCCL on GPUs), DistributedDataParallel,
each process's share of the batches, checkpoints written by rank 0 with one RNG file per rank. This module
holds what bertner adds around that, all through Accelerate's `PartialState` and its collectives:

- One process owns the run folder. Rank 0 takes the lock, writes the incomplete marker, config, labels,
  metrics.jsonl, TensorBoard logs and the final model; the others wait at a barrier (`wait_for_everyone`).
- Decisions about the folder are rank 0's and broadcast (`from_main`): which checkpoint `--resume` continues
  from (rank 0 deletes one cut short by a kill), or that the folder is busy.
- Word-level evaluation is split by sentence (`shard`) and the predictions gathered in order
  (`gather_in_order`), so that every rank scores the same predictions and takes the same best-epoch and
  early-stopping decisions.

The run folder must be on a file system every node sees (as the Trainer's own checkpoints assume): each
rank loads the best checkpoint at the end, and a resume's checkpoint, from it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import torch

from bertner.data.encoding import Window
from bertner.training.lock import RunLock

T = TypeVar("T")


@dataclass(frozen=True)
class Processes:
    """This process's place among the processes of one training run: 1 process unless a launcher started N."""

    index: int = 0
    """Global rank, 0 to count - 1."""
    count: int = 1
    """World size: processes over all nodes."""

    @property
    def is_main(self) -> bool:
        return self.index == 0


ONE_PROCESS = Processes()


def current_processes() -> Processes:
    """The processes of this run. Under `torchrun` or `accelerate launch` this starts torch.distributed the way
    the Trainer does (Accelerate's `PartialState`: gloo on CPU, NCCL on GPUs); otherwise it is 1 process."""
    from accelerate import PartialState

    state = PartialState(cpu=not torch.cuda.is_available())
    return Processes(state.process_index, state.num_processes)


def wait_for_everyone(processes: Processes) -> None:
    """A barrier over all processes of the run (nothing with one)."""
    if processes.count > 1:
        from accelerate import PartialState

        PartialState().wait_for_everyone()


def leave(processes: Processes) -> None:
    """Tear down this process's part of torch.distributed once it has made its last collective call (nothing
    with one process). Left to interpreter exit, the process group's native threads can be destroyed in the
    wrong order and abort a rank that had finished ("terminate called without an active exception")."""
    if processes.count > 1:
        from accelerate import PartialState

        PartialState().destroy_process_group()


@contextlib.contextmanager
def local_main_first(processes: Processes) -> Iterator[None]:
    """Run the block in the first process of each node, then in the others: for per-node caches (an encoder
    assembled on first use), which the first fills and the others then read."""
    if processes.count == 1:
        yield
        return
    from accelerate import PartialState

    with PartialState().local_main_process_first():
        yield


def from_main(processes: Processes, compute: Callable[[], T]) -> T:
    """`compute()` run by rank 0 alone; every rank returns its value, or raises the error it raised."""
    if processes.count == 1:
        return compute()
    from accelerate.utils import broadcast_object_list

    outcome: list[Any] = [None, None]
    if processes.is_main:
        try:
            outcome = [compute(), None]
        except Exception as failure:  # sent to the other ranks, then raised here too
            outcome = [None, failure]
    broadcast_object_list(outcome, from_process=0)
    value, raised = outcome
    if raised is not None:
        raise raised
    return value


@contextlib.contextmanager
def folder_lock(run_dir: Path, processes: Processes) -> Iterator[None]:
    """Rank 0 holds the run folder's lock (training/lock.py) for the block; if another run holds it, every rank
    raises RunFolderBusyError. The other ranks hold nothing: they write into the folder only through rank 0."""
    lock = RunLock(run_dir)
    from_main(processes, lock.acquire)
    try:
        yield
    finally:
        if processes.is_main:
            lock.release()


def shard(count: int, processes: Processes) -> range:
    """This process's contiguous share of `count` items: shares differ in size by at most 1, and in rank order
    they are range(count)."""
    share, extra = divmod(count, processes.count)
    start = processes.index * share + min(processes.index, extra)
    return range(start, start + share + (1 if processes.index < extra else 0))


def shard_windows(windows: Sequence[Window], sentences: range) -> list[Window]:
    """The windows of `sentences` (a `shard`), renumbered so that its first sentence is sentence 0."""
    return [replace(w, sentence=w.sentence - sentences.start) for w in windows if w.sentence in sentences]


def gather_in_order(items: Sequence[T], processes: Processes) -> list[T]:
    """Every process's `items` (its `shard`'s results), concatenated in rank order, on every process."""
    if processes.count == 1:
        return list(items)
    from accelerate.utils import gather_object

    return list(gather_object(list(items)))
