"""Autoscaling on a real fleet: the controller reads its replicas' measured latency, scales up
under traffic and back down when it stops, within node capacity, and every decision is an event
that GetFleet (the dashboard, ``edgefleet status``) shows (real Ray, replicas, router)."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from protos.edgefleet.v1 import fleet_pb2, fleet_pb2_grpc
from tests.fixtures.fleet_traffic import SteadyTraffic, routed_fleet, wait_state
from tests.fixtures.ray_cluster import TEST_NAMESPACE

pytestmark = pytest.mark.integration


def policy_yaml(registry: Path) -> str:
    # A p95 target no replica meets while it serves (0.01 ms): traffic always asks for more, and an
    # idle replica's recent p95 is 0 once its 10 s window is empty. Capacity: two one-CPU nodes.
    autoscale = "{min: 1, max: 4, target_p95_ms: 0.01, cooldown_s: 3, window_s: 1}"
    return f"""
registry: {registry}
router: {{listen: "127.0.0.1:0", http_listen: null}}
fleet:
  namespace: {TEST_NAMESPACE}
  controller_name: autoscale-test-controller
  reconcile_interval_s: 0.5
  health_timeout_s: 3
deployments:
  - {{name: elastic, model: domain-router, replicas: 1, autoscale: {autoscale}}}
routes:
  - {{name: r, task: classify, targets: [elastic], min_confidence: 0}}
"""


def replicas(state: object) -> int:
    dep = state.deployment("elastic")  # type: ignore[attr-defined]
    return sum(1 for r in dep.replicas if r.state == "ready") if dep is not None else -1


async def test_replicas_follow_the_load_within_capacity_with_events(
    ray_cluster: object, model_registry: Path
) -> None:
    registry = Path(model_registry).resolve()
    async with routed_fleet(policy_yaml(registry), registry / "edgefleet.yaml") as fleet:
        controller = fleet.controller
        traffic = SteadyTraffic(fleet.address, loops=2, rate_per_loop=30)
        await traffic.start()
        state = await wait_state(controller, "scaled up to node capacity", lambda s: replicas(s) == 2, 120)
        assert "capped at 2 by node capacity" in state.deployment("elastic").autoscale or any(  # type: ignore[union-attr]
            "autoscale elastic: 1 -> 2 replicas" in e for e in state.events
        )
        report = await traffic.stop()
        assert report.errors == []
        state = await wait_state(
            controller,
            "scaled back down",
            lambda s: replicas(s) == 1 and len(s.deployment("elastic").replicas) == 1,
            120,  # type: ignore[union-attr]
        )
        scale_events = [e for e in state.events if "autoscale elastic" in e]
        assert any("1 -> 2" in e and "above target" in e for e in scale_events)
        assert any("2 -> 1" in e and "below target" in e for e in scale_events)
        async with grpc.aio.insecure_channel(fleet.address) as channel:
            snap = await fleet_pb2_grpc.FleetStub(channel).GetFleet(fleet_pb2.GetFleetRequest(), timeout=10)
        [dep] = [d for d in snap.deployments if d.name == "elastic"]
        assert dep.autoscale.startswith("1..4 (capacity 2): ")
        assert any("autoscale elastic: 2 -> 1" in e for e in snap.events)
        print(f"\nautoscale events: {scale_events}; traffic {report.summary()}")
