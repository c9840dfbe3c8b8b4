"""What the sync and asyncio clients share: their settings and the per-call options."""

from __future__ import annotations

from typing import TypedDict, Unpack

from client.channel import ChannelOptions, TlsConfig, auth_metadata
from client.retry import RetryPolicy
from edgefleet.constants import DEFAULT_ROUTER_ADDRESS

DEFAULT_TIMEOUT_S = 30.0
"""Deadline of a unary call (Infer, Fleet actions) when neither the call nor the client sets one."""

DEFAULT_GENERATE_TIMEOUT_S = 120.0
"""Deadline of a whole generation when neither the call nor the client sets one."""


class ClientOptions(TypedDict, total=False):
    """Keyword arguments of a client (see `ClientSettings`)."""

    api_key: str | None
    tls: TlsConfig | None
    timeout_s: float | None
    generate_timeout_s: float | None
    retry: RetryPolicy | None
    channel_options: ChannelOptions


class ClientSettings:
    """Address, credentials, deadlines and retry policy of a client (sync or asyncio).

    `api_key` is sent as ``authorization: Bearer KEY`` on every call; `tls` turns on TLS (see
    `TlsConfig`); `timeout_s` / `generate_timeout_s` are the default deadlines (None: no deadline);
    `retry` is the RetryPolicy (``RetryPolicy.never()`` turns retries off); `channel_options` are
    passed to gRPC as they are.
    """

    def __init__(self, address: str = DEFAULT_ROUTER_ADDRESS, **options: Unpack[ClientOptions]) -> None:
        self.address = address
        self.tls = options.get("tls")
        self.timeout_s = options.get("timeout_s", DEFAULT_TIMEOUT_S)
        self.generate_timeout_s = options.get("generate_timeout_s", DEFAULT_GENERATE_TIMEOUT_S)
        self.retry = options.get("retry") or RetryPolicy()
        self.channel_options = tuple(options.get("channel_options", ()))
        self.metadata = auth_metadata(options.get("api_key"))

    def unary_timeout(self, timeout_s: float | None) -> float | None:
        """The call's own deadline, else the client's."""
        return self.timeout_s if timeout_s is None else timeout_s

    def stream_timeout(self, timeout_s: float | None) -> float | None:
        """The generation's own deadline, else the client's."""
        return self.generate_timeout_s if timeout_s is None else timeout_s
