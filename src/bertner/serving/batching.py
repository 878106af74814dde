"""Micro-batching: texts of requests that arrive together are tagged in one `Predictor.predict` call.

One worker task per event loop takes the first waiting request, then collects whatever else arrives within
`max_wait_s` (a few milliseconds) up to `max_texts` texts, and runs the predictor once on all of them in a
thread of its own, so that the event loop keeps accepting requests meanwhile. Each request gets back the
results of its own texts. A batch is worth it because a forward pass on 32 sentences costs far less than 32
passes on one (length-sorted windows, one padding, one call into the backend).

A request is never split: one that holds more than `max_texts` texts is tagged alone, in one call. While a
batch runs, the next requests queue up and form the next batch, so under load batches fill without waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

Result = TypeVar("Result")


@dataclass
class BatchStats:
    """What the batcher has done since it started: `batches` predictor calls for `requests` requests."""

    requests: int = 0
    texts: int = 0
    batches: int = 0
    largest_batch_texts: int = 0
    largest_batch_requests: int = 0
    failed_batches: int = 0

    def record(self, requests: int, texts: int) -> None:
        self.batches += 1
        self.requests += requests
        self.texts += texts
        self.largest_batch_texts = max(self.largest_batch_texts, texts)
        self.largest_batch_requests = max(self.largest_batch_requests, requests)

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass
class _Request(Generic[Result]):
    texts: list[str]
    future: asyncio.Future[list[Result]]


@dataclass
class _Worker(Generic[Result]):
    """The queue, task and predict thread of one event loop (an app may run in several loops, one after another,
    as in tests). One thread: batches run one after another, each with all of the backend's intra-op threads."""

    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[_Request[Result]] = field(default_factory=asyncio.Queue)
    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="bertner-predict")
    )
    task: asyncio.Task[None] | None = None


class MicroBatcher(Generic[Result]):
    """Collects concurrent `predict` calls into batches for `predict_batch` (a list of texts -> one result each).

    Args:
        predict_batch: the blocking batch function, e.g. `Predictor.predict`; it runs in a worker thread.
        max_wait_s: how long the first request of a batch waits for others to join it.
        max_texts: the most texts in one batch (a single larger request still runs, alone).
    """

    def __init__(self, predict_batch: Callable[[list[str]], list[Result]], max_wait_s: float, max_texts: int) -> None:
        if max_wait_s < 0:
            raise ValueError(f"max_wait_s must be at least 0, not {max_wait_s}")
        if max_texts < 1:
            raise ValueError(f"max_texts must be at least 1, not {max_texts}")
        self._predict_batch = predict_batch
        self.max_wait_s = max_wait_s
        self.max_texts = max_texts
        self.stats = BatchStats()
        self._worker: _Worker[Result] | None = None

    def start(self) -> None:
        """Start the worker task in the running event loop (idempotent; `predict` calls it too)."""
        loop = asyncio.get_running_loop()
        if self._worker is not None and self._worker.loop is loop and self._worker.task is not None:
            return
        worker: _Worker[Result] = _Worker(loop)
        worker.task = loop.create_task(self._run(worker), name="bertner-micro-batcher")
        self._worker = worker

    async def aclose(self) -> None:
        """Stop the worker task and its thread; requests still queued fail with RuntimeError."""
        worker, self._worker = self._worker, None
        if worker is None or worker.task is None:
            return
        worker.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker.task
        while not worker.queue.empty():
            request = worker.queue.get_nowait()
            if not request.future.done():
                request.future.set_exception(RuntimeError("the server is shutting down"))
        worker.executor.shutdown(wait=False, cancel_futures=True)

    async def predict(self, texts: Sequence[str]) -> list[Result]:
        """The results of `texts`, in order, computed together with other requests waiting at the same time."""
        if not texts:
            return []
        self.start()
        assert self._worker is not None
        future: asyncio.Future[list[Result]] = self._worker.loop.create_future()
        self._worker.queue.put_nowait(_Request(list(texts), future))
        return await future

    async def _run(self, worker: _Worker[Result]) -> None:
        carried: _Request[Result] | None = None
        while True:
            first = carried if carried is not None else await worker.queue.get()
            batch, carried = await self._collect(worker.queue, first)
            await self._run_batch(worker.executor, batch)

    async def _collect(
        self, queue: asyncio.Queue[_Request[Result]], first: _Request[Result]
    ) -> tuple[list[_Request[Result]], _Request[Result] | None]:
        """`first` and the requests that join it within the wait, up to `max_texts` texts; and the request that
        did not fit, if one came, to start the next batch."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait_s
        batch, count = [first], len(first.texts)
        while count < self.max_texts:
            try:
                request = queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    request = await asyncio.wait_for(queue.get(), remaining)
                except TimeoutError:
                    break
            if count + len(request.texts) > self.max_texts:
                return batch, request
            batch.append(request)
            count += len(request.texts)
        return batch, None

    async def _run_batch(self, executor: ThreadPoolExecutor, batch: list[_Request[Result]]) -> None:
        # A request whose client went away (its future cancelled) is not tagged.
        live = [request for request in batch if not request.future.done()]
        if not live:
            return
        texts = [text for request in live for text in request.texts]
        loop = asyncio.get_running_loop()
        try:
            results = await loop.run_in_executor(executor, self._predict_batch, texts)
            if len(results) != len(texts):
                raise RuntimeError(f"the predictor returned {len(results)} results for {len(texts)} texts")
        except asyncio.CancelledError:  # aclose() during a batch: nobody is left waiting forever
            for request in live:
                if not request.future.done():
                    request.future.set_exception(RuntimeError("the server is shutting down"))
            raise
        except Exception as error:  # every waiting request gets the error; the worker carries on
            logger.exception("tagging a batch of %d texts failed", len(texts))
            self.stats.failed_batches += 1
            for request in live:
                if not request.future.done():
                    request.future.set_exception(error)
            return
        self.stats.record(len(live), len(texts))
        position = 0
        for request in live:
            end = position + len(request.texts)
            if not request.future.done():
                request.future.set_result(results[position:end])
            position = end
