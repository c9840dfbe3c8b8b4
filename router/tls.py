"""TLS for the router's ports and the exposure check.

:func:`server_credentials` turns ``router.tls`` (certificate, key, optional client CA for mutual
TLS) into gRPC server credentials (the HTTP front door hands the same files to uvicorn).
:func:`check_exposure` refuses to listen beyond loopback without API keys: an
unauthenticated router is only for a developer's own machine.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import grpc

from edgefleet.policy.security_options import TlsServerConfig


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise OSError(f"router.tls.{what}: cannot read {path}: {exc.strerror or exc}") from None


def server_credentials(tls: TlsServerConfig) -> grpc.ServerCredentials:
    """gRPC server credentials; with ``client_ca`` clients must present a certificate it signed."""
    client_ca = _read(tls.client_ca, "client_ca") if tls.client_ca else None
    return grpc.ssl_server_credentials(
        [(_read(tls.key, "key"), _read(tls.cert, "cert"))],
        root_certificates=client_ca,
        require_client_auth=client_ca is not None,
    )


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(listen: str, authenticated: bool, key: str) -> None:
    """Raise OSError when `listen` reaches beyond loopback while authentication is off."""
    host = listen.rsplit(":", 1)[0]
    if not authenticated and not is_loopback(host):
        raise OSError(
            f"{key} {listen} is not a loopback address and authentication is off: set router.api_keys_env "
            "or router.api_keys_file (README 'Security'), or listen on 127.0.0.1"
        )
