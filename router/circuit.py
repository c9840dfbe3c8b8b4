"""The router's circuit breaker, one per target (an edge replica or a hosted endpoint): pure
state, injectable clock.

States:

* ``closed``    -- calls flow; consecutive failures are counted.
* ``open``      -- after ``failures`` consecutive failures every call is refused
  at once (no network traffic) until ``reset_s`` seconds have passed.
* ``half-open`` -- the reset time has passed: exactly ONE probe call is let
  through; its success closes the circuit, its failure opens it again for
  another ``reset_s``. Other callers are refused while the probe is in flight.

The breaker never sleeps and never does I/O; callers ask :meth:`allow` before a
call and report the outcome with :meth:`record_success`, :meth:`record_failure`
or :meth:`record_ignored` (an outcome that says nothing about the endpoint's
health, e.g. the caller's own deadline was too short).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Literal

CircuitStateName = Literal["closed", "open", "half-open"]


class CircuitBreaker:
    """Consecutive-failure circuit breaker (closed -> open -> half-open -> closed/open)."""

    def __init__(self, failures: int, reset_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        if failures < 1:
            raise ValueError(f"failures must be >= 1, got {failures}")
        if reset_s <= 0:
            raise ValueError(f"reset_s must be > 0, got {reset_s}")
        self.failure_threshold = failures
        self.reset_s = reset_s
        self._clock = clock
        self._lock = threading.Lock()
        self._consecutive_failures = 0
        self._opened_at: float | None = None  # set while open / half-open
        self._probe_in_flight = False

    @property
    def state(self) -> CircuitStateName:
        """The current state; ``half-open`` once an open circuit's reset time has passed."""
        with self._lock:
            return self._state_locked()

    @property
    def consecutive_failures(self) -> int:
        """Failures since the last success."""
        return self._consecutive_failures

    def retry_in_s(self) -> float:
        """Seconds until an open circuit lets a probe through (0 when not open)."""
        with self._lock:
            if self._opened_at is None:
                return 0.0
            return max(0.0, self._opened_at + self.reset_s - self._clock())

    def available(self) -> bool:
        """Could a call go out now, without claiming anything? (closed, or half-open with the probe
        slot free): what replica selection asks before it picks."""
        with self._lock:
            state = self._state_locked()
            return state == "closed" or (state == "half-open" and not self._probe_in_flight)

    def probing(self) -> bool:
        """True while the single half-open probe is in flight."""
        return self._probe_in_flight

    def allow(self) -> bool:
        """May a call go out now? In half-open state this claims the single probe slot."""
        with self._lock:
            state = self._state_locked()
            if state == "closed":
                return True
            if state == "half-open" and not self._probe_in_flight:
                self._probe_in_flight = True
                return True
            return False

    def record_success(self) -> None:
        """A call succeeded: close the circuit and reset the failure count."""
        with self._lock:
            self._consecutive_failures = 0
            self._opened_at = None
            self._probe_in_flight = False

    def record_failure(self) -> None:
        """A call failed: count it; open (or re-open) the circuit when due."""
        with self._lock:
            self._consecutive_failures += 1
            probing = self._probe_in_flight
            self._probe_in_flight = False
            if probing or self._opened_at is not None:
                self._opened_at = self._clock()  # failed probe: open for another reset_s
            elif self._consecutive_failures >= self.failure_threshold:
                self._opened_at = self._clock()

    def record_ignored(self) -> None:
        """A call ended without telling anything about the endpoint: free the probe slot."""
        with self._lock:
            self._probe_in_flight = False

    def _state_locked(self) -> CircuitStateName:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self.reset_s:
            return "half-open"
        return "open"

    def __repr__(self) -> str:
        return (
            f"CircuitBreaker(state={self.state!r}, failures={self._consecutive_failures}/"
            f"{self.failure_threshold}, reset_s={self.reset_s})"
        )
