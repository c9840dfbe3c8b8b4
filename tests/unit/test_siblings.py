"""Sibling replicas (router.siblings): another replica of the same deployment, never one already
tried, never one whose circuit is open, none when none is left."""

from __future__ import annotations

import random

from edgefleet.state import DeploymentState, ReplicaState
from router.estimates import Estimates
from router.siblings import pick_sibling, worth_a_sibling


def _dep(n: int) -> DeploymentState:
    reps = [ReplicaState(f"r{i}", "d", "n", "node", "CPU", f"a:{i}", "ready") for i in range(n)]
    return DeploymentState("d", "m", "1", "FP32", n, n, reps)


def test_a_sibling_is_another_replica() -> None:
    est, rng = Estimates(), random.Random(1)
    for _ in range(20):
        sibling = pick_sibling(_dep(3), {"r1"}, est, rng)
        assert sibling is not None and sibling.replica_id in {"r0", "r2"}


def test_no_sibling_when_all_were_tried_or_are_not_eligible() -> None:
    est, rng = Estimates(breaker_failures=1), random.Random(1)
    assert pick_sibling(_dep(2), {"r0", "r1"}, est, rng) is None
    est.begin("r1")
    est.end("r1", 5.0, False)  # r1's breaker opens
    assert pick_sibling(_dep(2), {"r0"}, est, rng) is None
    dep = _dep(2)
    dep.replicas[1].state = "starting"
    assert pick_sibling(dep, {"r0"}, Estimates(), rng) is None


def test_only_errors_are_worth_a_sibling() -> None:
    assert worth_a_sibling("error")
    assert not worth_a_sibling("timeout") and not worth_a_sibling("skip") and not worth_a_sibling("ok")
