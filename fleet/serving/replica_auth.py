"""The fleet token check on a replica's KServe server, and its TLS credentials.

:class:`FleetTokenInterceptor` refuses every call whose ``x-edgefleet-fleet-token`` metadata is
missing or wrong with UNAUTHENTICATED (compared in constant time; health checks are let through so
load balancers and probes work). See :mod:`edgefleet.replica_guard`.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from edgefleet.constants import FLEET_TOKEN_METADATA
from edgefleet.replica_guard import ReplicaGuard

OPEN_METHODS = ("/grpc.health.v1.Health/",)
DENIED = "this replica only answers the fleet's router: missing or wrong fleet token"


def _deny(message: str) -> Callable[[Any, grpc.ServicerContext], Any]:
    def deny(request: Any, context: grpc.ServicerContext) -> Any:
        context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    return deny


class FleetTokenInterceptor(grpc.ServerInterceptor):
    """Lets through only calls carrying the fleet token."""

    def __init__(self, token: str) -> None:
        if not token:
            raise ValueError("a fleet token is required")
        self._token = token.encode("utf-8")

    def allowed(self, details: grpc.HandlerCallDetails) -> bool:
        """True for a health check or a call with the right token."""
        method = details.method or ""
        if method.startswith(OPEN_METHODS):
            return True
        given = b""
        for key, value in details.invocation_metadata or ():
            if key == FLEET_TOKEN_METADATA:
                given = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        return hmac.compare_digest(given, self._token)

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Any],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        """The method's handler, or one that answers UNAUTHENTICATED."""
        handler = continuation(handler_call_details)
        if handler is None or self.allowed(handler_call_details):
            return handler
        return _deny_handler(handler, _deny(DENIED))


def _deny_handler(handler: grpc.RpcMethodHandler, deny: Callable[..., Any]) -> grpc.RpcMethodHandler:
    """A handler of `handler`'s kind (and serializers) that runs `deny`."""
    kwargs = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(deny, **kwargs)
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(deny, **kwargs)
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(deny, **kwargs)
    return grpc.stream_stream_rpc_method_handler(deny, **kwargs)


class AioFleetTokenInterceptor(grpc.aio.ServerInterceptor):
    """:class:`FleetTokenInterceptor` for grpc.aio servers (the text replicas' batching server)."""

    def __init__(self, token: str) -> None:
        self._check = FleetTokenInterceptor(token)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        """The method's handler, or one that answers UNAUTHENTICATED."""
        handler = await continuation(handler_call_details)
        if handler is None or self._check.allowed(handler_call_details):
            return handler

        async def deny(request: Any, context: grpc.aio.ServicerContext) -> Any:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, DENIED)

        return _deny_handler(handler, deny)


def server_credentials(guard: ReplicaGuard) -> grpc.ServerCredentials | None:
    """TLS credentials of a replica's server (None: plaintext)."""
    if guard.cert_pem is None or guard.key_pem is None:
        return None
    return grpc.ssl_server_credentials(
        [(guard.key_pem, guard.cert_pem)],
        root_certificates=guard.client_ca_pem,
        require_client_auth=guard.client_ca_pem is not None,
    )
