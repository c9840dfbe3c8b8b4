"""What `edgefleet up` hands out: a fresh fleet token every start, the replicas' limits, and with
`--tls dev` a local CA used for mutual TLS by the router, the replicas and the stand-in; the CLI
finds the client side of it in the run state."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.fleet_security import fleet_security
from cli.runstate import RunState, client_tls
from edgefleet.policy.loader import parse_policy

POLICY = """
version: 1
fleet: {kserve: {max_batch: 8, max_message_bytes: 65536}}
hosted:
  - {name: big, stand_in: {model: generalist}}
  - {name: real, base_url: "https://api.example/v1"}
"""


def test_off_gives_a_fresh_token_and_the_limits(tmp_path: Path) -> None:
    policy = parse_policy(POLICY)
    first, second = fleet_security(policy, "off", tmp_path), fleet_security(policy, "off", tmp_path)
    assert len(first.guard.token) >= 32 and first.guard.token != second.guard.token
    assert (first.guard.max_batch, first.guard.max_message_bytes) == (8, 65536)
    assert not first.guard.tls and first.router_tls is None and first.client_tls is None
    assert first.hosted == list(policy.hosted) and first.edge_client_kwargs()["credentials"] is None
    assert first.guard.token not in repr(first.guard)


def test_dev_turns_on_mutual_tls_everywhere(tmp_path: Path) -> None:
    sec = fleet_security(parse_policy(POLICY), "dev", tmp_path)
    assert sec.guard.tls and sec.guard.client_ca_pem is not None
    assert sec.router_tls is not None and sec.router_tls.client_ca == str(tmp_path / "tls" / "ca.pem")
    big, real = sec.hosted
    assert big.stand_in is not None and big.stand_in.tls == sec.router_tls and big.tls is not None
    assert real.tls is None  # a real endpoint keeps its own trust
    assert sec.client_tls is not None and Path(str(sec.client_tls.cert)).is_file()
    assert sec.edge_client_kwargs()["credentials"] is not None


def test_the_cli_finds_the_recorded_client_tls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEFLEET_HOME", str(tmp_path))
    for name in ("EDGEFLEET_TLS_CA", "EDGEFLEET_TLS_CERT", "EDGEFLEET_TLS_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert client_tls(None) is None
    sec = fleet_security(parse_policy(POLICY), "dev", tmp_path)
    assert sec.client_tls is not None
    RunState(pid=1, pgid=1, config="c", router="127.0.0.1:1", tls=sec.client_tls.model_dump()).write()
    tls = client_tls(None)
    assert (
        tls is not None
        and str(tls.root_ca).endswith("ca.pem")
        and str(tls.client_cert).endswith("client.pem")
    )
    monkeypatch.setenv("EDGEFLEET_TLS_CA", "/elsewhere/ca.pem")
    assert client_tls(None).root_ca == "/elsewhere/ca.pem"  # type: ignore[union-attr]
