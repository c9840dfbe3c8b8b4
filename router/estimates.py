"""Soft state per target (edge replica id or ``hosted:NAME``): EWMA latency,
outstanding requests, error rate, a recent latency window, and a circuit breaker
(:class:`router.circuit.CircuitBreaker`, the same one the hosted client uses) for edge
replicas. Owned by one router; nothing here is shared or persisted."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from edgefleet.stats import percentiles
from router.choose import ReplicaLoad
from router.circuit import CircuitBreaker, CircuitStateName


@dataclass
class TargetStats:
    """Everything the router knows about one target."""

    ewma_ms: float | None = None
    outstanding: int = 0
    requests: int = 0
    errors: int = 0
    error_ewma: float = 0.0
    breaker: CircuitBreaker | None = None
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
        slow_call_s: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`slow_call_s`: an edge call that timed out after waiting at least this long counts
        against its replica (:meth:`timeout_counts`)."""
        self.alpha = alpha
        self.slow_call_s = slow_call_s
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
            breaker = CircuitBreaker(self.breaker_failures, self.breaker_reset_s, clock=self._clock)
            st = self._stats[key] = TargetStats(breaker=breaker)
        return st

    def begin(self, key: str) -> None:
        """A call to `key` starts (in half-open state it is the probe)."""
        st = self.stats(key)
        st.outstanding += 1
        assert st.breaker is not None
        if st.breaker.state == "half-open":
            st.breaker.allow()

    def end(self, key: str, ms: float, ok: bool) -> None:
        """A call to `key` ended after `ms`; the outcome feeds the circuit breaker."""
        st = self.stats(key)
        st.outstanding = max(0, st.outstanding - 1)
        st.requests += 1
        st.error_ewma += self.alpha * ((0.0 if ok else 1.0) - st.error_ewma)
        assert st.breaker is not None
        if ok:
            st.ewma_ms = ms if st.ewma_ms is None else st.ewma_ms + self.alpha * (ms - st.ewma_ms)
            st.recent.append((self._clock(), ms))
            st.breaker.record_success()
            return
        st.errors += 1
        st.breaker.record_failure()

    def timeout_counts(self, waited_s: float) -> bool:
        """Does a call that timed out after `waited_s` tell that its target is unhealthy? (A shorter
        wait was cut by the caller's budget.)"""
        return waited_s >= self.slow_call_s

    def abandon(self, key: str) -> None:
        """A call to `key` was ended by the caller (cancelled, or stopped by the router's own
        deadline): no latency sample, and nothing said about the target's health."""
        st = self.stats(key)
        st.outstanding = max(0, st.outstanding - 1)
        assert st.breaker is not None
        st.breaker.record_ignored()

    def circuit(self, key: str) -> CircuitStateName:
        """ "closed", "open" or "half-open"; a half-open circuit whose probe is out reads "open"."""
        st = self._stats.get(key)
        if st is None or st.breaker is None:
            return "closed"
        state = st.breaker.state
        return "open" if state == "half-open" and st.breaker.probing() else state

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
        eligible = state == "ready" and (st.breaker is None or st.breaker.available())
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
