"""Serving statistics of an LLM replica: the common ones (:class:`ServingStats`) plus output
tokens per second, time to first token (p50/p95) and how many requests wait for their first token.

Called from the engine's step thread once per request per step (:meth:`tokens`) and once per
request (:meth:`first_token`): each call is a lock and a deque append.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

from edgefleet.stats import percentiles
from fleet.serving.serving_stats import ServingStats, StatsSnapshot

LLM_STAT_KEYS = ("tokens_per_s", "ttft_p50_ms", "ttft_p95_ms", "generating", "completion_tokens")


@dataclass
class GenerationStatsSnapshot(StatsSnapshot):
    """A :class:`StatsSnapshot` with the generation figures. ``queue_depth`` counts requests still
    waiting for their first token; ``generating`` those producing tokens."""

    tokens_per_s: float = 0.0
    ttft_p50_ms: float = 0.0
    ttft_p95_ms: float = 0.0
    generating: int = 0
    completion_tokens: int = 0


class GenerationStats(ServingStats):
    """ServingStats plus token throughput and time to first token (over the last `window_s`
    seconds and `keep` requests)."""

    def __init__(self, window_s: float = 10.0, keep: int = 1024) -> None:
        super().__init__(window_s, keep)
        self._ttft_ms: deque[float] = deque(maxlen=keep)
        self._token_times: deque[tuple[float, int]] = deque()
        self._window_tokens = 0
        self.completion_tokens = 0
        self.generating = 0

    def waiting(self, delta: int) -> None:
        """A request started (+1) or stopped (-1) waiting for its first token."""
        self.queued(delta)

    def first_token(self, ttft_ms: float) -> None:
        """A request got its first token `ttft_ms` after it arrived."""
        with self._lock:
            self._ttft_ms.append(ttft_ms)
            self.generating += 1
        if self.metrics is not None:
            self.metrics.observe_ttft(ttft_ms / 1000.0)

    def tokens(self, n: int) -> None:
        """`n` output tokens were generated."""
        now = time.monotonic()
        with self._lock:
            self.completion_tokens += n
            self._token_times.append((now, n))
            self._window_tokens += n
            self._trim_tokens(now)

    def stopped_generating(self) -> None:
        """A request that had produced tokens finished."""
        with self._lock:
            self.generating = max(0, self.generating - 1)

    def _trim_tokens(self, now: float) -> None:
        while self._token_times and self._token_times[0][0] < now - self._window_s:
            self._window_tokens -= self._token_times.popleft()[1]

    def snapshot(self) -> GenerationStatsSnapshot:
        """Current statistics."""
        base = super().snapshot()
        now = time.monotonic()
        with self._lock:
            self._trim_tokens(now)
            span = min(self._window_s, max(now - self._started, 1e-3))
            p50, p95 = percentiles(self._ttft_ms, (50, 95), empty=0.0)
            return GenerationStatsSnapshot(
                **vars(base),
                tokens_per_s=self._window_tokens / span,
                ttft_p50_ms=float(p50),
                ttft_p95_ms=float(p95),
                generating=self.generating,
                completion_tokens=self.completion_tokens,
            )
