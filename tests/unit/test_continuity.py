"""fleet.control.continuity: a restarted controller restores its desired state and adopts the
replicas still running instead of duplicating them (fake backend, no Ray)."""

from __future__ import annotations

from pathlib import Path

from fleet.control.desired_store import MemoryStore
from tests.unit.fleet_fakes import make_manager, node, ready_count, settle

DEPLOYMENTS = [{"name": "d", "model": "m", "replicas": 1}, {"name": "e", "model": "m", "replicas": 1}]


async def test_restarted_manager_restores_overrides_and_adopts_replicas(tmp_path: Path) -> None:
    store = MemoryStore()
    nodes = [node("a"), node("b")]
    first, backend = make_manager(tmp_path, DEPLOYMENTS, nodes, store=store)
    await settle(first, lambda s: ready_count(s, "d") == 1 and ready_count(s, "e") == 1)
    await first.scale("d", 2)
    await first.drain("b")
    await settle(first, lambda s: ready_count(s, "d") == 2 and not s.node("b").replicas)  # type: ignore[union-attr]
    running = {rid for rid, r in backend.replicas.items() if not r.dead}
    assert len(running) == 3 and store.saves >= 3

    # The controller process dies (its replicas do not) and Ray starts it again with the policy it
    # was created with: the saved desired state wins, and the running replicas are adopted.
    second, _ = make_manager(tmp_path, DEPLOYMENTS, nodes, backend=backend, store=store, restore=True)
    assert second.epoch != first.epoch
    assert second.desired.scale_overrides == {"d": 2} and second.desired.drained == {"id-b"}
    state = await settle(second, lambda s: ready_count(s, "d") == 2 and ready_count(s, "e") == 1)
    assert {r.replica_id for d in state.deployments for r in d.replicas} == running  # none new
    assert {rid for rid, r in backend.replicas.items() if not r.dead} == running  # none stopped
    assert any("adopted 3 running replica(s)" in e for e in state.events)
    assert any("desired state restored" in e and "d=2" in e for e in second.events)


async def test_a_fresh_controller_starts_from_its_policy_and_saves_it(tmp_path: Path) -> None:
    store = MemoryStore()
    first, _ = make_manager(tmp_path, DEPLOYMENTS, [node("a")], store=store)
    await settle(first, lambda s: ready_count(s, "d") == 1)  # the nodes are known: room is checked
    await first.scale("d", 3)
    fresh, _ = make_manager(tmp_path, DEPLOYMENTS, [node("a")], store=store, restore=False)
    assert fresh.desired.scale_overrides == {}  # `edgefleet up` again: the file's word
    assert store.load() is not None and store.load()["scale_overrides"] == {}  # type: ignore[index]


async def test_unreadable_record_falls_back_to_the_policy(tmp_path: Path) -> None:
    store = MemoryStore({"format": 99})
    mgr, _ = make_manager(tmp_path, DEPLOYMENTS, [node("a")], store=store, restore=True)
    assert [d.name for d in mgr.desired.deployments()] == ["d", "e"]
    assert any("saved desired state refused" in e for e in mgr.events)


async def test_replicas_that_cannot_say_what_they_are_are_stopped(tmp_path: Path) -> None:
    first, backend = make_manager(tmp_path, DEPLOYMENTS[:1], [node("a")])
    await settle(first, lambda s: ready_count(s, "d") == 1)
    [(rid, replica)] = list(backend.replicas.items())
    replica.report = lambda: {"ready": True}  # type: ignore[method-assign]  # no identity
    second, _ = make_manager(tmp_path, DEPLOYMENTS[:1], [node("a")], backend=backend)
    state = await settle(second, lambda s: ready_count(s, "d") == 1)
    assert replica.dead and rid not in {r.replica_id for r in state.deployments[0].replicas}
    assert any(f"not adopting replica {rid}" in e for e in second.events)


async def test_shutdown_before_the_first_pass_still_stops_running_replicas(tmp_path: Path) -> None:
    first, backend = make_manager(tmp_path, DEPLOYMENTS, [node("a")])
    await settle(first, lambda s: ready_count(s, "d") == 1 and ready_count(s, "e") == 1)
    second, _ = make_manager(tmp_path, DEPLOYMENTS, [node("a")], backend=backend, restore=True)
    await second.shutdown()
    assert all(r.dead for r in backend.replicas.values())
