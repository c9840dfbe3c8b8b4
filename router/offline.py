"""Offline (degraded) mode: when the hosted tier cannot answer a request that wanted to escalate
(circuit open, unreachable, failing, rate limited, too slow), the router answers with the best edge
answer marked ``degraded`` with a reason, instead of an error.

This module names the reasons, turns a hosted failure or skip into one, and keeps the counts the
status, the dashboard and the metrics show (:class:`OfflineState`): degraded answers in all and in
the last minute, by reason, whether a hosted endpoint is down right now and why, and the length of
the deferred-escalation queue (:mod:`router.deferred`).
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from router.domain import COST_BUDGET, LATENCY_BUDGET
from router.errors import TargetError
from router.targets import hosted_down_reason

HOSTED_UNAVAILABLE = "hosted_unavailable"  # circuit open, unreachable, 5xx, a bad answer, no client
HOSTED_RATE_LIMITED = "hosted_rate_limited"  # HTTP 429: waiting out its Retry-After
HOSTED_TIMEOUT = "hosted_timeout"  # the hosted call timed out
NO_TIME_LEFT = "latency_budget"  # the hosted call would not fit the time left (it is slow, or the edge was)
REASONS = (HOSTED_UNAVAILABLE, HOSTED_RATE_LIMITED, HOSTED_TIMEOUT, NO_TIME_LEFT)
RECENT_S = 60.0
ACTIVE_S = 30.0  # a degraded answer this recent keeps the state "degraded"


def failure_reason(exc: TargetError) -> str:
    """The degraded reason of a failed hosted call."""
    if exc.rate_limited:
        return HOSTED_RATE_LIMITED
    if exc.timeout:
        return HOSTED_TIMEOUT
    return HOSTED_UNAVAILABLE


def skip_reason(category: str, message: str) -> str:
    """The degraded reason of a hosted candidate the router did not call ("" when skipping it was
    the caller's choice: its cost budget)."""
    if category == COST_BUDGET:
        return ""
    if category == LATENCY_BUDGET:
        return NO_TIME_LEFT
    return HOSTED_RATE_LIMITED if "rate limited" in message else HOSTED_UNAVAILABLE


@dataclass(frozen=True)
class OfflineSnapshot:
    """The router's degraded state (mirrors the Degraded proto of the fleet snapshot)."""

    active: bool
    reason: str  # the first hosted endpoint down and why, else the last degraded answer's reason
    answers: int  # degraded answers since the router started
    recent: int  # ... in the last minute
    by_reason: dict[str, int]
    deferred_queued: int = 0  # escalations waiting for the hosted tier (router.deferred)
    deferred_sent: int = 0
    deferred_refused: int = 0  # not queued: the queue was full


@dataclass
class _Counts:
    answers: int = 0
    by_reason: Counter[str] = field(default_factory=Counter)
    times: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))
    last_reason: str = ""


class OfflineState:
    """Counts of degraded answers, and the hosted tier's availability on demand."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._counts = _Counts()
        self._lock = threading.Lock()
        self.version = 0  # bumps on every degraded answer (the fleet watch notices it)

    def record(self, reason: str) -> None:
        """One answer was degraded for `reason`."""
        with self._lock:
            c = self._counts
            c.answers += 1
            c.by_reason[reason] += 1
            c.times.append(self._clock())
            c.last_reason = reason
            self.version += 1

    def snapshot(self, hosted: Mapping[str, Any], deferred: Any = None) -> OfflineSnapshot:
        """The state now: `hosted` are the hosted clients by name, `deferred` the
        router.deferred.DeferredEscalations (or None)."""
        now = self._clock()
        down = [(name, why) for name, client in hosted.items() if (why := hosted_down_reason(client))]
        with self._lock:
            c = self._counts
            while c.times and c.times[0] < now - RECENT_S:
                c.times.popleft()
            recent = len(c.times)
            latest = c.times[-1] if c.times else None
            last_reason, answers, by_reason = c.last_reason, c.answers, dict(c.by_reason)
        active = bool(down) or (latest is not None and latest >= now - ACTIVE_S)
        if down:
            reason = "; ".join(f"hosted {name!r} {why}" for name, why in down)
        else:
            reason = last_reason if active else ""
        counts = deferred.counts() if deferred is not None else (0, 0, 0)
        return OfflineSnapshot(active, reason, answers, recent, by_reason, *counts)
