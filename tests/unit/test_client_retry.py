"""client.retry: backoff, which errors are retried, and a call's deadline shared by its attempts."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest

from client.errors import DeadlineExceeded, InvalidArgument, Overloaded, Unauthenticated, Unavailable
from client.retry import Deadline, RetryPolicy, acall_with_retry, call_with_retry
from tests.unit.client_fakes import FakeClock, FakeRpcError

UNAVAILABLE = FakeRpcError(grpc.StatusCode.UNAVAILABLE, "router down")
EXHAUSTED = FakeRpcError(grpc.StatusCode.RESOURCE_EXHAUSTED, "max_inflight reached")
INVALID = FakeRpcError(grpc.StatusCode.INVALID_ARGUMENT, "no input")


class Script:
    """An attempt function: raises the scripted errors in turn, then answers "ok"."""

    def __init__(self, *errors: grpc.RpcError) -> None:
        self.errors = list(errors)
        self.timeouts: list[float | None] = []

    def __call__(self, timeout: float | None) -> str:
        self.timeouts.append(timeout)
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def _run(script: Script, policy: RetryPolicy, timeout_s: float | None, clock: FakeClock) -> Any:
    return call_with_retry(script, policy, timeout_s, sleep=clock.sleep, clock=clock, rand=lambda: 0.5)


def test_backoff_grows_exponentially_up_to_the_cap_with_bounded_jitter() -> None:
    policy = RetryPolicy(initial_backoff_s=0.1, max_backoff_s=0.5, multiplier=2.0, jitter=0.2)
    assert [policy.backoff_s(n, 0.5) for n in (1, 2, 3, 4)] == pytest.approx([0.1, 0.2, 0.4, 0.5])
    assert policy.backoff_s(1, 0.0) == pytest.approx(0.08) and policy.backoff_s(1, 0.999999) == pytest.approx(
        0.12
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0},
        {"initial_backoff_s": 1.0, "max_backoff_s": 0.5},
        {"multiplier": 0.5},
        {"jitter": 1.0},
    ],
)
def test_bad_policies_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)


def test_next_delay_gives_up_on_fatal_codes_spent_attempts_and_short_deadlines() -> None:
    policy = RetryPolicy(max_attempts=3, initial_backoff_s=0.1)
    assert policy.next_delay(Unavailable("x"), 1, None, 0.5) == pytest.approx(0.1)
    assert policy.next_delay(Overloaded("x"), 2, 10.0, 0.5) == pytest.approx(0.2)
    assert policy.next_delay(InvalidArgument("x"), 1, None, 0.5) is None
    assert policy.next_delay(Unauthenticated("x"), 1, None, 0.5) is None
    assert policy.next_delay(Unavailable("x"), 3, None, 0.5) is None  # no attempts left
    assert policy.next_delay(Unavailable("x"), 1, 0.05, 0.5) is None  # would outlast the deadline
    assert RetryPolicy.never().next_delay(Unavailable("x"), 1, None, 0.5) is None


def test_unavailable_and_overloaded_are_retried_with_backoff_until_an_answer() -> None:
    clock = FakeClock()
    script = Script(UNAVAILABLE, EXHAUSTED)
    assert _run(script, RetryPolicy(max_attempts=3), 5.0, clock) == "ok"
    assert clock.sleeps == pytest.approx([0.1, 0.2])
    assert script.timeouts == pytest.approx([5.0, 4.9, 4.7])  # each attempt gets what is left


def test_invalid_argument_is_never_retried() -> None:
    clock = FakeClock()
    script = Script(INVALID)
    with pytest.raises(InvalidArgument) as info:
        _run(script, RetryPolicy(max_attempts=5), 5.0, clock)
    assert info.value.attempts == 1 and clock.sleeps == [] and len(script.timeouts) == 1


def test_the_last_error_surfaces_when_attempts_run_out() -> None:
    clock = FakeClock()
    with pytest.raises(Unavailable) as info:
        _run(Script(UNAVAILABLE, UNAVAILABLE, UNAVAILABLE), RetryPolicy(max_attempts=3), None, clock)
    assert info.value.attempts == 3 and "router down" in str(info.value)


def test_no_retry_whose_backoff_would_outlast_the_deadline() -> None:
    clock = FakeClock()
    script = Script(UNAVAILABLE)
    with pytest.raises(Unavailable):
        _run(script, RetryPolicy(max_attempts=3, initial_backoff_s=1.0), 0.5, clock)
    assert clock.sleeps == [] and len(script.timeouts) == 1


def test_a_spent_deadline_is_deadline_exceeded_without_a_call() -> None:
    clock = FakeClock()
    script = Script()
    with pytest.raises(DeadlineExceeded):
        _run(script, RetryPolicy(), 0.0, clock)
    assert script.timeouts == []


def test_deadline_arithmetic() -> None:
    clock = FakeClock()
    deadline = Deadline(2.0, clock)
    clock.now += 0.5
    assert deadline.remaining() == pytest.approx(1.5) and not deadline.expired()
    clock.now += 2.0
    assert deadline.expired()
    assert Deadline(None, clock).remaining() is None and not Deadline(None, clock).expired()


async def test_the_async_loop_retries_the_same_way() -> None:
    script = Script(EXHAUSTED, UNAVAILABLE)

    async def attempt(remaining: float | None) -> str:
        await asyncio.sleep(0)
        return script(remaining)

    policy = RetryPolicy(max_attempts=3, initial_backoff_s=0.001, max_backoff_s=0.002)
    assert await acall_with_retry(attempt, policy, 5.0) == "ok"
    assert len(script.timeouts) == 3
    fatal = Script(INVALID)

    async def once(remaining: float | None) -> str:
        return fatal(remaining)

    with pytest.raises(InvalidArgument):
        await acall_with_retry(once, policy, 5.0)
    assert len(fatal.timeouts) == 1
