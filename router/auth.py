"""API-key authentication: when ``router.api_keys_env`` names an environment
variable, callers must send one of its comma-separated keys as
``authorization: Bearer KEY`` or ``x-api-key: KEY`` metadata."""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterable, Mapping

from router.errors import Unauthenticated


class ApiKeys:
    """The accepted keys (none configured = authentication off)."""

    def __init__(self, env_name: str | None, keys: Iterable[str] = ()) -> None:
        self.env_name = env_name
        self.keys = tuple(k for k in keys if k)

    @classmethod
    def from_env(cls, env_name: str | None, environ: Mapping[str, str] | None = None) -> ApiKeys:
        """Read the keys from `env_name` (comma-separated) in `environ` (default os.environ)."""
        if env_name is None:
            return cls(None)
        raw = (environ if environ is not None else os.environ).get(env_name, "")
        return cls(env_name, (k.strip() for k in raw.split(",")))

    @property
    def enabled(self) -> bool:
        """True when callers must authenticate."""
        return self.env_name is not None

    def check(self, metadata: Iterable[tuple[str, str | bytes]] | None) -> None:
        """Raise Unauthenticated unless the metadata carries an accepted key."""
        if not self.enabled:
            return
        if not self.keys:
            raise Unauthenticated(f"API keys are required but ${self.env_name} holds none")
        presented = presented_key(metadata or ())
        if presented is None:
            raise Unauthenticated("missing API key: send 'authorization: Bearer KEY' or 'x-api-key: KEY'")
        given = presented.encode("utf-8")
        if not any(hmac.compare_digest(given, k.encode("utf-8")) for k in self.keys):
            raise Unauthenticated("invalid API key")


def presented_key(metadata: Iterable[tuple[str, str | bytes]]) -> str | None:
    """The key a caller sent, from `authorization: Bearer` or `x-api-key` metadata."""
    for name, value in metadata:
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        lname = name.lower()
        if lname == "authorization":
            scheme, _, token = text.strip().partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
        elif lname == "x-api-key" and text.strip():
            return text.strip()
    return None
