"""What protects a replica's KServe port, fixed when the fleet starts (``edgefleet up``) and
handed to every replica through Ray: the fleet token, TLS material and the KServe limits.

Replicas on simulated nodes (and on the head) bind to loopback. Replicas on real nodes bind to
their node's address and refuse every call without the fleet token (UNAUTHENTICATED); the router
sends it as ``x-edgefleet-fleet-token`` metadata. With TLS material they serve TLS (mutual TLS
when `client_ca_pem` is set). A ReloadPolicy does not change any of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ReplicaGuard:
    """Token, TLS and limits of every replica's KServe server (picklable: it travels through Ray)."""

    token: str = field(default="", repr=False)
    require_token: bool = True  # on real nodes: refuse to serve without a token
    cert_pem: bytes | None = field(default=None, repr=False)  # server certificate chain
    key_pem: bytes | None = field(default=None, repr=False)  # server private key
    client_ca_pem: bytes | None = field(default=None, repr=False)  # mutual TLS: clients must present one
    max_batch: int = 64
    max_message_bytes: int = 4 << 20

    @property
    def tls(self) -> bool:
        """True when replicas serve TLS."""
        return self.cert_pem is not None and self.key_pem is not None
