"""A grpc.aio server interceptor that answers an undecodable request message with INVALID_ARGUMENT
(used by the router and by the replicas' grpc.aio KServe server; the threaded twin is
fleet.serving.grpc_guard).

gRPC itself answers bytes that do not parse as the method's request message (truncated, wrong
wire types, a string field that is not UTF-8) with UNKNOWN and the exception's name; here the
request deserializer is wrapped so such a message is refused as INVALID_ARGUMENT with a plain
reason, for unary and streamed requests alike (a stream is read up to its first malformed message,
answered for what came before, then refused).
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import grpc.aio


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


async def _refuse(request: Any, context: grpc.aio.ServicerContext) -> None:
    if isinstance(request, Malformed):
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.reason)


def _checked(requests: AsyncIterator[Any], bad: list[Malformed]) -> AsyncIterator[Any]:
    """The requests up to the first malformed one (noted in `bad`): the stream's reading ends
    there, and the handler refuses the call once the method has finished with what came before."""

    async def gen() -> AsyncIterator[Any]:
        async for request in requests:
            if isinstance(request, Malformed):
                bad.append(request)
                return
            yield request

    return gen()


def guard_handler(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    """`handler` with a deserializer that never raises and behaviour that refuses Malformed."""
    kwargs = {
        "request_deserializer": _safe(handler.request_deserializer),
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary is not None:
        inner_uu = handler.unary_unary

        async def unary_unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            await _refuse(request, context)
            return await inner_uu(request, context)

        return grpc.unary_unary_rpc_method_handler(unary_unary, **kwargs)
    if handler.unary_stream is not None:
        inner_us = handler.unary_stream
        if not inspect.isasyncgenfunction(inner_us):  # it writes with context.write (e.g. Health.Watch)

            async def unary_stream_writer(request: Any, context: grpc.aio.ServicerContext) -> None:
                await _refuse(request, context)
                await inner_us(request, context)

            return grpc.unary_stream_rpc_method_handler(unary_stream_writer, **kwargs)

        async def unary_stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            await _refuse(request, context)
            async for response in inner_us(request, context):
                yield response

        return grpc.unary_stream_rpc_method_handler(unary_stream, **kwargs)
    if handler.stream_unary is not None:
        inner_su = handler.stream_unary

        async def stream_unary(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> Any:
            bad: list[Malformed] = []
            response = await inner_su(_checked(requests, bad), context)
            if bad:
                await _refuse(bad[0], context)
            return response

        return grpc.stream_unary_rpc_method_handler(stream_unary, **kwargs)
    inner_ss = handler.stream_stream
    if not inspect.isasyncgenfunction(inner_ss):  # it writes with context.write

        async def stream_stream_writer(
            requests: AsyncIterator[Any], context: grpc.aio.ServicerContext
        ) -> None:
            bad: list[Malformed] = []
            await inner_ss(_checked(requests, bad), context)
            if bad:
                await _refuse(bad[0], context)

        return grpc.stream_stream_rpc_method_handler(stream_stream_writer, **kwargs)

    async def stream_stream(
        requests: AsyncIterator[Any], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[Any]:
        bad: list[Malformed] = []
        async for response in inner_ss(_checked(requests, bad), context):
            yield response
        if bad:
            await _refuse(bad[0], context)

    return grpc.stream_stream_rpc_method_handler(stream_stream, **kwargs)


class MalformedRequestInterceptor(grpc.aio.ServerInterceptor):
    """Wraps every method's handler with :func:`guard_handler`."""

    def __init__(self) -> None:
        self._cache: dict[str, grpc.RpcMethodHandler] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        """The method's handler, guarded (built once per method)."""
        method = handler_call_details.method
        cached = self._cache.get(method)
        if cached is not None:
            return cached
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        guarded = self._cache[method] = guard_handler(handler)
        return guarded
