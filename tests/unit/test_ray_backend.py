"""Where a replica's KServe server binds: loopback on a simulated node or the head; the node's
address on a real node, and only with the fleet token (a replica there without one serves nothing)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edgefleet.replica_guard import ReplicaGuard
from fleet.models.manifest import load_bundle
from fleet.ray_adapter import backend
from fleet.ray_adapter.backend import ReplicaActor, is_local_node
from tests.unit.test_fleet_manager import make_registry


def test_local_nodes_are_simulated_or_the_head() -> None:
    assert is_local_node({"edgefleet.io/simulated": "true", "edgefleet.io/node": "edge-small"})
    assert is_local_node({"edgefleet.io/node": "head"})
    assert is_local_node({"edgefleet.io/simulated": ["true"]})  # label values as lists
    assert not is_local_node({"edgefleet.io/node": "store-7"})
    assert not is_local_node({})


class _Context:
    def __init__(self, labels: dict[str, str]) -> None:
        self.labels = labels

    def get_node_labels(self) -> dict[str, str]:
        return self.labels

    def get_node_id(self) -> str:
        return "node-id-1"


def _actor(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, labels: dict[str, str], guard: ReplicaGuard
) -> tuple[ReplicaActor, list[str]]:
    started: list[str] = []
    monkeypatch.setattr(backend.ray, "get_runtime_context", lambda: _Context(labels))
    monkeypatch.setattr(backend.ray.util, "get_node_ip_address", lambda: "10.1.2.3")

    def fake_start(self: ReplicaActor) -> dict[str, Any]:
        started.append(str(self.host))
        return {"ready": True}

    monkeypatch.setattr(backend.Replica, "start", fake_start)
    bundle = load_bundle(make_registry(tmp_path / "reg") / "m" / "1")
    return ReplicaActor("r1", "d", bundle, ["CPU"], "n", guard=guard), started


def test_simulated_nodes_bind_loopback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    actor, started = _actor(
        monkeypatch, tmp_path, {"edgefleet.io/simulated": "true"}, ReplicaGuard(token="t")
    )
    actor.start()
    assert started == ["127.0.0.1"]


def test_real_nodes_bind_their_address_only_with_a_token(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    actor, started = _actor(monkeypatch, tmp_path, {"edgefleet.io/node": "store-7"}, ReplicaGuard(token="t"))
    actor.start()
    assert started == ["10.1.2.3"]
    tokenless, started = _actor(monkeypatch, tmp_path / "2", {"edgefleet.io/node": "store-7"}, ReplicaGuard())
    report = tokenless.start()
    assert not started and not report["ready"] and "no fleet token" in report["error"]
