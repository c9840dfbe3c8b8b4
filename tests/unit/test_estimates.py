"""EWMA latency, queue estimate, circuit breaker, replica loads, windows."""

from __future__ import annotations

import pytest

from router.estimates import Estimates


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_ewma_and_queue_estimate() -> None:
    est = Estimates(alpha=0.5, edge_prior_ms=10.0, hosted_prior_ms=200.0)
    assert est.estimate_ms("r1") == 10.0
    assert est.estimate_ms("hosted:big", hosted=True) == 200.0
    est.begin("r1")
    est.end("r1", 20.0, ok=True)
    est.begin("r1")
    est.end("r1", 40.0, ok=True)
    assert est.stats("r1").ewma_ms == pytest.approx(30.0)
    est.begin("r1")
    est.begin("r1")
    assert est.estimate_ms("r1") == pytest.approx(30.0 * 3)  # two queued ahead
    est.begin("hosted:big")
    assert est.estimate_ms("hosted:big", hosted=True) == 200.0  # no queue model for hosted


def test_circuit_breaker_opens_probes_and_closes() -> None:
    clock = Clock()
    est = Estimates(breaker_failures=2, breaker_reset_s=5.0, clock=clock)
    for _ in range(2):
        est.begin("r")
        est.end("r", 1.0, ok=False)
    assert est.circuit("r") == "open"
    assert not est.replica_load("r", "ready").eligible
    clock.t += 5.0
    assert est.circuit("r") == "half-open"
    assert est.replica_load("r", "ready").eligible
    est.begin("r")  # the probe
    assert est.circuit("r") == "open"  # no second probe while one is out
    est.end("r", 1.0, ok=False)
    assert est.circuit("r") == "open"  # failed probe re-opens
    clock.t += 5.0
    est.begin("r")
    est.end("r", 3.0, ok=True)
    assert est.circuit("r") == "closed"
    assert est.stats("r").errors == 3 and est.stats("r").requests == 4


def test_replica_load_reflects_state_and_outstanding() -> None:
    est = Estimates(edge_prior_ms=7.0)
    assert est.replica_load("x", "starting").eligible is False
    est.begin("x")
    load = est.replica_load("x", "ready")
    assert load.eligible and load.outstanding == 1 and load.ewma_ms == 7.0


def test_window_rate_and_percentiles() -> None:
    clock = Clock()
    est = Estimates(clock=clock)
    for ms in range(1, 101):
        est.begin("r")
        est.end("r", float(ms), ok=True)
    rps, p50, p95 = est.window("r", seconds=10.0)
    assert rps == pytest.approx(10.0) and p50 == pytest.approx(50, abs=1) and p95 == pytest.approx(95, abs=1)
    clock.t += 11.0
    assert est.window("r", seconds=10.0) == (0.0, 0.0, 0.0)


def test_abandoned_calls_say_nothing_about_health() -> None:
    clock = Clock()
    est = Estimates(breaker_failures=1, breaker_reset_s=5.0, clock=clock)
    est.begin("r")
    est.abandon("r")  # cancelled by the caller, or cut at the router's own deadline
    assert est.circuit("r") == "closed" and est.stats("r").outstanding == 0
    assert est.stats("r").requests == 0 and est.stats("r").ewma_ms is None
    est.begin("r")
    est.end("r", 1.0, ok=False)
    clock.t += 5.0
    est.begin("r")  # the half-open probe...
    assert est.circuit("r") == "open"
    est.abandon("r")  # ...abandoned: the probe slot is free again
    assert est.circuit("r") == "half-open"
