"""The retry policy and the deadline arithmetic shared by the sync and asyncio clients.

A call's ``timeout_s`` is its whole budget: every attempt gets what is left of it, and no retry
starts when its backoff would not end before the deadline. Only UNAVAILABLE and RESOURCE_EXHAUSTED
are retried (`client.errors.RETRIABLE_CODES`), with capped exponential backoff and jitter.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import grpc

from client.errors import DeadlineExceeded, EdgeFleetError, from_rpc_error

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """At most `max_attempts` tries; the n-th retry waits ``initial_backoff_s * multiplier**(n-1)``
    (at most `max_backoff_s`), times a random factor in [1 - jitter, 1 + jitter]."""

    max_attempts: int = 3
    initial_backoff_s: float = 0.1
    max_backoff_s: float = 2.0
    multiplier: float = 2.0
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.initial_backoff_s < 0 or self.max_backoff_s < self.initial_backoff_s:
            raise ValueError("need 0 <= initial_backoff_s <= max_backoff_s")
        if self.multiplier < 1 or not 0 <= self.jitter < 1:
            raise ValueError("need multiplier >= 1 and 0 <= jitter < 1")

    @classmethod
    def never(cls) -> RetryPolicy:
        """One attempt only (errors surface at once)."""
        return cls(max_attempts=1)

    def backoff_s(self, retry: int, rand: float) -> float:
        """The wait before retry number `retry` (1 = the first retry); `rand` in [0, 1)."""
        base = min(self.max_backoff_s, self.initial_backoff_s * self.multiplier ** (retry - 1))
        return base * (1.0 + self.jitter * (2.0 * rand - 1.0))

    def next_delay(
        self, error: EdgeFleetError, attempt: int, remaining_s: float | None, rand: float
    ) -> float | None:
        """Seconds to wait before trying again after `attempt` failed with `error`, or None to give up
        (a non-retriable code, no attempts left, or the backoff would outlast the deadline)."""
        if not error.retriable or attempt >= self.max_attempts:
            return None
        delay = self.backoff_s(attempt, rand)
        if remaining_s is not None and delay >= remaining_s:
            return None
        return delay


class Deadline:
    """The end of a call's budget (None: no deadline) on a monotonic clock."""

    def __init__(self, timeout_s: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._end = None if timeout_s is None else clock() + timeout_s

    def remaining(self) -> float | None:
        """Seconds left (may be <= 0), or None without a deadline."""
        return None if self._end is None else self._end - self._clock()

    def expired(self) -> bool:
        """True once the budget is spent."""
        left = self.remaining()
        return left is not None and left <= 0


def _expired(attempts: int, last: EdgeFleetError | None) -> EdgeFleetError:
    if last is not None:
        return last
    return DeadlineExceeded("the call's deadline passed before it could be sent", attempts=attempts)


def call_with_retry(
    attempt: Callable[[float | None], T],
    policy: RetryPolicy,
    timeout_s: float | None,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    rand: Callable[[], float] = random.random,
) -> T:
    """Run ``attempt(remaining_timeout_s)`` until it succeeds or the policy gives up; raises the
    SDK's exception for the last gRPC error (never a raw grpc.RpcError)."""
    deadline = Deadline(timeout_s, clock)
    last: EdgeFleetError | None = None
    for n in range(1, policy.max_attempts + 1):
        remaining = deadline.remaining()
        if remaining is not None and remaining <= 0:
            raise _expired(n - 1, last)
        try:
            return attempt(remaining)
        except grpc.RpcError as exc:
            last = from_rpc_error(exc, attempts=n)
        delay = policy.next_delay(last, n, deadline.remaining(), rand())
        if delay is None:
            raise last
        sleep(delay)
    raise _expired(policy.max_attempts, last)


async def acall_with_retry(
    attempt: Callable[[float | None], Awaitable[T]],
    policy: RetryPolicy,
    timeout_s: float | None,
    *,
    clock: Callable[[], float] = time.monotonic,
    rand: Callable[[], float] = random.random,
) -> T:
    """`call_with_retry` for coroutines (the backoff is an asyncio.sleep)."""
    deadline = Deadline(timeout_s, clock)
    last: EdgeFleetError | None = None
    for n in range(1, policy.max_attempts + 1):
        remaining = deadline.remaining()
        if remaining is not None and remaining <= 0:
            raise _expired(n - 1, last)
        try:
            return await attempt(remaining)
        except grpc.RpcError as exc:
            last = from_rpc_error(exc, attempts=n)
        delay = policy.next_delay(last, n, deadline.remaining(), rand())
        if delay is None:
            raise last
        await asyncio.sleep(delay)
    raise _expired(policy.max_attempts, last)
