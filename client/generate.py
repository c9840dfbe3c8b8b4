"""Router.Generate as an iterator of events (sync and asyncio).

Iterating yields `TextDelta` events (append their text), possibly a `Retraction` (discard the text
so far: another model's answer follows) and the `GenerateResult` last. The stream also keeps
`text` (the answer so far, retractions applied), `retractions` and `result`. A failure before the
first event is retried per the client's RetryPolicy; once text has arrived it is never retried (the
call raises, and the text received is incomplete). Leaving a ``with`` block (or `cancel()`)
cancels the call, and the router cancels the model's generation.
"""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator, Callable, Iterator
from types import TracebackType
from typing import Any, Self

import grpc

from client.errors import DeadlineExceeded, EdgeFleetError, InternalError, from_rpc_error
from client.results import GenerateEvent, GenerateResult, Retraction, TextDelta, generate_event
from client.retry import Deadline, RetryPolicy

OpenCall = Callable[[float | None], Any]
"""Starts one Generate call with the given timeout; returns the gRPC call (iterable, cancellable)."""


class _Generation:
    """The state shared by both stream kinds."""

    def __init__(self, open_call: OpenCall, policy: RetryPolicy, timeout_s: float | None) -> None:
        self._open = open_call
        self._policy = policy
        self._timeout_s = timeout_s
        self._call: Any = None
        self._started = False
        self.text = ""
        self.retractions: list[Retraction] = []
        self.result: GenerateResult | None = None

    def _begin(self) -> Deadline:
        if self._started:
            raise RuntimeError("a generation can be iterated only once")
        self._started = True
        return Deadline(self._timeout_s)

    def _apply(self, event: GenerateEvent) -> None:
        if isinstance(event, TextDelta):
            self.text += event.text
        elif isinstance(event, Retraction):
            self.text = ""
            self.retractions.append(event)
        else:
            self.result = event

    def _retry_delay(self, error: EdgeFleetError, attempt: int, received: bool, deadline: Deadline) -> float:
        """The backoff before the next attempt; raises `error` when the call may not be retried."""
        delay = (
            None
            if received
            else self._policy.next_delay(error, attempt, deadline.remaining(), random.random())
        )
        if delay is None:
            raise error
        return delay

    def _open_attempt(self, attempt: int, deadline: Deadline, last: EdgeFleetError | None) -> Any:
        remaining = deadline.remaining()
        if remaining is not None and remaining <= 0:
            raise last or DeadlineExceeded("the call's deadline passed", attempts=attempt - 1)
        self._call = self._open(remaining)
        return self._call

    def _finished(self) -> GenerateResult:
        if self.result is None:
            raise InternalError("the router ended the Generate stream without a final result")
        return self.result

    def cancel(self) -> None:
        """Cancel the call (the router stops the generation). Safe at any time."""
        if self._call is not None:
            self._call.cancel()


class GenerateStream(_Generation):
    """A blocking generation: ``for event in stream`` or ``stream.collect()``."""

    def __iter__(self) -> Iterator[GenerateEvent]:
        deadline = self._begin()
        last: EdgeFleetError | None = None
        for attempt in range(1, self._policy.max_attempts + 1):
            call = self._open_attempt(attempt, deadline, last)
            received = False
            try:
                for msg in call:
                    event = generate_event(msg)
                    if event is not None:
                        received = True
                        self._apply(event)
                        yield event
                self._finished()
                return
            except grpc.RpcError as exc:
                last = from_rpc_error(exc, attempts=attempt)
            finally:
                if self.result is None:
                    call.cancel()
            time.sleep(self._retry_delay(last, attempt, received, deadline))
        raise last or DeadlineExceeded("no attempt left")

    def collect(self) -> GenerateResult:
        """Read the whole stream; the final result."""
        for _ in self:
            pass
        return self._finished()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cancel()


class AsyncGenerateStream(_Generation):
    """An asyncio generation: ``async for event in stream`` or ``await stream.collect()``."""

    def __aiter__(self) -> AsyncIterator[GenerateEvent]:
        return self._events()

    async def _events(self) -> AsyncIterator[GenerateEvent]:
        import asyncio

        deadline = self._begin()
        last: EdgeFleetError | None = None
        for attempt in range(1, self._policy.max_attempts + 1):
            call = self._open_attempt(attempt, deadline, last)
            received = False
            try:
                async for msg in call:
                    event = generate_event(msg)
                    if event is not None:
                        received = True
                        self._apply(event)
                        yield event
                self._finished()
                return
            except grpc.RpcError as exc:
                last = from_rpc_error(exc, attempts=attempt)
            finally:
                if self.result is None:
                    call.cancel()
            await asyncio.sleep(self._retry_delay(last, attempt, received, deadline))
        raise last or DeadlineExceeded("no attempt left")

    async def collect(self) -> GenerateResult:
        """Read the whole stream; the final result."""
        async for _ in self:
            pass
        return self._finished()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cancel()
