"""A controller that comes back: kill the controller actor under traffic; Ray restarts it, it
restores its desired state (the operator's scale included), adopts the running replicas instead of
duplicating them, and every request is answered meanwhile (real Ray, replicas, router)."""

from __future__ import annotations

import time
from pathlib import Path

import grpc
import pytest
import ray
from grpc_health.v1 import health_pb2, health_pb2_grpc

from fleet.ray_adapter.backend import replica_actor_name
from tests.fixtures.fleet_traffic import SteadyTraffic, routed_fleet, wait_state
from tests.fixtures.ray_cluster import TEST_NAMESPACE

pytestmark = pytest.mark.integration
CONTROLLER = "restart-test-controller"


def policy_yaml(registry: Path) -> str:
    return f"""
registry: {registry}
router: {{listen: "127.0.0.1:0", http_listen: null, fleet_view_max_age_s: 5}}
fleet:
  namespace: {TEST_NAMESPACE}
  controller_name: {CONTROLLER}
  reconcile_interval_s: 0.5
  health_timeout_s: 3
deployments:
  - {{name: intents, model: domain-router, replicas: 1}}
routes:
  - {{name: r, task: classify, targets: [intents], min_confidence: 0}}
"""


def replica_actors() -> set[str]:
    prefix = replica_actor_name("", CONTROLLER)
    return {
        a["name"]
        for a in ray.util.list_named_actors(all_namespaces=True)
        if a["namespace"] == TEST_NAMESPACE and a["name"].startswith(prefix)
    }


async def router_health(address: str) -> int:
    async with grpc.aio.insecure_channel(address) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    return int(reply.status)


async def test_killed_controller_comes_back_adopts_and_loses_no_request(
    ray_cluster: object, model_registry: Path
) -> None:
    registry = Path(model_registry).resolve()
    async with routed_fleet(policy_yaml(registry), registry / "edgefleet.yaml", poll_timeout_s=1.0) as fleet:
        controller = fleet.controller
        await controller.scale("intents", 2)  # an operator override the restart must keep
        before = await wait_state(
            controller,
            "2 intents replicas",
            lambda s: s.deployments[0].ready == 2 == len(s.deployments[0].replicas),
        )
        replica_ids = {r.replica_id for r in before.deployments[0].replicas}
        assert replica_actors() == {replica_actor_name(r, CONTROLLER) for r in replica_ids}

        traffic = SteadyTraffic(fleet.address, loops=2, rate_per_loop=20)
        await traffic.start()
        await traffic.until("traffic flowing", lambda: traffic.report.ok >= 20, 30)
        sent_before_kill = traffic.report.sent
        killed_at = time.monotonic()
        ray.kill(controller._handle, no_restart=False)  # the process dies; Ray restarts the actor

        after = await wait_state(
            controller,
            "the restarted controller",
            lambda s: s.epoch != before.epoch and s.deployments[0].ready == 2,
            timeout_s=90,
        )
        controller_back_s = time.monotonic() - killed_at
        await traffic.until(
            "the router following the new controller", lambda: fleet.source.epoch == after.epoch, 30
        )
        router_back_s = time.monotonic() - killed_at
        await traffic.until(
            "traffic after the restart", lambda: traffic.report.sent >= sent_before_kill + 40, 30
        )
        report = await traffic.stop()

        dep = after.deployments[0]
        assert dep.desired == 2  # the scale override survived (the policy says 1)
        assert {r.replica_id for r in dep.replicas} == replica_ids  # adopted, none started or stopped
        assert replica_actors() == {replica_actor_name(r, CONTROLLER) for r in replica_ids}
        assert any("adopted 2 running replica(s)" in e for e in after.events)
        assert any("desired state restored" in e and "intents=2" in e for e in after.events)
        assert report.errors == [] and report.ok == report.sent
        assert await router_health(fleet.address) == health_pb2.HealthCheckResponse.SERVING
        assert fleet.source.restarts_seen == 1
        print(
            f"\ncontroller restart: answering again after {controller_back_s:.1f} s, router following it "
            f"after {router_back_s:.1f} s; traffic {report.summary()}"
        )
