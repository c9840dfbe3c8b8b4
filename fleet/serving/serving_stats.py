"""Thread-safe serving statistics of one replica: counts, rate, latency percentiles, queue."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Protocol

from edgefleet.stats import percentiles


class StatsSink(Protocol):
    """Where the statistics also go, request by request (the replica's Prometheus histograms,
    :class:`fleet.serving.replica_metrics.ReplicaMetrics`)."""

    def observe_request(self, latency_s: float) -> None:
        """One request finished."""
        ...

    def observe_batch(self, texts: int) -> None:
        """One inference with `texts` texts."""
        ...

    def observe_coalesced(self, requests: int, waits_s: list[float]) -> None:
        """One dynamic batch: `requests` requests coalesced, each after waiting `waits_s` in the queue."""
        ...

    def observe_ttft(self, ttft_s: float) -> None:
        """One generation's first token."""
        ...


@dataclass
class StatsSnapshot:
    """A point-in-time copy of a replica's serving statistics."""

    requests: int
    errors: int
    rps: float
    p50_ms: float
    p95_ms: float
    queue_depth: int
    inflight: int
    recent_p95_ms: float = 0.0  # p95 of the requests finished in the last window_s (autoscaling)

    def as_dict(self) -> dict[str, float]:
        """Plain dict (for health reports)."""
        return {k: float(v) for k, v in asdict(self).items()}


class ServingStats:
    """Counts requests and errors, keeps recent latencies and completion times, tracks queueing.

    `rps` is measured over the last `window_s` seconds; percentiles over the last `keep` requests.
    """

    def __init__(self, window_s: float = 10.0, keep: int = 1024) -> None:
        self._lock = threading.Lock()
        self._window_s = window_s
        self._latencies_ms: deque[float] = deque(maxlen=keep)
        self._done_at: deque[float] = deque()
        self._recent_ms: deque[float] = deque()  # latencies of the requests in _done_at
        self.requests = 0
        self.errors = 0
        self.queue_depth = 0
        self.inflight = 0
        self.batches = 0  # dynamic batches run (text models)
        self.batched_texts = 0
        self._started = time.monotonic()
        self.metrics: StatsSink | None = None

    def enter(self) -> int:
        """A request arrived; returns the number in flight including it."""
        with self._lock:
            self.inflight += 1
            return self.inflight

    def leave(self, latency_ms: float, ok: bool) -> None:
        """A request finished (successfully or not) after `latency_ms`."""
        now = time.monotonic()
        with self._lock:
            self.inflight -= 1
            self.requests += 1
            if not ok:
                self.errors += 1
            self._latencies_ms.append(latency_ms)
            self._done_at.append(now)
            self._recent_ms.append(latency_ms)
            self._trim(now)
        if self.metrics is not None:
            self.metrics.observe_request(latency_ms / 1000.0)

    def batch(self, texts: int) -> None:
        """An inference request carried `texts` texts."""
        if self.metrics is not None:
            self.metrics.observe_batch(texts)

    def batched(self, texts: int, requests: int, waits_s: list[float]) -> None:
        """One dynamic batch ran: `texts` texts of `requests` requests, queued for `waits_s`."""
        with self._lock:
            self.batches += 1
            self.batched_texts += texts
        if self.metrics is not None:
            self.metrics.observe_batch(texts)
            self.metrics.observe_coalesced(requests, waits_s)

    def queued(self, delta: int) -> None:
        """A request started (+1) or stopped (-1) waiting for an inference slot."""
        with self._lock:
            self.queue_depth += delta

    def _trim(self, now: float) -> None:
        while self._done_at and self._done_at[0] < now - self._window_s:
            self._done_at.popleft()
            self._recent_ms.popleft()

    def snapshot(self) -> StatsSnapshot:
        """Current statistics."""
        now = time.monotonic()
        with self._lock:
            self._trim(now)
            span = min(self._window_s, max(now - self._started, 1e-3))
            p50, p95 = percentiles(self._latencies_ms, (50, 95), empty=0.0)
            (recent_p95,) = percentiles(self._recent_ms, (95,), empty=0.0)
            return StatsSnapshot(
                requests=self.requests,
                errors=self.errors,
                rps=len(self._done_at) / span,
                p50_ms=float(p50),
                p95_ms=float(p95),
                queue_depth=self.queue_depth,
                inflight=self.inflight,
                recent_p95_ms=float(recent_p95),
            )
