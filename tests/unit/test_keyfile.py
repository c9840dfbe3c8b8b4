"""The keys file: hashed keys with roles and limits; `add_key` writes it 0600 and shows the key once."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from edgefleet.policy.security_options import KeyLimits
from router.keyfile import add_key, key_digest, read_key_file


def test_add_key_stores_only_the_hash_privately(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    key = add_key(path, "shop-app", "app", rate_per_s=5, budget_usd_per_day=2.0)
    text = path.read_text()
    assert key not in text and key_digest(key).hex() in text
    assert path.stat().st_mode & 0o777 == 0o600
    [record] = read_key_file(path, KeyLimits(budget_usd_per_month=9.0))
    assert (record.key_id, record.role, record.digest) == ("shop-app", "app", key_digest(key))
    assert record.limits == KeyLimits(rate_per_s=5, budget_usd_per_day=2.0, budget_usd_per_month=9.0)
    other = add_key(path, "ops", "operator")
    assert other != key and [r.key_id for r in read_key_file(path, KeyLimits())] == ["shop-app", "ops"]
    with pytest.raises(ValueError, match="already has a key with id 'ops'"):
        add_key(path, "ops", "viewer")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"id": "a", "role": "root", "sha256": "0" * 64}, "role must be one of"),
        ({"id": "../a", "role": "app", "sha256": "0" * 64}, "id must be"),
        ({"id": "a", "role": "app", "sha256": "plain-text-key"}, "sha256 must be"),
        ({"id": "a", "role": "app", "sha256": "0" * 64, "rate_per_s": -1}, "greater than 0"),
        ({"id": "a", "role": "app", "sha256": "0" * 64, "admin": True}, "unknown key"),
        ("not a mapping", "expected a mapping"),
    ],
)
def test_bad_entries_name_the_entry_never_a_key(tmp_path: Path, entry: object, message: str) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text(yaml.safe_dump({"keys": [entry]}))
    with pytest.raises(ValueError, match=message) as info:
        read_key_file(path, KeyLimits())
    assert "keys[0]" in str(info.value)


def test_unreadable_or_huge_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read"):
        read_key_file(tmp_path / "missing.yaml", KeyLimits())
    huge = tmp_path / "huge.yaml"
    huge.write_bytes(b"#" * (2 << 20))
    with pytest.raises(ValueError, match="larger than"):
        read_key_file(huge, KeyLimits())
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("keys: &a [*a]")
    with pytest.raises(ValueError):
        read_key_file(bomb, KeyLimits())
