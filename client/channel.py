"""Channels to the router: plaintext or TLS (a root CA, optionally a client certificate and key for
mutual TLS), and the API key sent as ``authorization: Bearer KEY`` metadata on every call."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import grpc.aio

ChannelOptions = Sequence[tuple[str, Any]]


def _read(value: bytes | str | Path | None) -> bytes | None:
    """PEM bytes as given, or read from a path (str or Path)."""
    if value is None or isinstance(value, bytes):
        return value
    return Path(value).read_bytes()


@dataclass(frozen=True)
class TlsConfig:
    """TLS to the router. PEM bytes, or paths to PEM files.

    `root_ca`: the CA that signed the router's certificate (None: the system's roots).
    `client_cert` + `client_key`: this client's certificate, for a router that requires mutual TLS.
    `server_name`: the name to check the router's certificate against when it differs from the
    address's host (e.g. connecting to 127.0.0.1 with a certificate for ``router.internal``).
    """

    root_ca: bytes | str | Path | None = None
    client_cert: bytes | str | Path | None = None
    client_key: bytes | str | Path | None = None
    server_name: str | None = None

    def __post_init__(self) -> None:
        if (self.client_cert is None) != (self.client_key is None):
            raise ValueError("give both client_cert and client_key (mutual TLS), or neither")

    def credentials(self) -> grpc.ChannelCredentials:
        """gRPC channel credentials (the files are read now)."""
        return grpc.ssl_channel_credentials(
            root_certificates=_read(self.root_ca),
            private_key=_read(self.client_key),
            certificate_chain=_read(self.client_cert),
        )

    def options(self) -> list[tuple[str, Any]]:
        """Channel options it needs (the server-name override)."""
        return [("grpc.ssl_target_name_override", self.server_name)] if self.server_name else []


def auth_metadata(api_key: str | None) -> tuple[tuple[str, str], ...]:
    """Call metadata carrying `api_key` as a Bearer token (none without a key)."""
    if api_key is None or not api_key.strip():
        return ()
    return (("authorization", f"Bearer {api_key.strip()}"),)


def _all_options(tls: TlsConfig | None, options: ChannelOptions) -> list[tuple[str, Any]]:
    return [*(tls.options() if tls else []), *options]


def sync_channel(address: str, tls: TlsConfig | None = None, options: ChannelOptions = ()) -> grpc.Channel:
    """A blocking channel to `address` (host:port)."""
    opts = _all_options(tls, options)
    if tls is None:
        return grpc.insecure_channel(address, options=opts)
    return grpc.secure_channel(address, tls.credentials(), options=opts)


def aio_channel(address: str, tls: TlsConfig | None = None, options: ChannelOptions = ()) -> grpc.aio.Channel:
    """An asyncio channel to `address` (host:port)."""
    opts = _all_options(tls, options)
    if tls is None:
        return grpc.aio.insecure_channel(address, options=opts)
    return grpc.aio.secure_channel(address, tls.credentials(), options=opts)
