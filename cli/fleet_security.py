"""What ``edgefleet up`` hands out to secure a fleet: the fleet token (generated at every start),
the replicas' TLS material and KServe limits (:class:`edgefleet.replica_guard.ReplicaGuard`, sent
to replicas through Ray), the router's own TLS, the stand-in's TLS and the hosted clients' trust,
and the client-side TLS files the CLI and the dashboard find in the run-state file.

``--tls dev`` makes a local CA (:mod:`cli.devtls`) and turns on mutual TLS everywhere; without
it the policy's own settings apply (``router.tls``, ``fleet.security``, ``hosted[].stand_in.tls``
and ``hosted[].tls``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

import grpc

from cli.devtls import DevPki, dev_pki
from edgefleet.policy.schema import HostedConfig, Policy
from edgefleet.policy.security_options import TlsClientConfig, TlsServerConfig
from edgefleet.replica_guard import ReplicaGuard


@dataclass(frozen=True)
class FleetSecurity:
    """Everything the supervisor wires in (see the module docstring)."""

    guard: ReplicaGuard
    router_tls: TlsServerConfig | None
    hosted: list[HostedConfig]
    edge_credentials: grpc.ChannelCredentials | None
    client_tls: TlsClientConfig | None  # what the CLI and dashboard use to reach the router

    def edge_client_kwargs(self) -> dict[str, object]:
        """Keyword arguments of router.edge_client.EdgeClient."""
        return {"token": self.guard.token, "credentials": self.edge_credentials}


def _read(path: str | Path | None) -> bytes | None:
    return Path(path).read_bytes() if path is not None else None


def fleet_security(policy: Policy, tls_mode: str, home: Path) -> FleetSecurity:
    """The fleet's security for this start: a fresh token, and TLS per `tls_mode` (``off``: the
    policy's settings; ``dev``: a local CA in ``home/tls`` and mutual TLS everywhere)."""
    token = secrets.token_urlsafe(32)
    kserve = policy.fleet.kserve
    limits = {"max_batch": kserve.max_batch, "max_message_bytes": kserve.max_message_bytes}
    if tls_mode == "dev":
        return _dev(policy, dev_pki(home / "tls"), token, limits)
    sec = policy.fleet.security
    guard = ReplicaGuard(
        token=token,
        require_token=sec.require_token,
        cert_pem=_read(sec.tls.cert) if sec.tls else None,
        key_pem=_read(sec.tls.key) if sec.tls else None,
        client_ca_pem=_read(sec.tls.client_ca) if sec.tls and sec.tls.client_ca else None,
        **limits,
    )
    credentials = grpc.ssl_channel_credentials(root_certificates=_read(sec.ca)) if sec.tls else None
    return FleetSecurity(guard, None, list(policy.hosted), credentials, None)


def _dev(policy: Policy, pki: DevPki, token: str, limits: dict[str, int]) -> FleetSecurity:
    server = TlsServerConfig(cert=str(pki.server_cert), key=str(pki.server_key), client_ca=str(pki.ca))
    client = TlsClientConfig(ca=str(pki.ca), cert=str(pki.client_cert), key=str(pki.client_key))
    guard = ReplicaGuard(
        token=token,
        require_token=policy.fleet.security.require_token,
        cert_pem=pki.server_cert.read_bytes(),
        key_pem=pki.server_key.read_bytes(),
        client_ca_pem=pki.ca.read_bytes(),
        **limits,
    )
    hosted = [
        h.model_copy(update={"stand_in": h.stand_in.model_copy(update={"tls": server}), "tls": client})
        if h.stand_in is not None and h.base_url is None
        else h
        for h in policy.hosted
    ]
    credentials = grpc.ssl_channel_credentials(
        root_certificates=pki.ca.read_bytes(),
        private_key=pki.client_key.read_bytes(),
        certificate_chain=pki.client_cert.read_bytes(),
    )
    return FleetSecurity(guard, server, hosted, credentials, client)
