"""Soft state per target (edge replica id or ``hosted:NAME``): EWMA latency,
outstanding requests, error rate, a recent latency window, and a circuit breaker
for edge replicas. Owned by one router; nothing here is shared or persisted."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from edgefleet.stats import percentiles
from router.choose import ReplicaLoad


@dataclass
class TargetStats:
    """Everything the router knows about one target."""

    ewma_ms: float | None = None
    outstanding: int = 0
    requests: int = 0
    errors: int = 0
    error_ewma: float = 0.0
    consecutive_failures: int = 0
    open_until: float = 0.0  # monotonic time; breaker open while now < open_until
    half_open_probe: bool = False
    recent: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=256))  # (t, ms)


class Estimates:
    """Latency/queue estimates and circuit breakers, keyed by target id."""

    def __init__(
        self,
        alpha: float = 0.2,
        *,
        edge_prior_ms: float = 10.0,
        hosted_prior_ms: float = 200.0,
        breaker_failures: int = 3,
        breaker_reset_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.alpha = alpha
        self.edge_prior_ms = edge_prior_ms
        self.hosted_prior_ms = hosted_prior_ms
        self.breaker_failures = breaker_failures
        self.breaker_reset_s = breaker_reset_s
        self._clock = clock
        self._stats: dict[str, TargetStats] = {}

    def stats(self, key: str) -> TargetStats:
        """The stats of `key` (created empty on first use)."""
        st = self._stats.get(key)
        if st is None:
            st = self._stats[key] = TargetStats()
        return st

    def begin(self, key: str) -> None:
        """A call to `key` starts."""
        st = self.stats(key)
        st.outstanding += 1
        if st.open_until and self._clock() >= st.open_until:
            st.half_open_probe = True

    def end(self, key: str, ms: float, ok: bool) -> None:
        """A call to `key` ended after `ms`; failures feed the circuit breaker."""
        st = self.stats(key)
        st.outstanding = max(0, st.outstanding - 1)
        st.requests += 1
        st.error_ewma += self.alpha * ((0.0 if ok else 1.0) - st.error_ewma)
        if ok:
            st.ewma_ms = ms if st.ewma_ms is None else st.ewma_ms + self.alpha * (ms - st.ewma_ms)
            st.recent.append((self._clock(), ms))
            st.consecutive_failures = 0
            st.open_until = 0.0
            st.half_open_probe = False
            return
        st.errors += 1
        st.consecutive_failures += 1
        if st.half_open_probe or st.consecutive_failures >= self.breaker_failures:
            st.open_until = self._clock() + self.breaker_reset_s
            st.half_open_probe = False

    def circuit(self, key: str) -> str:
        """State: "closed", "open" or "half-open" (open, reset time passed: one probe allowed)."""
        st = self._stats.get(key)
        if st is None or not st.open_until:
            return "closed"
        if self._clock() < st.open_until or st.half_open_probe:
            return "open"
        return "half-open"

    def estimate_ms(self, key: str, *, hosted: bool = False) -> float:
        """Expected latency of a new call: EWMA plus a queue estimate (outstanding x EWMA)."""
        st = self._stats.get(key)
        prior = self.hosted_prior_ms if hosted else self.edge_prior_ms
        if st is None:
            return prior
        ewma = st.ewma_ms if st.ewma_ms is not None else prior
        queue = 0.0 if hosted else st.outstanding * ewma
        return ewma + queue

    def replica_load(self, replica_id: str, state: str) -> ReplicaLoad:
        """The plain-data view of a replica used by power_of_two_choices."""
        st = self._stats.get(replica_id)
        if st is None:
            return ReplicaLoad(replica_id, 0, self.edge_prior_ms, state == "ready")
        eligible = state == "ready" and self.circuit(replica_id) != "open"
        ewma = st.ewma_ms if st.ewma_ms is not None else self.edge_prior_ms
        return ReplicaLoad(replica_id, st.outstanding, ewma, eligible)

    def window(self, key: str, seconds: float = 60.0) -> tuple[float, float, float]:
        """(rps, p50 ms, p95 ms) of successful calls to `key` in the last `seconds`."""
        st = self._stats.get(key)
        if st is None:
            return 0.0, 0.0, 0.0
        cutoff = self._clock() - seconds
        values = [ms for t, ms in st.recent if t >= cutoff]
        if not values:
            return 0.0, 0.0, 0.0
        p50, p95 = percentiles(values, (50, 95), empty=0.0)
        return len(values) / seconds, p50, p95
