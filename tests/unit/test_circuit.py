"""Circuit breaker transitions with a fake clock (router/circuit.py)."""

from __future__ import annotations

import pytest

from router.circuit import CircuitBreaker


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(failures: int = 3, reset_s: float = 10.0) -> tuple[CircuitBreaker, FakeClock]:
    clock = FakeClock()
    return CircuitBreaker(failures, reset_s, clock=clock), clock


def test_starts_closed_and_allows() -> None:
    breaker, _ = make()
    assert breaker.state == "closed"
    assert breaker.allow()
    assert breaker.retry_in_s() == 0.0


def test_opens_after_consecutive_failures_only() -> None:
    breaker, _ = make(failures=3)
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()  # resets the count
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state == "closed"
    breaker.record_failure()
    assert breaker.state == "open"
    assert not breaker.allow()
    assert breaker.consecutive_failures == 3


def test_half_open_after_reset_allows_exactly_one_probe() -> None:
    breaker, clock = make(failures=1, reset_s=10.0)
    breaker.record_failure()
    clock.now += 9.9
    assert breaker.state == "open"
    assert breaker.retry_in_s() == pytest.approx(0.1)
    clock.now += 0.1
    assert breaker.state == "half-open"
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # everyone else waits for the probe
    assert breaker.state == "half-open"


def test_probe_success_closes() -> None:
    breaker, clock = make(failures=2, reset_s=5.0)
    breaker.record_failure()
    breaker.record_failure()
    clock.now += 5.0
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state == "closed"
    assert breaker.consecutive_failures == 0
    assert breaker.allow() and breaker.allow()


def test_probe_failure_reopens_for_another_reset_period() -> None:
    breaker, clock = make(failures=2, reset_s=5.0)
    breaker.record_failure()
    breaker.record_failure()
    clock.now += 6.0
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state == "open"
    assert breaker.retry_in_s() == pytest.approx(5.0)
    clock.now += 5.0
    assert breaker.state == "half-open"


def test_ignored_outcome_frees_the_probe_slot_without_changing_state() -> None:
    breaker, clock = make(failures=1, reset_s=1.0)
    breaker.record_failure()
    clock.now += 1.0
    assert breaker.allow()
    breaker.record_ignored()
    assert breaker.state == "half-open"
    assert breaker.allow()


@pytest.mark.parametrize(("failures", "reset_s"), [(0, 1.0), (1, 0.0), (1, -1.0)])
def test_rejects_bad_settings(failures: int, reset_s: float) -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(failures, reset_s)


def test_repr_names_state() -> None:
    breaker, _ = make(failures=1)
    breaker.record_failure()
    assert "open" in repr(breaker)
