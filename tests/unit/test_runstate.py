"""cli.runstate: where the CLI finds the router, and which API key it sends."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.runstate import api_key, router_address
from edgefleet.constants import API_KEY_ENV, DEFAULT_ROUTER_ADDRESS


def test_the_flag_then_the_environment_then_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(API_KEY_ENV, "from-env")
    assert api_key("from-flag") == "from-flag"
    assert api_key(None) == "from-env"
    monkeypatch.setenv(API_KEY_ENV, "")
    assert api_key(None) is None and api_key("") is None


def test_the_router_flag_else_the_default_without_a_running_fleet(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("EDGEFLEET_HOME", str(tmp_path))
    assert router_address("10.1.2.3:50051") == "10.1.2.3:50051"
    assert router_address(None) == DEFAULT_ROUTER_ADDRESS
