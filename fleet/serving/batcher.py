"""Dynamic batching for a text-model replica, after Triton's dynamic batcher.

Requests are queued by :meth:`DynamicBatcher.submit` (on the replica server's event loop) and one
worker task turns the queue into inferences of at most ``max_batch`` texts: it waits at most
``max_delay_us`` after the oldest queued request for others to join, and in ``adaptive`` mode only
while requests keep arriving (the wait is cut short when no request came within twice the measured
mean gap between arrivals, and skipped when that gap is longer than ``max_delay_us``: an idle replica
answers at once). Requests that arrive while an inference runs join the next batch whatever the
delay. A request is never split: one with more than ``max_batch`` texts runs on its own.

The inference runs in one worker thread (OpenVINO and the tokenizer release the GIL) or, for models
whose featurisation is Python-bound anyway (``inline``), on the event loop itself, which saves two
thread hand-offs per batch. Queue depth, texts and requests per inference and queue wait go to the
replica's :class:`fleet.serving.serving_stats.ServingStats` (and so to its Prometheus metrics).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from edgefleet.policy.batching_options import BatchingOptions
from fleet.serving.serving_stats import ServingStats

Outputs = dict[str, np.ndarray]
GAP_ALPHA = 0.2  # smoothing of the mean gap between arrivals


@dataclass
class _Pending:
    texts: list[str]
    future: asyncio.Future[tuple[float, Outputs]]
    arrived: float


class DynamicBatcher:
    """Coalesces concurrent :meth:`submit` calls into batched calls of ``infer(texts)``."""

    def __init__(
        self,
        infer: Callable[[list[str]], Outputs],
        options: BatchingOptions | None = None,
        *,
        stats: ServingStats | None = None,
        inline: bool = False,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._infer = infer
        self.options = options or BatchingOptions()
        self.stats = stats or ServingStats()
        self.inline = inline
        self._clock = clock
        self._queue: deque[_Pending] = deque()
        self._queued_texts = 0
        self._last_arrival = 0.0
        self.mean_gap_s = float("inf")  # EWMA of the time between arrivals
        self._wake: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None

    @property
    def queued(self) -> int:
        """Requests waiting for an inference."""
        return len(self._queue)

    async def submit(self, texts: list[str]) -> tuple[float, Outputs]:
        """Queue `texts`; returns (ms spent queued, their rows of every output)."""
        if self._worker is None:
            self._wake = asyncio.Event()
            self._worker = asyncio.get_running_loop().create_task(self._run())
        now = self._clock()
        if self._last_arrival:
            gap = now - self._last_arrival
            prev = self.mean_gap_s
            self.mean_gap_s = gap if prev == float("inf") else prev + GAP_ALPHA * (gap - prev)
        self._last_arrival = now
        future: asyncio.Future[tuple[float, Outputs]] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(texts, future, now))
        self._queued_texts += len(texts)
        self.stats.queued(+1)
        assert self._wake is not None
        self._wake.set()
        return await future

    def delay_s(self) -> float:
        """How long the worker may wait for the oldest queued request's batch to fill."""
        limit = self.options.max_delay_us / 1e6
        if not self.options.adaptive or limit <= 0.0:
            return limit
        return 0.0 if self.mean_gap_s >= limit else limit

    async def _run(self) -> None:
        wake = self._wake
        assert wake is not None
        max_batch = self.options.max_batch
        while True:
            if not self._queue:
                wake.clear()
                await wake.wait()
                continue
            delay = self.delay_s()
            if delay > 0.0 and self._queued_texts < max_batch:
                await self._fill(wake, self._queue[0].arrived + delay)
            batch = self._take(max_batch)
            if batch:
                await self._execute(batch)

    async def _fill(self, wake: asyncio.Event, deadline: float) -> None:
        """Wait for more requests until the batch is full or `deadline` (adaptive: or until
        arrivals stop for twice the mean gap)."""
        adaptive = self.options.adaptive
        while self._queued_texts < self.options.max_batch:
            until = deadline
            if adaptive:
                until = min(deadline, self._last_arrival + 2.0 * self.mean_gap_s)
            remaining = until - self._clock()
            if remaining <= 0.0:
                return
            wake.clear()
            try:
                await asyncio.wait_for(wake.wait(), remaining)
            except TimeoutError:
                if not adaptive:
                    return

    def _take(self, max_batch: int) -> list[_Pending]:
        """Whole requests from the head of the queue, at most `max_batch` texts (at least one request)."""
        batch: list[_Pending] = []
        texts = 0
        queue = self._queue
        while queue:
            head = queue[0]
            if batch and texts + len(head.texts) > max_batch:
                break
            queue.popleft()
            self._queued_texts -= len(head.texts)
            self.stats.queued(-1)
            if head.future.done():  # the caller left (cancelled RPC)
                continue
            batch.append(head)
            texts += len(head.texts)
        return batch

    async def _execute(self, batch: list[_Pending]) -> None:
        texts = batch[0].texts if len(batch) == 1 else [t for p in batch for t in p.texts]
        started = self._clock()
        try:
            if self.inline:
                outputs = self._infer(texts)
            else:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(1, thread_name_prefix="ov-batch")
                loop = asyncio.get_running_loop()
                outputs = await loop.run_in_executor(self._executor, self._infer, texts)
        except Exception as exc:  # noqa: BLE001 - every caller of the batch gets the error
            for p in batch:
                if not p.future.done():
                    p.future.set_exception(exc)
            return
        self.stats.batched(len(texts), len(batch), [(started - p.arrived) for p in batch])
        if len(batch) == 1:
            p = batch[0]
            if not p.future.done():
                p.future.set_result(((started - p.arrived) * 1000.0, outputs))
            return
        row = 0
        for p in batch:
            end = row + len(p.texts)
            if not p.future.done():
                part = {name: value[row:end] for name, value in outputs.items()}
                p.future.set_result(((started - p.arrived) * 1000.0, part))
            row = end

    async def close(self) -> None:
        """Stop the worker; queued requests fail with CancelledError."""
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        while self._queue:
            p = self._queue.popleft()
            self.stats.queued(-1)
            if not p.future.done():
                p.future.cancel()
        self._queued_texts = 0
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None
