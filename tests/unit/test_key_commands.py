"""`edgefleet keys add`: the key is printed once, only its hash is stored, and the router accepts it."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.main import main
from edgefleet.policy.security_options import KeyLimits
from router.auth import ApiKeys


def test_keys_add_prints_the_key_once_and_stores_its_hash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "keys.yaml"
    assert (
        main(
            [
                "keys",
                "add",
                "--file",
                str(path),
                "--id",
                "ops",
                "--role",
                "operator",
                "--budget-usd-per-day",
                "5",
            ]
        )
        == 0
    )
    out = capsys.readouterr()
    key = out.out.strip()
    assert key.startswith("ef_") and key not in path.read_text() and "only its sha256 is stored" in out.err
    caller = ApiKeys.load(None, path, KeyLimits()).authenticate([("x-api-key", key)])
    assert (caller.key_id, caller.role, caller.limits.budget_usd_per_day) == ("ops", "operator", 5.0)
    assert main(["keys", "add", "--file", str(path), "--id", "ops", "--role", "app"]) == 1
    assert "already has a key with id 'ops'" in capsys.readouterr().err
