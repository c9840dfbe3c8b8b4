"""The dashboard's one data-source interface, and its real gRPC implementation.

The app only ever talks to a `FleetClient`. `GrpcFleetClient` speaks to a router's
`edgefleet.v1.Fleet` service with the client SDK (`client.AsyncEdgeFleetClient`);
`tui.memory_client.MemoryFleetClient` implements the same protocol in memory for tests and
the demo. The SDK's errors are translated to `FleetClientError` / `RouterUnavailable` here,
in one place.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

import grpc

from client import AsyncEdgeFleetClient, EdgeFleetError, RetryPolicy, TlsConfig
from edgefleet.constants import API_KEY_ENV, DEFAULT_ROUTER_ADDRESS
from protos.edgefleet.v1 import fleet_pb2

"""Where `edgefleet tui` looks for a router when no --router is given."""

_UNREACHABLE_CODES = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}
)
_CHANNEL_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.min_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", 5000),
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


def translate_error(error: EdgeFleetError) -> FleetClientError:
    """Map the SDK's error to the dashboard's error tree, with a message fit for a banner."""
    if error.code in _UNREACHABLE_CODES:
        return RouterUnavailable(str(error))
    return FleetClientError(str(error))


class GrpcFleetClient:
    """`FleetClient` over the asyncio client SDK. Unary calls carry a deadline; the watch stream
    does not. The SDK does not retry here: the app's own capped exponential backoff does.

    A fresh client (channel) is made after every failure that means the router is unreachable,
    so reconnection timing is governed by that backoff rather than by the channel's own.
    The API key (`api_key`, else $EDGEFLEET_API_KEY) is sent as Bearer metadata.
    """

    def __init__(
        self,
        address: str = DEFAULT_ROUTER_ADDRESS,
        *,
        timeout_s: float = 5.0,
        api_key: str | None = None,
        tls: TlsConfig | None = None,
    ) -> None:
        """`tls`: TLS (CA, and a client certificate for mutual TLS) to a router behind TLS."""
        self._address = address
        self._tls = tls
        self._timeout_s = timeout_s
        self._api_key = api_key or os.environ.get(API_KEY_ENV) or None
        self._client: AsyncEdgeFleetClient | None = None

    @property
    def address(self) -> str:
        """The router's host:port."""
        return self._address

    def _sdk(self) -> AsyncEdgeFleetClient:
        if self._client is None:
            self._client = AsyncEdgeFleetClient(
                self._address,
                api_key=self._api_key,
                timeout_s=self._timeout_s,
                retry=RetryPolicy.never(),
                channel_options=_CHANNEL_OPTIONS,
                tls=self._tls,
            )
        return self._client

    async def _reset(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    async def _failed(self, error: EdgeFleetError) -> FleetClientError:
        translated = translate_error(error)
        if isinstance(translated, RouterUnavailable):
            await self._reset()
        return translated

    async def watch(self, min_interval_ms: int = 500) -> AsyncIterator[fleet_pb2.FleetSnapshot]:
        """Stream snapshots from WatchFleet; raises `RouterUnavailable` when it breaks or ends."""
        stream = self._sdk().fleet.watch(min_interval_ms=min_interval_ms)
        try:
            async for snapshot in stream:
                yield snapshot
        except EdgeFleetError as error:
            await self._reset()
            raise translate_error(error) from None
        finally:
            await stream.aclose()
        await self._reset()
        raise RouterUnavailable("the router closed the watch stream")

    async def get(self) -> fleet_pb2.FleetSnapshot:
        """GetFleet with a deadline."""
        try:
            return await self._sdk().fleet.get()
        except EdgeFleetError as error:
            raise await self._failed(error) from None

    async def scale(self, deployment: str, replicas: int) -> fleet_pb2.ActionResult:
        """Scale with a deadline."""
        try:
            result = await self._sdk().fleet.scale(deployment, replicas)
        except EdgeFleetError as error:
            raise await self._failed(error) from None
        assert result.raw is not None
        return result.raw

    async def drain(self, node: str, undrain: bool = False) -> fleet_pb2.ActionResult:
        """Drain/undrain with a deadline."""
        try:
            result = await self._sdk().fleet.drain(node, undrain)
        except EdgeFleetError as error:
            raise await self._failed(error) from None
        assert result.raw is not None
        return result.raw

    async def reload_policy(self) -> fleet_pb2.ActionResult:
        """ReloadPolicy (re-read the file) with a deadline."""
        try:
            result = await self._sdk().fleet.reload_policy()
        except EdgeFleetError as error:
            raise await self._failed(error) from None
        assert result.raw is not None
        return result.raw

    async def close(self) -> None:
        """Close the channel."""
        await self._reset()
