"""The asyncio client: `AsyncEdgeFleetClient` (Router: infer, generate) and its `fleet` (AsyncFleetAPI).

The channel is made on first use, inside the event loop that uses it.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from types import TracebackType
from typing import Any, Self, Unpack

import grpc
import grpc.aio

from client.base import ClientOptions, ClientSettings
from client.channel import aio_channel
from client.errors import from_rpc_error
from client.generate import AsyncGenerateStream
from client.requests import GenerateOptions, InferOptions, Messages, generate_request, infer_request
from client.results import ActionResult, InferResponse, action_result, infer_response
from client.retry import acall_with_retry
from edgefleet.constants import DEFAULT_ROUTER_ADDRESS
from protos.edgefleet.v1 import fleet_pb2, fleet_pb2_grpc, router_pb2_grpc


class _Channel:
    """The lazily made grpc.aio channel and its stubs."""

    def __init__(self, settings: ClientSettings) -> None:
        self.settings = settings
        self._channel: grpc.aio.Channel | None = None
        self._router: router_pb2_grpc.RouterStub | None = None
        self._fleet: fleet_pb2_grpc.FleetStub | None = None

    def _open(self) -> grpc.aio.Channel:
        if self._channel is None:
            s = self.settings
            self._channel = aio_channel(s.address, s.tls, s.channel_options)
            self._router = router_pb2_grpc.RouterStub(self._channel)
            self._fleet = fleet_pb2_grpc.FleetStub(self._channel)
        return self._channel

    def router(self) -> router_pb2_grpc.RouterStub:
        self._open()
        assert self._router is not None
        return self._router

    def fleet(self) -> fleet_pb2_grpc.FleetStub:
        self._open()
        assert self._fleet is not None
        return self._fleet

    async def close(self) -> None:
        channel, self._channel, self._router, self._fleet = self._channel, None, None, None
        if channel is not None:
            await channel.close(grace=None)


class AsyncEdgeFleetClient:
    """An asyncio client of one router (its Router and Fleet services, on one channel).

    Same options as `client.EdgeFleetClient`. Use ``async with``, or ``await close()``. Every
    method raises `client.errors.EdgeFleetError` subclasses on failure.
    """

    def __init__(self, address: str = DEFAULT_ROUTER_ADDRESS, **options: Unpack[ClientOptions]) -> None:
        self.settings = ClientSettings(address, **options)
        self._channel = _Channel(self.settings)
        self.fleet = AsyncFleetAPI(self._channel)

    @property
    def address(self) -> str:
        """The router's host:port."""
        return self.settings.address

    async def infer(
        self, text: str | Sequence[str], *, timeout_s: float | None = None, **options: Unpack[InferOptions]
    ) -> InferResponse:
        """Classify (or embed: task="embed") one text or a batch; one result per text, in order.

        `options`: task, domain, route, request_id, max_latency_ms, max_cost_usd, min_confidence.
        """
        request = infer_request(text, **options)
        metadata = self.settings.metadata

        async def attempt(remaining: float | None) -> Any:
            return await self._channel.router().Infer(request, timeout=remaining, metadata=metadata)

        reply = await acall_with_retry(attempt, self.settings.retry, self.settings.unary_timeout(timeout_s))
        return infer_response(reply)

    def generate(
        self,
        messages: Messages,
        *,
        max_tokens: int,
        timeout_s: float | None = None,
        **options: Unpack[GenerateOptions],
    ) -> AsyncGenerateStream:
        """Start a generation; ``async for`` over the returned stream for its events."""
        request = generate_request(messages, max_tokens=max_tokens, **options)
        metadata = self.settings.metadata

        def open_call(remaining: float | None) -> Any:
            return self._channel.router().Generate(request, timeout=remaining, metadata=metadata)

        return AsyncGenerateStream(open_call, self.settings.retry, self.settings.stream_timeout(timeout_s))

    async def close(self) -> None:
        """Close the channel (calls in flight are cancelled). Safe to call twice."""
        await self._channel.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


class AsyncFleetAPI:
    """The Fleet service (operators) over asyncio: snapshots, the watch stream, and actions."""

    def __init__(self, channel: _Channel) -> None:
        self._channel = channel
        self._settings = channel.settings

    async def _unary(self, method: str, request: Any, timeout_s: float | None) -> Any:
        metadata = self._settings.metadata

        async def attempt(remaining: float | None) -> Any:
            call = getattr(self._channel.fleet(), method)
            return await call(request, timeout=remaining, metadata=metadata)

        return await acall_with_retry(attempt, self._settings.retry, self._settings.unary_timeout(timeout_s))

    async def get(self, *, timeout_s: float | None = None) -> fleet_pb2.FleetSnapshot:
        """The current snapshot (nodes, deployments and replicas, routes, traffic, recent traces)."""
        result = await self._unary("GetFleet", fleet_pb2.GetFleetRequest(), timeout_s)
        assert isinstance(result, fleet_pb2.FleetSnapshot)
        return result

    async def watch(
        self, min_interval_ms: int = 500, *, timeout_s: float | None = None
    ) -> AsyncGenerator[fleet_pb2.FleetSnapshot, None]:
        """A snapshot now, then one per change (at most every `min_interval_ms`), until the caller
        stops iterating (the call is then cancelled) or `timeout_s` passes. Not retried: a broken
        stream raises, and the caller decides when to watch again. The iterator simply ends when
        the router closes the stream."""
        call = self._channel.fleet().WatchFleet(
            fleet_pb2.WatchFleetRequest(min_interval_ms=min_interval_ms),
            timeout=timeout_s,
            metadata=self._settings.metadata,
        )
        try:
            async for event in call:
                if event.HasField("snapshot"):
                    yield event.snapshot
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from None
        finally:
            call.cancel()

    async def scale(self, deployment: str, replicas: int, *, timeout_s: float | None = None) -> ActionResult:
        """Set the desired replica count of `deployment`."""
        request = fleet_pb2.ScaleRequest(deployment=deployment, replicas=replicas)
        return action_result(await self._unary("Scale", request, timeout_s))

    async def drain(
        self, node: str, undrain: bool = False, *, timeout_s: float | None = None
    ) -> ActionResult:
        """Drain (or undrain) a node by name or id: its replicas move elsewhere."""
        request = fleet_pb2.DrainRequest(node=node, undrain=undrain)
        return action_result(await self._unary("Drain", request, timeout_s))

    async def reload_policy(self, yaml: str = "", *, timeout_s: float | None = None) -> ActionResult:
        """Re-read the router's policy file, or apply the given policy YAML text."""
        request = fleet_pb2.ReloadPolicyRequest(yaml=yaml)
        return action_result(await self._unary("ReloadPolicy", request, timeout_s))
