"""Security settings of the policy file: TLS, per-key limits and the router's request limits.

A leaf module like :mod:`edgefleet.policy.schema` (pydantic only). The authentication settings
(``router.api_keys_env``, ``router.api_keys_file``, ``router.key_defaults``, ``router.tls``)
are fixed when the router starts: ``ReloadPolicy`` refuses a policy that changes them
(:func:`auth_settings`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_POLICY_BYTES = 1 << 20
"""The largest policy text the loader parses (1 MiB): far more than any real policy."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False, frozen=True)


class TlsServerConfig(_Strict):
    """A server's certificate and key (PEM files); `client_ca` turns on mutual TLS: clients must
    present a certificate signed by it."""

    cert: str = Field(description="PEM certificate (chain) file of this server")
    key: str = Field(description="PEM private key file of this server")
    client_ca: str | None = Field(
        None, description="PEM CA file; when set, clients must present a certificate it signed (mutual TLS)"
    )


class TlsClientConfig(_Strict):
    """What a client of a TLS server needs: the CA to check it with, and for mutual TLS its own
    certificate and key (PEM files)."""

    ca: str | None = Field(None, description="PEM CA file the server's certificate is checked against")
    cert: str | None = Field(None, description="PEM client certificate (mutual TLS)")
    key: str | None = Field(None, description="PEM client key (mutual TLS)")
    server_name: str | None = Field(None, description="name to check the server's certificate against")

    @model_validator(mode="after")
    def _pair(self) -> TlsClientConfig:
        if (self.cert is None) != (self.key is None):
            raise ValueError("set both cert and key (mutual TLS), or neither")
        return self


class KeyLimits(_Strict):
    """Per-key limits (each key may override them in the keys file); null: no limit."""

    rate_per_s: float | None = Field(None, gt=0, description="requests per second (token bucket)")
    burst: int | None = Field(None, ge=1, description="bucket size (default: max(1, 2 x rate_per_s))")
    budget_usd_per_day: float | None = Field(None, ge=0, description="spend per UTC day, edge + hosted")
    budget_usd_per_month: float | None = Field(None, ge=0, description="spend per UTC month, edge + hosted")


class RequestLimits(_Strict):
    """Bounds on what one caller can make the router hold (safe defaults)."""

    max_request_id_chars: int = Field(128, ge=1, le=1024)
    max_cost_usd_per_request: float | None = Field(
        None, ge=0, description="spend cap of one request over all its texts and fallbacks (null: none)"
    )
    stream_window: int = Field(
        32,
        ge=1,
        le=1024,
        description="InferStream: requests in flight plus answers not yet read by the client, per stream; "
        "the router stops reading a stream whose client stops reading",
    )
    watch_streams: int = Field(32, ge=1, le=10_000, description="WatchFleet streams open at once")
    watch_min_interval_ms: float = Field(
        200.0, ge=10, description="fastest WatchFleet update rate; a smaller min_interval_ms is raised to it"
    )
    policy_max_bytes: int = Field(MAX_POLICY_BYTES, ge=1024, le=16 << 20)


class KServeLimits(_Strict):
    """Bounds on one KServe v2 call to a replica."""

    max_batch: int = Field(64, ge=1, le=4096, description="texts per ModelInfer request")
    max_message_bytes: int = Field(
        4 << 20, ge=1024, le=64 << 20, description="largest gRPC message a replica receives or sends"
    )


class FleetSecurity(_Strict):
    """Replica access: TLS, and the fleet token real-node replicas require."""

    tls: TlsServerConfig | None = Field(
        None, description="replicas serve KServe over TLS with this certificate (files on every node)"
    )
    ca: str | None = Field(None, description="CA the router checks replica certificates against")
    require_token: bool = Field(
        True,
        description="replicas on real nodes refuse calls without the fleet token (simulated nodes bind "
        "to loopback)",
    )


def auth_settings(router: Any) -> dict[str, Any]:
    """The router settings ReloadPolicy may not change (authentication and TLS)."""
    return {
        "api_keys_env": router.api_keys_env,
        "api_keys_file": router.api_keys_file,
        "key_defaults": router.key_defaults.model_dump(),
        "tls": router.tls.model_dump() if router.tls is not None else None,
    }
