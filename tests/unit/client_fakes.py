"""Fakes for the client SDK's unit tests: gRPC errors and calls without a network."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import grpc

from protos.edgefleet.v1 import router_pb2


class FakeRpcError(grpc.RpcError):
    """What a failed grpc call raises: a status code and details."""

    def __init__(self, code: grpc.StatusCode, details: str = "") -> None:
        super().__init__(f"{code.name}: {details}")
        self._code = code
        self._details = details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


class FakeClock:
    """A manual monotonic clock; `sleep` advances it (no real waiting)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class FakeStreamCall:
    """A server-streaming call: yields `messages`, then raises `error` (if any); records cancel()."""

    def __init__(
        self, messages: Sequence[router_pb2.GenerateResponse], error: grpc.RpcError | None = None
    ) -> None:
        self.messages = list(messages)
        self.error = error
        self.cancelled = False

    def __iter__(self) -> Iterator[router_pb2.GenerateResponse]:
        yield from self.messages
        if self.error is not None:
            raise self.error

    async def _aiter(self) -> AsyncIterator[router_pb2.GenerateResponse]:
        for m in self.messages:
            yield m
        if self.error is not None:
            raise self.error

    def __aiter__(self) -> AsyncIterator[router_pb2.GenerateResponse]:
        return self._aiter()

    def cancel(self) -> bool:
        self.cancelled = True
        return True


class CallScript:
    """Opens the scripted calls in order, recording the timeout each attempt was given."""

    def __init__(self, *calls: FakeStreamCall) -> None:
        self.calls = list(calls)
        self.opened: list[FakeStreamCall] = []
        self.timeouts: list[float | None] = []

    def __call__(self, timeout: float | None) -> Any:
        self.timeouts.append(timeout)
        call = self.calls[len(self.opened)]
        self.opened.append(call)
        return call


def delta(text: str, request_id: str = "g1") -> router_pb2.GenerateResponse:
    return router_pb2.GenerateResponse(request_id=request_id, delta=router_pb2.TextDelta(text=text))


def retraction(chars: int, reason: str = "low_confidence") -> router_pb2.GenerateResponse:
    return router_pb2.GenerateResponse(
        request_id="g1", retraction=router_pb2.Retraction(chars=chars, reason=reason)
    )


def final(text: str, **fields: Any) -> router_pb2.GenerateResponse:
    return router_pb2.GenerateResponse(request_id="g1", final=router_pb2.GenerateResult(text=text, **fields))
