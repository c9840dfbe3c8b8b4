"""fleet.control.scaling: the manager follows the replicas' measured load (fake backend)."""

from __future__ import annotations

from pathlib import Path

from fleet.control.desired_store import MemoryStore
from tests.unit.fleet_fakes import FakeBackend, make_manager, node, ready_count, settle

AUTOSCALED = {
    "name": "d",
    "model": "m",
    "replicas": 1,
    "autoscale": {"min": 1, "max": 3, "target_queue": 2, "cooldown_s": 0, "window_s": 0.001},
}


def load(backend: FakeBackend, inflight: float) -> None:
    """Every replica reports `inflight` requests in flight."""
    for replica in backend.replicas.values():
        report = replica.report

        def loaded(report=report) -> dict[str, object]:  # type: ignore[no-untyped-def]
            return {**report(), "inflight": inflight, "recent_p95_ms": 12.0}

        replica.report = loaded  # type: ignore[method-assign]


async def test_replica_count_follows_the_queue_within_capacity(tmp_path: Path) -> None:
    store = MemoryStore()
    nodes = [node("a"), node("b")]  # no CPU resource: capacity 1 each
    mgr, backend = make_manager(tmp_path, [AUTOSCALED], nodes, store=store)
    await settle(mgr, lambda s: ready_count(s, "d") == 1)
    load(backend, 6.0)
    state = await settle(mgr, lambda s: ready_count(s, "d") == 2)
    assert any("autoscale d: 1 -> 2 replicas (outstanding" in e for e in state.events)
    assert store.load()["autoscaled"] == {"d": 2}  # type: ignore[index]
    load(backend, 6.0)
    await settle(mgr, lambda s: "capped at 2 by node capacity" in s.deployments[0].autoscale)
    assert ready_count(mgr.state, "d") == 2  # max 3, but two nodes of one CPU
    load(backend, 0.0)
    state = await settle(mgr, lambda s: ready_count(s, "d") == 1 and len(s.deployments[0].replicas) == 1)
    assert any("autoscale d: 2 -> 1 replicas" in e and "below target" in e for e in state.events)
    assert state.deployments[0].autoscale.startswith("1..3 (capacity 2): ")


async def test_operator_scale_of_an_autoscaled_deployment_is_clamped(tmp_path: Path) -> None:
    mgr, _ = make_manager(tmp_path, [AUTOSCALED], [node("a")])
    await settle(mgr, lambda s: ready_count(s, "d") == 1)  # the nodes are known: room is checked
    message = await mgr.scale("d", 9)
    assert "from 1 to 3" in message and "clamped to its bounds" in message
    assert mgr.desired.autoscaled == {"d": 3} and mgr.desired.scale_overrides == {}
