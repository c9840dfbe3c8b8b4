"""router.targets: each replica is addressed with the model version it serves."""

from __future__ import annotations

import asyncio
import copy
import random
from collections.abc import Sequence

from router.domain import EdgeOutput
from router.estimates import Estimates
from router.targets import FleetIndex, TargetCaller, replica_version
from tests.unit.router_fakes import make_state, scripted


class VersionEdge:
    """An edge caller that answers like a replica: NOT_FOUND-like failure for a version it lacks."""

    def __init__(self, served: dict[str, str]) -> None:
        self.served = served  # address -> version
        self.asked: list[tuple[str, str]] = []

    async def infer(
        self, address: str, model: str, version: str, texts: Sequence[str], task: str, timeout_s: float
    ) -> list[EdgeOutput]:
        self.asked.append((address, version))
        if version != self.served[address]:
            raise AssertionError(f"{address} serves {self.served[address]}, asked for {version}")
        return [scripted(model, t) for t in texts]


def mixed_versions() -> tuple[object, object, object]:
    """clinc-banking mid-rollout: replica 0 still on version 1, replica 1 on version 2."""
    state = copy.deepcopy(make_state())
    dep = state.deployment("clinc-banking")
    assert dep is not None
    dep.version = "2"
    dep.replicas[1].version = "2"
    return dep, dep.replicas[0], dep.replicas[1]


def test_replica_version_prefers_the_replicas_own() -> None:
    dep, old, new = mixed_versions()
    assert replica_version(dep, old) == "1" and replica_version(dep, new) == "2"
    new.version = ""  # type: ignore[attr-defined]
    assert replica_version(dep, new) == "2"  # unknown: the deployment's


async def test_old_and_new_replicas_are_each_asked_for_their_version() -> None:
    dep, old, new = mixed_versions()
    edge = VersionEdge({old.address: "1", new.address: "2"})  # type: ignore[attr-defined]
    caller = TargetCaller(edge, {}, Estimates(), random.Random(0))
    for replica in (old, new):
        answer = await caller.call_edge(dep, replica, "what is my balance", "classify", 1.0)
        assert answer.label == "balance"
        assert answer.served_by.version == replica.version  # type: ignore[attr-defined]
    assert edge.asked == [(old.address, "1"), (new.address, "2")]  # type: ignore[attr-defined]
    assert FleetIndex.build(make_state()).deployments["clinc-banking"].version == "1"


async def test_calls_during_a_canary_are_counted_and_shadowed() -> None:
    dep, old, new = mixed_versions()
    dep.version = "1"  # type: ignore[attr-defined]  # stable 1, canary 2 on replica 1
    dep.canary_version, dep.canary_share, dep.shadow_share = "2", 0.5, 1.0  # type: ignore[attr-defined]
    edge = VersionEdge({old.address: "1", new.address: "2"})  # type: ignore[attr-defined]
    caller = TargetCaller(edge, {}, Estimates(), random.Random(0))
    await caller.call_edge(dep, new, "what is my balance", "classify", 1.0)
    await asyncio.gather(*caller.rollouts._shadows)
    assert edge.asked == [(new.address, "2"), (old.address, "1")]  # type: ignore[attr-defined]  # the shadow
    versions = caller.rollouts.report()["deployments"]["clinc-banking"]["versions"]
    assert versions["2"]["requests"] == 1 and (versions["2"]["compared"], versions["2"]["agreed"]) == (1, 1)
