"""Node capacity: room by CPU, memory and replica count; placement never overfills a node; a Scale
beyond what the fleet holds is refused whole with the reason (nothing started); Scale to 10,000."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgefleet.policy.schema import DeploymentConfig, Policy
from edgefleet.state import ReplicaPhase
from fleet.control.capacity import NodeUsage, fleet_room, room, usage_by_node
from fleet.control.placement import NodeView
from fleet.control.reconcile import ReplicaView, plan
from fleet.errors import FleetError
from tests.unit.test_fleet_manager import FakeBackend, make_registry, ready_count, settle


def big_node(name: str, cpu: float = 2.0, memory_mb: int = 1024) -> NodeView:
    resources = {"ov_CPU": 1.0, "CPU": cpu, "memory": float(memory_mb << 20)}
    return NodeView(f"id-{name}", name, {}, resources)


def dep(cpu: float = 0.0, memory_mb: int = 0, replicas: int = 1) -> DeploymentConfig:
    return DeploymentConfig(
        name="d", model="m", replicas=replicas, resources={"cpu": cpu, "memory_mb": memory_mb}
    )


def test_room_by_cpu_memory_and_count() -> None:
    node = big_node("a", cpu=2.0, memory_mb=1000)
    assert room(dep(cpu=0.5), node, None, 64) == 4
    assert room(dep(memory_mb=300), node, None, 64) == 3
    assert room(dep(cpu=0.5, memory_mb=300), node, NodeUsage(1, 0.5, 300), 64) == 2
    assert room(dep(), node, NodeUsage(63), 64) == 1  # nothing declared: only the count cap holds
    assert room(dep(cpu=1.0), node, NodeUsage(2, 2.0, 0), 64) == 0


def test_fleet_room_names_the_full_nodes() -> None:
    nodes = [big_node("a", cpu=1.0), big_node("b", cpu=1.0)]
    usage = usage_by_node([("id-a", "d")], {"d": dep(cpu=1.0)})
    free, why = fleet_room(dep(cpu=1.0), nodes, usage, 64)
    assert free == 1 and "a: 1 of 1 CPUs taken, a replica needs 1" in why


def test_plan_places_only_what_fits_and_says_why() -> None:
    nodes = [big_node("a", cpu=1.0), big_node("b", cpu=1.0)]
    ids = iter(f"r{i}" for i in range(100))
    actions = plan([dep(cpu=0.5, replicas=6)], nodes, [], lambda d: next(ids))
    assert len(actions.starts) == 4
    assert "no room" in actions.errors["d"] and "CPUs taken" in actions.errors["d"]
    ready = [ReplicaView(s.replica_id, "d", s.node_id, ReplicaPhase.READY) for s in actions.starts]
    again = plan([dep(cpu=0.5, replicas=6)], nodes, ready, lambda d: next(ids))
    assert not again.starts and "no room" in again.errors["d"]  # the nodes stay full
    capped = plan([dep(replicas=5)], nodes, [], lambda d: next(ids), max_per_node=2)
    assert len(capped.starts) == 4 and "max_replicas_per_node=2" in capped.errors["d"]


def _manager(tmp_path: Path, resources: dict[str, float]) -> tuple[object, FakeBackend]:
    from fleet.control.manager import FleetManager

    registry = make_registry(tmp_path / "reg")
    policy = Policy.model_validate(
        {"registry": str(registry), "deployments": [{"name": "d", "model": "m", "resources": resources}]}
    )
    backend = FakeBackend([big_node("a", cpu=1.0), big_node("b", cpu=1.0)])
    return FleetManager(policy, tmp_path, backend), backend


async def test_scale_beyond_capacity_is_refused_whole(tmp_path: Path) -> None:
    mgr, backend = _manager(tmp_path, {"cpu": 0.5})
    await settle(mgr, lambda s: ready_count(s, "d") == 1)  # type: ignore[arg-type]
    started = len(backend.replicas)
    with pytest.raises(
        FleetError, match=r"cannot scale d to 5: the fleet has room for 4 .*nothing was started"
    ):
        await mgr.scale("d", 5)  # type: ignore[attr-defined]
    assert mgr.desired.deployment("d").replicas == 1  # type: ignore[attr-defined]
    assert len(backend.replicas) == started
    assert "to 4" in await mgr.scale("d", 4)  # type: ignore[attr-defined]
    await settle(mgr, lambda s: ready_count(s, "d") == 4)  # type: ignore[arg-type]


async def test_scale_to_ten_thousand_is_refused(tmp_path: Path) -> None:
    mgr, _ = _manager(tmp_path, {})
    with pytest.raises(FleetError, match="max_replicas_per_deployment is 32"):
        await mgr.scale("d", 10_000)  # type: ignore[attr-defined]
    assert mgr.desired.deployment("d").replicas == 1  # type: ignore[attr-defined]
