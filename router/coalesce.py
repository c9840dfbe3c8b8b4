"""Coalescing the router's calls to one replica: the router-side half of dynamic batching.

Each routed text would be one ``ModelInfer`` to its replica, and a gRPC call costs the router (and
the replica) far more than the few microseconds of routing logic around it. :class:`CallCoalescer`
keeps at most ``max_inflight`` calls per (replica address, model, version, task); a text that finds
them all busy waits, and when one returns, everything waiting (up to ``max_batch`` texts) goes in the
next call, whose outputs are split back per caller. An idle replica is called at once: there is no
timer, so a lone request never waits; under load, batches form by themselves ("batch while busy").

Each caller keeps its own deadline (a batch call gets the latest of its members'); a failed call
fails each of its callers with the same error. Calls with metadata (a trace's ``traceparent``) are
not coalesced, so each keeps its own trace context.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from router.domain import EdgeOutput
from router.errors import TargetError

Key = tuple[str, str, str, str]  # address, model, version, task
Send = Callable[[str, str, str, Sequence[str], str, float], Awaitable[list[EdgeOutput]]]


@dataclass
class _Waiter:
    texts: Sequence[str]
    deadline: float
    future: asyncio.Future[list[EdgeOutput]]


@dataclass
class _Lane:
    """Calls in flight to one key and the texts waiting for a free call."""

    inflight: int = 0
    waiting: deque[_Waiter] = field(default_factory=deque)


class CallCoalescer:
    """Merges concurrent ``infer`` calls to the same replica and model (see module docstring)."""

    def __init__(self, send: Send, *, max_batch: int = 32, max_inflight: int = 2) -> None:
        self._send = send
        self.max_batch = max_batch
        self.max_inflight = max(1, max_inflight)
        self._lanes: dict[Key, _Lane] = {}
        self.calls = 0  # calls sent (for tests and benchmarks)
        self.texts = 0  # texts sent in them

    async def infer(
        self, address: str, model: str, version: str, texts: Sequence[str], task: str, timeout_s: float
    ) -> list[EdgeOutput]:
        """The outputs of `texts`, sent alone or with other callers' texts to the same replica."""
        key = (address, model, version, task)
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane()
        if lane.inflight < self.max_inflight and not lane.waiting:
            lane.inflight += 1
            try:
                return await self._call(key, texts, timeout_s)
            finally:
                lane.inflight -= 1
                self._drain(key, lane)
        loop = asyncio.get_running_loop()
        waiter = _Waiter(texts, loop.time() + timeout_s, loop.create_future())
        lane.waiting.append(waiter)
        try:
            return await asyncio.wait_for(asyncio.shield(waiter.future), max(timeout_s, 0.001))
        except TimeoutError:
            raise TargetError(f"{model} at {address} timed out", timeout=True) from None
        finally:
            if not waiter.future.done():  # the caller left: its batch (if sent) drops its share
                waiter.future.cancel()

    async def _call(self, key: Key, texts: Sequence[str], timeout_s: float) -> list[EdgeOutput]:
        self.calls += 1
        self.texts += len(texts)
        address, model, version, task = key
        return await self._send(address, model, version, texts, task, timeout_s)

    def _drain(self, key: Key, lane: _Lane) -> None:
        """Send what waits on `lane` while it has free calls."""
        while lane.waiting and lane.inflight < self.max_inflight:
            batch: list[_Waiter] = []
            count = 0
            while lane.waiting:
                head = lane.waiting[0]
                if batch and count + len(head.texts) > self.max_batch:
                    break
                lane.waiting.popleft()
                if head.future.done():  # its caller gave up
                    continue
                batch.append(head)
                count += len(head.texts)
            if not batch:
                break
            lane.inflight += 1
            asyncio.get_running_loop().create_task(self._run_batch(key, lane, batch))

    async def _run_batch(self, key: Key, lane: _Lane, batch: list[_Waiter]) -> None:
        try:
            texts = [t for w in batch for t in w.texts]
            timeout_s = max(w.deadline for w in batch) - asyncio.get_running_loop().time()
            try:
                outputs = await self._call(key, texts, max(timeout_s, 0.001))
            except BaseException as exc:
                for w in batch:
                    if not w.future.done():
                        w.future.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
                return
            start = 0
            for w in batch:
                end = start + len(w.texts)
                if not w.future.done():
                    w.future.set_result(outputs[start:end])
                start = end
        finally:
            lane.inflight -= 1
            self._drain(key, lane)
