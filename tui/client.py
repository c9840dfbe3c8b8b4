"""The dashboard's one data-source interface, and its real gRPC implementation.

The app only ever talks to a `FleetClient`. `GrpcFleetClient` speaks to a router's
`edgefleet.v1.Fleet` service over grpc.aio; `tui.memory_client.MemoryFleetClient`
implements the same protocol in memory for tests and the demo. Lower-level gRPC
errors are translated to `FleetClientError` / `RouterUnavailable` here, in one place.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

import grpc
import grpc.aio

from edgefleet.constants import DEFAULT_ROUTER_ADDRESS
from protos.edgefleet.v1 import fleet_pb2, fleet_pb2_grpc

"""Where `edgefleet tui` looks for a router when no --router is given."""

_UNREACHABLE_CODES = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}
)


class FleetClientError(Exception):
    """A Fleet call failed for a reason the operator should read (bad argument, refused...)."""


class RouterUnavailable(FleetClientError):
    """The router cannot be reached (down, restarting, network, deadline exceeded)."""


@runtime_checkable
class FleetClient(Protocol):
    """What the dashboard needs from a router's Fleet service."""

    @property
    def address(self) -> str:
        """Human-readable description of where the data comes from."""
        ...

    def watch(self, min_interval_ms: int = 500) -> AsyncIterator[fleet_pb2.FleetSnapshot]:
        """A snapshot now, then one per change (at most every `min_interval_ms`).

        Raises `RouterUnavailable` when the router cannot be reached or the stream breaks.
        """
        ...

    async def get(self) -> fleet_pb2.FleetSnapshot:
        """The current snapshot."""
        ...

    async def scale(self, deployment: str, replicas: int) -> fleet_pb2.ActionResult:
        """Set the desired replica count of `deployment`."""
        ...

    async def drain(self, node: str, undrain: bool = False) -> fleet_pb2.ActionResult:
        """Drain (or undrain) a node by name or id."""
        ...

    async def reload_policy(self) -> fleet_pb2.ActionResult:
        """Ask the router to re-read its policy file."""
        ...

    async def close(self) -> None:
        """Release connections. Safe to call twice."""
        ...


def translate_rpc_error(error: grpc.aio.AioRpcError) -> FleetClientError:
    """Map a gRPC error to the dashboard's error tree, with a message fit for a banner."""
    code = error.code()
    details = error.details() or code.name
    if code in _UNREACHABLE_CODES:
        return RouterUnavailable(f"{code.name}: {details}")
    return FleetClientError(f"{code.name}: {details}")


class GrpcFleetClient:
    """`FleetClient` over grpc.aio. Unary calls carry a deadline; the watch stream does not.

    A fresh channel is made after every failure, so reconnection timing is governed by the
    app's own capped exponential backoff rather than by the channel's internal one.
    """

    def __init__(self, address: str = DEFAULT_ROUTER_ADDRESS, *, timeout_s: float = 5.0) -> None:
        self._address = address
        self._timeout_s = timeout_s
        self._channel: grpc.aio.Channel | None = None
        self._stub: fleet_pb2_grpc.FleetStub | None = None

    @property
    def address(self) -> str:
        """The router's host:port."""
        return self._address

    def _fleet_stub(self) -> fleet_pb2_grpc.FleetStub:
        if self._stub is None:
            self._channel = grpc.aio.insecure_channel(
                self._address,
                options=[
                    ("grpc.initial_reconnect_backoff_ms", 250),
                    ("grpc.min_reconnect_backoff_ms", 250),
                    ("grpc.max_reconnect_backoff_ms", 5000),
                ],
            )
            self._stub = fleet_pb2_grpc.FleetStub(self._channel)
        return self._stub

    async def _reset_channel(self) -> None:
        channel, self._channel, self._stub = self._channel, None, None
        if channel is not None:
            await channel.close(grace=None)

    async def watch(self, min_interval_ms: int = 500) -> AsyncIterator[fleet_pb2.FleetSnapshot]:
        """Stream snapshots from WatchFleet; raises `RouterUnavailable` when it breaks or ends."""
        call = self._fleet_stub().WatchFleet(fleet_pb2.WatchFleetRequest(min_interval_ms=min_interval_ms))
        try:
            async for event in call:
                if event.HasField("snapshot"):
                    yield event.snapshot
        except grpc.aio.AioRpcError as error:
            await self._reset_channel()
            raise translate_rpc_error(error) from None
        finally:
            call.cancel()
        await self._reset_channel()
        raise RouterUnavailable("the router closed the watch stream")

    async def _unary(self, method_name: str, request: object) -> object:
        method = getattr(self._fleet_stub(), method_name)
        try:
            return await method(request, timeout=self._timeout_s)
        except grpc.aio.AioRpcError as error:
            translated = translate_rpc_error(error)
            if isinstance(translated, RouterUnavailable):
                await self._reset_channel()
            raise translated from None

    async def get(self) -> fleet_pb2.FleetSnapshot:
        """GetFleet with a deadline."""
        result = await self._unary("GetFleet", fleet_pb2.GetFleetRequest())
        assert isinstance(result, fleet_pb2.FleetSnapshot)
        return result

    async def scale(self, deployment: str, replicas: int) -> fleet_pb2.ActionResult:
        """Scale with a deadline."""
        result = await self._unary("Scale", fleet_pb2.ScaleRequest(deployment=deployment, replicas=replicas))
        assert isinstance(result, fleet_pb2.ActionResult)
        return result

    async def drain(self, node: str, undrain: bool = False) -> fleet_pb2.ActionResult:
        """Drain/undrain with a deadline."""
        result = await self._unary("Drain", fleet_pb2.DrainRequest(node=node, undrain=undrain))
        assert isinstance(result, fleet_pb2.ActionResult)
        return result

    async def reload_policy(self) -> fleet_pb2.ActionResult:
        """ReloadPolicy (re-read the file) with a deadline."""
        result = await self._unary("ReloadPolicy", fleet_pb2.ReloadPolicyRequest())
        assert isinstance(result, fleet_pb2.ActionResult)
        return result

    async def close(self) -> None:
        """Close the channel."""
        await self._reset_channel()
