"""API keys with roles.

Keys come from the environment variable named by ``router.api_keys_env`` (comma-separated entries
``ID:ROLE:SECRET``, ``ROLE:SECRET`` or a bare ``SECRET``, which is an ``app`` key) and/or from the
YAML file named by ``router.api_keys_file`` (:mod:`router.keyfile`: id, role, the key's sha256,
per-key limits). Only the sha256 digest of a key is kept in memory; a presented key is hashed and
compared with every digest in constant time (:func:`hmac.compare_digest`, no early exit), and
keys are never logged: errors name the key's id at most.

Roles: ``app`` may call the Router service and the OpenAI front door; ``viewer`` may read the
Fleet service (GetFleet, WatchFleet); ``operator`` may do both and change the fleet (Scale, Drain,
ReloadPolicy). With no key configured authentication is off and every caller is treated as an
operator (the router then refuses to listen on anything but loopback, see router.server).
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from edgefleet.policy.security_options import KeyLimits
from router.errors import PermissionDenied, Unauthenticated
from router.keyfile import ROLES, KeyRecord, Role, key_digest, read_key_file

Right = Literal["route", "read", "operate"]
RIGHTS: dict[str, frozenset[str]] = {
    "app": frozenset({"route"}),
    "viewer": frozenset({"read"}),
    "operator": frozenset({"route", "read", "operate"}),
}
_WHAT = {"route": "route requests", "read": "read the fleet", "operate": "change the fleet"}
MetadataItems = Iterable[tuple[str, str | bytes]]


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id ("" with authentication off), role and limits."""

    key_id: str
    role: Role
    limits: KeyLimits = field(default_factory=KeyLimits)

    def may(self, right: Right) -> bool:
        """True when the role grants `right`."""
        return right in RIGHTS[self.role]


ANONYMOUS = Principal("", "operator")
"""The caller when authentication is off."""


def parse_env_keys(raw: str, defaults: KeyLimits) -> list[KeyRecord]:
    """Key records from an env var's value (see the module docstring). Raises ValueError naming
    the entry's position (never its secret) when an entry is malformed."""
    records: list[KeyRecord] = []
    for n, entry in enumerate((e.strip() for e in raw.split(",")), start=1):
        if not entry:
            continue
        parts = entry.split(":", 2)
        if len(parts) == 3 and parts[1] in ROLES:
            key_id, role, secret = parts
        elif len(parts) >= 2 and parts[0] in ROLES:
            role, secret = entry.split(":", 1)
            key_id = ""
        else:
            role, secret, key_id = "app", entry, ""
        if not secret:
            raise ValueError(f"entry {n} has an empty key")
        digest = key_digest(secret)
        records.append(KeyRecord(key_id or f"key-{digest.hex()[:8]}", role, digest, defaults))  # type: ignore[arg-type]
    return records


class ApiKeys:
    """The accepted keys; `enabled` False (no source configured) means authentication is off."""

    def __init__(
        self,
        records: Sequence[KeyRecord] = (),
        *,
        sources: Sequence[str] = (),
        defaults: KeyLimits | None = None,
    ) -> None:
        """`defaults` are the limits of the anonymous caller when authentication is off."""
        self.records = tuple(records)
        self.anonymous = Principal("", "operator", defaults or KeyLimits())
        self.sources = tuple(sources)  # e.g. ("$EDGEFLEET_API_KEYS", "keys.yaml"), for messages
        ids = [r.key_id for r in self.records]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"duplicate key id(s): {', '.join(dup)}")

    @classmethod
    def from_secrets(cls, secrets: Iterable[str], source: str = "$KEYS", role: Role = "app") -> ApiKeys:
        """Keys given as plain secrets, all of one role (tests and embedding code)."""
        records = [KeyRecord(f"key-{key_digest(k).hex()[:8]}", role, key_digest(k)) for k in secrets if k]
        return cls(records, sources=[source])

    @classmethod
    def from_env(
        cls,
        env_name: str | None,
        environ: Mapping[str, str] | None = None,
        defaults: KeyLimits | None = None,
    ) -> ApiKeys:
        """Keys from `env_name` in `environ` (default os.environ) only."""
        return cls.load(env_name, None, defaults or KeyLimits(), environ=environ)

    @classmethod
    def load(
        cls,
        env_name: str | None,
        key_file: str | Path | None,
        defaults: KeyLimits,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> ApiKeys:
        """Keys from the env var and/or the keys file (either may be None)."""
        records: list[KeyRecord] = []
        sources: list[str] = []
        if env_name is not None:
            raw = (environ if environ is not None else os.environ).get(env_name, "")
            try:
                records += parse_env_keys(raw, defaults)
            except ValueError as exc:
                raise ValueError(f"${env_name}: {exc}") from None
            sources.append(f"${env_name}")
        if key_file is not None:
            records += read_key_file(Path(key_file), defaults)
            sources.append(str(key_file))
        return cls(records, sources=sources, defaults=defaults)

    @property
    def enabled(self) -> bool:
        """True when callers must authenticate."""
        return bool(self.sources)

    def authenticate(self, metadata: MetadataItems | None) -> Principal:
        """The caller behind the metadata's key (ANONYMOUS when authentication is off); raises
        Unauthenticated for a missing or unknown key."""
        if not self.enabled:
            return self.anonymous
        if not self.records:
            verb = "holds" if len(self.sources) == 1 else "hold"
            raise Unauthenticated(f"API keys are required but {' and '.join(self.sources)} {verb} none")
        presented = presented_key(metadata or ())
        if presented is None:
            raise Unauthenticated("missing API key: send 'authorization: Bearer KEY' or 'x-api-key: KEY'")
        given = key_digest(presented)
        found: KeyRecord | None = None
        for record in self.records:  # every digest compared: the time does not depend on which
            if hmac.compare_digest(given, record.digest):
                found = record
        if found is None:
            raise Unauthenticated("invalid API key")
        return Principal(found.key_id, found.role, found.limits)

    def authorize(self, metadata: MetadataItems | None, right: Right) -> Principal:
        """authenticate(), then raise PermissionDenied unless the caller's role grants `right`."""
        principal = self.authenticate(metadata)
        if not principal.may(right):
            allowed = [r for r in ROLES if right in RIGHTS[r]]
            raise PermissionDenied(
                f"key {principal.key_id!r} has role {principal.role!r}, which may not {_WHAT[right]} "
                f"(needs {' or '.join(allowed)})"
            )
        return principal

    def check(self, metadata: MetadataItems | None) -> Principal:
        """A caller that may route requests (the Router service, the front door)."""
        return self.authorize(metadata, "route")


def presented_key(metadata: MetadataItems) -> str | None:
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
