"""A bare grpc.aio echo service: the floor any gRPC hop on this machine pays.

No proto: the service is registered with a generic handler and moves raw bytes, so the
measured cost is HTTP/2 + gRPC framing + asyncio, with no (de)serialisation of ours.
Methods: ``/bench.Echo/Ping`` (unary) and ``/bench.Echo/PingStream`` (bidirectional).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc

SERVICE = "bench.Echo"
PING = f"/{SERVICE}/Ping"
PING_STREAM = f"/{SERVICE}/PingStream"

CHANNEL_OPTIONS = [("grpc.max_receive_message_length", 16 * 1024 * 1024)]


async def _ping(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    return request


async def _ping_stream(
    requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext
) -> AsyncIterator[bytes]:
    async for request in requests:
        yield request


def echo_handler() -> grpc.GenericRpcHandler:
    """The generic handler serving Ping and PingStream on raw bytes."""
    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Ping": grpc.unary_unary_rpc_method_handler(_ping),
            "PingStream": grpc.stream_stream_rpc_method_handler(_ping_stream),
        },
    )


async def start_echo_server(host: str = "127.0.0.1", port: int = 0) -> tuple[grpc.aio.Server, str]:
    """Start an echo server; returns it and its ``host:port`` (port 0 picks a free one)."""
    server = grpc.aio.server(options=CHANNEL_OPTIONS)
    server.add_generic_rpc_handlers((echo_handler(),))
    bound = server.add_insecure_port(f"{host}:{port}")
    await server.start()
    return server, f"{host}:{bound}"


class EchoClient:
    """Calls an echo server over one channel (unary and streaming)."""

    def __init__(self, address: str) -> None:
        self.channel = grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)
        self._ping: Any = self.channel.unary_unary(PING)
        self._stream: Any = self.channel.stream_stream(PING_STREAM)

    async def ping(self, payload: bytes, timeout_s: float = 10.0) -> bytes:
        """One unary round trip."""
        reply: bytes = await self._ping(payload, timeout=timeout_s)
        return reply

    def open_stream(self) -> Any:
        """A new bidirectional stream call (write bytes, read bytes)."""
        return self._stream()

    async def close(self) -> None:
        """Close the channel."""
        await self.channel.close()
