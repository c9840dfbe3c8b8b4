"""The keys file (``router.api_keys_file``): API keys hashed at rest, with roles and limits.

```yaml
keys:
  - id: shop-app                 # what the ledger, the metrics and error messages name
    role: app                    # app | viewer | operator
    sha256: 9f86d0...            # hex sha256 of the key (the key itself is never stored)
    rate_per_s: 20               # optional, else router.key_defaults
    burst: 40
    budget_usd_per_day: 5
    budget_usd_per_month: 50
```

``edgefleet keys add --id ID --role ROLE --file F`` generates a key, prints it once and appends
its record (:func:`add_key`). The file is written 0600; it holds no secret, but who may call as
whom is worth keeping private.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from edgefleet.policy.security_options import KeyLimits

Role = Literal["app", "viewer", "operator"]
ROLES: tuple[Role, ...] = ("app", "viewer", "operator")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
MAX_KEY_FILE_BYTES = 1 << 20


def key_digest(secret: str) -> bytes:
    """The sha256 digest a key is stored and compared as."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


@dataclass(frozen=True)
class KeyRecord:
    """One accepted key: its id (what the ledger and messages name), role, digest and limits."""

    key_id: str
    role: Role
    digest: bytes = field(repr=False)
    limits: KeyLimits = field(default_factory=KeyLimits)


def read_key_file(path: Path, defaults: KeyLimits) -> list[KeyRecord]:
    """The records of a keys file; raises ValueError naming the file and the entry."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"keys file {path}: cannot read it: {exc.strerror or exc}") from None
    if len(raw) > MAX_KEY_FILE_BYTES:
        raise ValueError(f"keys file {path}: larger than {MAX_KEY_FILE_BYTES} bytes")
    try:
        data = yaml.safe_load(raw.decode("utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ValueError(f"keys file {path}: not valid YAML: {exc}") from None
    entries = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ValueError(f"keys file {path}: expected a mapping with a `keys` list")
    return [_record(path, n, entry, defaults) for n, entry in enumerate(entries)]


def _record(path: Path, n: int, entry: Any, defaults: KeyLimits) -> KeyRecord:
    where = f"keys file {path}: keys[{n}]"
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: expected a mapping")
    key_id, role, digest = entry.get("id"), entry.get("role"), str(entry.get("sha256", "")).lower()
    if not isinstance(key_id, str) or not _ID.match(key_id):
        raise ValueError(f"{where}: id must be 1-64 letters, digits, '.', '_' or '-'")
    if role not in ROLES:
        raise ValueError(f"{where}: role must be one of {', '.join(ROLES)}")
    if not _HEX64.match(digest):
        raise ValueError(f"{where}: sha256 must be the key's hex sha256 (64 hex digits)")
    unknown = set(entry) - {"id", "role", "sha256", *KeyLimits.model_fields}
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    own = {k: entry[k] for k in KeyLimits.model_fields if k in entry}
    try:
        limits = defaults.model_copy(update=KeyLimits(**own).model_dump(include=set(own)))
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    return KeyRecord(key_id, role, bytes.fromhex(digest), limits)


def new_key() -> str:
    """A fresh random key (256 bits, URL-safe)."""
    return "ef_" + secrets.token_urlsafe(32)


def add_key(path: Path, key_id: str, role: str, **limits: float | int | None) -> str:
    """Generate a key, append its record to the keys file (created 0600) and return the key (the
    only time it is seen)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if not _ID.match(key_id):
        raise ValueError("id must be 1-64 letters, digits, '.', '_' or '-'")
    data: dict[str, Any] = {"keys": []}
    if path.exists():
        read_key_file(path, KeyLimits())  # refuse to extend a broken file
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {"keys": []}
        if any(e.get("id") == key_id for e in data["keys"]):
            raise ValueError(f"keys file {path} already has a key with id {key_id!r}")
    key = new_key()
    record: dict[str, Any] = {"id": key_id, "role": role, "sha256": key_digest(key).hex()}
    record.update({k: v for k, v in limits.items() if v is not None})
    KeyLimits(**{k: v for k, v in record.items() if k in KeyLimits.model_fields})
    data["keys"].append(record)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        yaml.safe_dump(data, fh, sort_keys=False)
    tmp.replace(path)
    return key
