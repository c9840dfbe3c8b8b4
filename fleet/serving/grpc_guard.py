"""The replica-side twin of protos.aio_guard for the synchronous KServe server: a request
message that does not decode is refused with INVALID_ARGUMENT (gRPC alone answers UNKNOWN)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import grpc


class Malformed:
    """Stands for a request message that could not be decoded."""

    def __init__(self, error: Exception) -> None:
        self.reason = f"malformed request message: {type(error).__name__}"


def _safe(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any]:
    def decode(data: bytes) -> Any:
        if deserializer is None:
            return data
        try:
            return deserializer(data)
        except Exception as exc:  # noqa: BLE001 -- any decoding failure is the caller's mistake
            return Malformed(exc)

    return decode


def _refuse(request: Any, context: grpc.ServicerContext) -> None:
    if isinstance(request, Malformed):
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.reason)


def _checked(requests: Iterator[Any], bad: list[Malformed]) -> Iterator[Any]:
    """The requests up to the first malformed one (noted in `bad`)."""
    for request in requests:
        if isinstance(request, Malformed):
            bad.append(request)
            return
        yield request


def guard_handler(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    """`handler` with a deserializer that never raises and behaviour that refuses Malformed."""
    kwargs = {
        "request_deserializer": _safe(handler.request_deserializer),
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary is not None:
        inner_uu = handler.unary_unary

        def unary_unary(request: Any, context: grpc.ServicerContext) -> Any:
            _refuse(request, context)
            return inner_uu(request, context)

        return grpc.unary_unary_rpc_method_handler(unary_unary, **kwargs)
    if handler.unary_stream is not None:
        inner_us = handler.unary_stream

        def unary_stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            _refuse(request, context)
            yield from inner_us(request, context)

        return grpc.unary_stream_rpc_method_handler(unary_stream, **kwargs)
    if handler.stream_unary is not None:
        inner_su = handler.stream_unary

        def stream_unary(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
            bad: list[Malformed] = []
            response = inner_su(_checked(requests, bad), context)
            if bad:
                _refuse(bad[0], context)
            return response

        return grpc.stream_unary_rpc_method_handler(stream_unary, **kwargs)
    inner_ss = handler.stream_stream

    def stream_stream(requests: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
        bad: list[Malformed] = []
        yield from inner_ss(_checked(requests, bad), context)
        if bad:
            _refuse(bad[0], context)

    return grpc.stream_stream_rpc_method_handler(stream_stream, **kwargs)


class MalformedRequestInterceptor(grpc.ServerInterceptor):
    """Wraps every method's handler with :func:`guard_handler` (built once per method)."""

    def __init__(self) -> None:
        self._cache: dict[str, grpc.RpcMethodHandler] = {}

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Any],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        """The method's handler, guarded."""
        method = handler_call_details.method
        cached = self._cache.get(method)
        if cached is not None:
            return cached
        handler = continuation(handler_call_details)
        if handler is None:
            return handler
        guarded = self._cache[method] = guard_handler(handler)
        return guarded
