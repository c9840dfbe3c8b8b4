"""Unit tests of fleet.control.reconcile.plan (pure, no Ray)."""

from __future__ import annotations

import itertools
from collections.abc import Callable

from edgefleet.policy.schema import DeploymentConfig
from fleet.control.placement import NodeView
from fleet.control.reconcile import DEAD, Canary, ReplicaView, plan


def node(name: str, devices: tuple[str, ...] = ("CPU",), **kw: object) -> NodeView:
    return NodeView(f"id-{name}", name, {}, {f"ov_{d}": 1.0 for d in devices}, **kw)  # type: ignore[arg-type]


def ids() -> Callable[[str], str]:
    counter = itertools.count(1)
    return lambda dep: f"{dep}-new{next(counter)}"


A, B = node("a"), node("b")
DEP2 = DeploymentConfig(name="d", model="m", replicas=2)


def rep(
    rid: str, node_name: str, state: str = "ready", dep: str = "d", version: str = "", precision: str = "auto"
) -> ReplicaView:
    return ReplicaView(rid, dep, f"id-{node_name}", state, version, precision)  # type: ignore[arg-type]


def test_scale_up_spreads_across_nodes() -> None:
    p = plan([DEP2], [A, B], [], ids())
    assert sorted(s.node_name for s in p.starts) == ["a", "b"]
    assert not p.stops and not p.errors


def test_steady_state_is_empty() -> None:
    assert plan([DEP2], [A, B], [rep("r1", "a"), rep("r2", "b")], ids()).empty()


def test_dead_and_unhealthy_are_replaced() -> None:
    p = plan([DEP2], [A, B], [rep("r1", "a", DEAD), rep("r2", "b", "unhealthy")], ids())
    assert {s.replica_id for s in p.stops} == {"r1", "r2"}
    assert len(p.starts) == 2


def test_replica_on_dead_node_is_replaced_elsewhere() -> None:
    dead_b = node("b", alive=False)
    p = plan([DEP2], [A, dead_b], [rep("r1", "a"), rep("r2", "b")], ids())
    assert [s.replica_id for s in p.stops] == ["r2"]
    assert [s.node_name for s in p.starts] == ["a"]


def test_scale_down_prefers_starting_and_crowded_nodes() -> None:
    one = DeploymentConfig(name="d", model="m", replicas=1)
    p = plan([one], [A, B], [rep("r1", "a"), rep("r2", "a", "starting"), rep("r3", "b")], ids())
    assert {s.replica_id for s in p.stops} == {"r1", "r2"}
    assert not p.starts


def test_drain_is_make_before_break() -> None:
    drained_b = node("b", drained=True)
    observed = [rep("r1", "a"), rep("r2", "b")]
    first = plan([DEP2], [A, drained_b], observed, ids())
    assert [s.node_name for s in first.starts] == ["a"]
    assert not first.stops  # r2 keeps serving while its replacement starts
    # next pass: the replacement is ready -> the drained replica is stopped
    second = plan([DEP2], [A, drained_b], [*observed, rep("d-new1", "a")], ids())
    assert [s.replica_id for s in second.stops] == ["r2"]
    assert not second.starts


def test_drain_without_anywhere_else_stops_and_reports() -> None:
    drained_b = node("b", drained=True)
    p = plan([DEP2], [drained_b], [rep("r1", "b")], ids())
    assert [s.replica_id for s in p.stops] == ["r1"]
    assert "drained" in p.errors["d"]


def test_removed_deployment_is_stopped() -> None:
    p = plan([], [A], [rep("r1", "a", dep="old")], ids())
    assert p.stops[0].replica_id == "r1" and "no longer in the policy" in p.stops[0].reason


def test_stale_version_rolls_over() -> None:
    one = DeploymentConfig(name="d", model="m", replicas=1)
    p = plan([one], [A, B], [rep("r1", "a", version="1")], ids(), desired_versions={"d": "2"})
    assert len(p.starts) == 1 and not p.stops
    p2 = plan([one], [A, B], [rep("r1", "a", version="1"), rep("n", "b", version="2")], ids(), {"d": "2"})
    assert [s.replica_id for s in p2.stops] == ["r1"]


def test_starts_carry_the_deployment_precision() -> None:
    bf16 = DeploymentConfig(name="d", model="m", replicas=2, precision="bf16")
    assert [s.precision for s in plan([bf16], [A, B], [], ids()).starts] == ["bf16", "bf16"]
    assert [s.precision for s in plan([DEP2], [A, B], [], ids()).starts] == ["auto", "auto"]


def test_precision_change_rolls_over() -> None:
    f32 = DeploymentConfig(name="d", model="m", replicas=1, precision="f32")
    assert plan([f32], [A, B], [rep("r1", "a", precision="f32")], ids()).empty()
    p = plan([f32], [A, B], [rep("r1", "a", precision="auto")], ids())
    assert [s.precision for s in p.starts] == ["f32"] and not p.stops  # make before break
    p2 = plan([f32], [A, B], [rep("r1", "a"), rep("n", "b", precision="f32")], ids())
    assert [s.replica_id for s in p2.stops] == ["r1"] and not p2.starts


def test_placement_error_does_not_stop_other_deployments() -> None:
    npu = DeploymentConfig(name="npu", model="m", devices=["NPU"])
    p = plan([npu, DEP2], [A, B], [], ids())
    assert "npu" in p.errors and "NPU" in p.errors["npu"]
    assert len(p.starts) == 2


def test_blocked_deployment_gets_no_replicas() -> None:
    p = plan([DEP2], [A, B], [], ids(), blocked={"d": "model missing"})
    assert not p.starts and p.errors == {"d": "model missing"}


def test_canary_group_runs_beside_the_stable_replicas() -> None:
    canary = Canary("2", 1)
    stable = [rep("r1", "a", version="1"), rep("r2", "b", version="1")]
    p = plan([DEP2], [A, B], stable, ids(), {"d": "1"}, canaries={"d": canary})
    assert [(s.deployment, s.version) for s in p.starts] == [("d", "2")] and not p.stops
    running = [*stable, rep("c1", "a", "starting", version="2")]
    assert plan([DEP2], [A, B], running, ids(), {"d": "1"}, canaries={"d": canary}).empty()


def test_promoted_canary_counts_and_old_versions_roll_over_make_before_break() -> None:
    replicas = [rep("r1", "a", version="1"), rep("r2", "b", version="1"), rep("c1", "a", version="2")]
    p = plan([DEP2], [A, B], replicas, ids(), {"d": "2"})  # promoted: stable is now version 2
    assert [s.version for s in p.starts] == [""]  # one more of the stable version, and meanwhile
    assert [s.replica_id for s in p.stops] == ["r2"]  # one old replica keeps 2 ready with the canary
    replicas.remove(replicas[1])
    replicas.append(rep("n1", "b", version="2"))
    p = plan([DEP2], [A, B], replicas, ids(), {"d": "2"})
    assert [s.replica_id for s in p.stops] == ["r1"] and not p.starts


def test_rolled_back_canary_replicas_are_stopped() -> None:
    replicas = [rep("r1", "a", version="1"), rep("r2", "b", version="1"), rep("c1", "a", version="2")]
    p = plan([DEP2], [A, B], replicas, ids(), {"d": "1"})  # no canary any more
    assert [s.replica_id for s in p.stops] == ["c1"] and not p.starts
