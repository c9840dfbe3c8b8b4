"""The blocking client: `EdgeFleetClient` (Router: infer, generate) and its `fleet` (FleetAPI)."""

from __future__ import annotations

from collections.abc import Generator, Sequence
from types import TracebackType
from typing import Any, Self, Unpack

import grpc

from client.base import ClientOptions, ClientSettings
from client.channel import sync_channel
from client.errors import from_rpc_error
from client.generate import GenerateStream
from client.requests import GenerateOptions, InferOptions, Messages, generate_request, infer_request
from client.results import ActionResult, InferResponse, action_result, infer_response
from client.retry import call_with_retry
from edgefleet.constants import DEFAULT_ROUTER_ADDRESS
from protos.edgefleet.v1 import fleet_pb2, fleet_pb2_grpc, router_pb2_grpc


class EdgeFleetClient:
    """A blocking client of one router (both its Router and Fleet services, on one channel).

    `address` is the router's host:port; the options (api_key, tls, timeout_s, generate_timeout_s,
    retry, channel_options) are described in `client.base.ClientSettings`. Use as a context manager,
    or call `close()`. Every method raises `client.errors.EdgeFleetError` subclasses on failure.
    """

    def __init__(self, address: str = DEFAULT_ROUTER_ADDRESS, **options: Unpack[ClientOptions]) -> None:
        self.settings = ClientSettings(address, **options)
        s = self.settings
        self._channel = sync_channel(s.address, s.tls, s.channel_options)
        self._router = router_pb2_grpc.RouterStub(self._channel)
        self.fleet = FleetAPI(self.settings, fleet_pb2_grpc.FleetStub(self._channel))

    @property
    def address(self) -> str:
        """The router's host:port."""
        return self.settings.address

    def infer(
        self, text: str | Sequence[str], *, timeout_s: float | None = None, **options: Unpack[InferOptions]
    ) -> InferResponse:
        """Classify (or embed: task="embed") one text or a batch; one result per text, in order.

        `options`: task, domain, route, request_id, max_latency_ms, max_cost_usd, min_confidence.
        """
        request = infer_request(text, **options)
        metadata = self.settings.metadata

        def attempt(remaining: float | None) -> Any:
            return self._router.Infer(request, timeout=remaining, metadata=metadata)

        reply = call_with_retry(attempt, self.settings.retry, self.settings.unary_timeout(timeout_s))
        return infer_response(reply)

    def generate(
        self,
        messages: Messages,
        *,
        max_tokens: int,
        timeout_s: float | None = None,
        **options: Unpack[GenerateOptions],
    ) -> GenerateStream:
        """Start a generation; iterate the returned stream for its events (see `client.generate`).

        `options`: temperature, top_p, stop, seed, route, domain, request_id, allow_retraction,
        max_time_to_first_token_ms, max_latency_ms, max_cost_usd, min_confidence.
        """
        request = generate_request(messages, max_tokens=max_tokens, **options)
        metadata = self.settings.metadata

        def open_call(remaining: float | None) -> Any:
            return self._router.Generate(request, timeout=remaining, metadata=metadata)

        return GenerateStream(open_call, self.settings.retry, self.settings.stream_timeout(timeout_s))

    def close(self) -> None:
        """Close the channel (calls in flight are cancelled). Safe to call twice."""
        self._channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class FleetAPI:
    """The Fleet service (operators): snapshots, the watch stream, and actions."""

    def __init__(self, settings: ClientSettings, stub: fleet_pb2_grpc.FleetStub) -> None:
        self._settings = settings
        self._stub = stub

    def _unary(self, method: str, request: Any, timeout_s: float | None) -> Any:
        call = getattr(self._stub, method)
        metadata = self._settings.metadata

        def attempt(remaining: float | None) -> Any:
            return call(request, timeout=remaining, metadata=metadata)

        return call_with_retry(attempt, self._settings.retry, self._settings.unary_timeout(timeout_s))

    def get(self, *, timeout_s: float | None = None) -> fleet_pb2.FleetSnapshot:
        """The current snapshot (nodes, deployments and replicas, routes, traffic, recent traces)."""
        result = self._unary("GetFleet", fleet_pb2.GetFleetRequest(), timeout_s)
        assert isinstance(result, fleet_pb2.FleetSnapshot)
        return result

    def watch(
        self, min_interval_ms: int = 500, *, timeout_s: float | None = None
    ) -> Generator[fleet_pb2.FleetSnapshot, None, None]:
        """A snapshot now, then one per change (at most every `min_interval_ms`), until the caller
        stops iterating (the call is then cancelled) or `timeout_s` passes. Not retried: a broken
        stream raises, and the caller decides when to watch again."""
        call = self._stub.WatchFleet(
            fleet_pb2.WatchFleetRequest(min_interval_ms=min_interval_ms),
            timeout=timeout_s,
            metadata=self._settings.metadata,
        )
        try:
            for event in call:
                if event.HasField("snapshot"):
                    yield event.snapshot
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from None
        finally:
            call.cancel()

    def scale(self, deployment: str, replicas: int, *, timeout_s: float | None = None) -> ActionResult:
        """Set the desired replica count of `deployment`."""
        request = fleet_pb2.ScaleRequest(deployment=deployment, replicas=replicas)
        return action_result(self._unary("Scale", request, timeout_s))

    def drain(self, node: str, undrain: bool = False, *, timeout_s: float | None = None) -> ActionResult:
        """Drain (or undrain) a node by name or id: its replicas move elsewhere."""
        request = fleet_pb2.DrainRequest(node=node, undrain=undrain)
        return action_result(self._unary("Drain", request, timeout_s))

    def reload_policy(self, yaml: str = "", *, timeout_s: float | None = None) -> ActionResult:
        """Re-read the router's policy file, or apply the given policy YAML text."""
        request = fleet_pb2.ReloadPolicyRequest(yaml=yaml)
        return action_result(self._unary("ReloadPolicy", request, timeout_s))
