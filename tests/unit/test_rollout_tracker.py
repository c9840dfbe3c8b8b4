"""router.rollout_tracker: the canary split, per-version counters, shadow agreement, reports."""

from __future__ import annotations

import asyncio
import copy
import random
from types import SimpleNamespace
from typing import Any

from fleet.control.rollout import LATENCY_BOUNDS_MS as CONTROLLER_BOUNDS
from router.fleet_source import StaticFleet
from router.rollout_tracker import LATENCY_BOUNDS_MS, RolloutTracker, agree, report_loop
from tests.unit.router_fakes import make_state


def canaried(share: float = 0.25, shadow: float = 1.0) -> Any:
    """clinc-banking with replica 1 on canary version 2."""
    state = copy.deepcopy(make_state(replicas_per_deployment=3))
    dep = state.deployment("clinc-banking")
    assert dep is not None
    dep.replicas[1].version = "2"
    dep.canary_version, dep.canary_share, dep.shadow_share = "2", share, shadow
    return dep


def test_bounds_match_the_controllers() -> None:
    assert LATENCY_BOUNDS_MS == CONTROLLER_BOUNDS


def test_pool_sends_the_canary_its_share() -> None:
    dep = canaried(share=0.25)
    tracker = RolloutTracker(rng=random.Random(1))
    picks = [tracker.pool(dep) for _ in range(4000)]
    canary_share = sum(1 for p in picks if p[0].version == "2") / len(picks)
    assert 0.22 < canary_share < 0.28
    assert {r.replica_id for p in picks for r in p} == {r.replica_id for r in dep.replicas}
    plain = make_state().deployment("generalist")
    assert tracker.pool(plain) is plain.replicas  # type: ignore[union-attr]  # no canary: untouched


def test_pool_falls_back_to_the_group_with_ready_replicas() -> None:
    dep = canaried(share=0.5)
    tracker = RolloutTracker(rng=random.Random(2))
    dep.replicas[1].state = "starting"  # the canary is not ready yet: all to stable
    assert all(r.version != "2" for _ in range(50) for r in tracker.pool(dep))
    dep = canaried(share=0.01)
    for r in dep.replicas:
        r.state = "starting" if r.version != "2" else "ready"
    assert all(r.version == "2" for _ in range(50) for r in RolloutTracker().pool(dep))


async def test_counts_shadows_and_reports() -> None:
    dep = canaried(shadow=1.0)
    tracker = RolloutTracker("router-x", rng=random.Random(3))
    tracker.observe(dep, "1", True, 4.0)
    tracker.observe(dep, "2", True, 40.0)
    tracker.observe(dep, "2", False, 1.0)
    asked: list[str] = []

    async def ask(d: Any, replica: Any) -> Any:
        asked.append(replica.version)
        return SimpleNamespace(label="balance", embedding=None)

    tracker.maybe_shadow(dep, "2", "classify", SimpleNamespace(label="balance", embedding=None), ask)
    tracker.maybe_shadow(dep, "2", "classify", SimpleNamespace(label="transfer", embedding=None), ask)
    tracker.maybe_shadow(dep, "1", "classify", SimpleNamespace(label="x", embedding=None), ask)  # not canary
    await asyncio.gather(*tracker._shadows)
    assert asked == ["1", "1"]
    report = tracker.report()
    assert report["router"] == "router-x"
    versions = report["deployments"]["clinc-banking"]["versions"]
    assert report["deployments"]["clinc-banking"]["canary"] == "2"
    assert (versions["2"]["requests"], versions["2"]["errors"]) == (2, 1)
    assert (versions["2"]["compared"], versions["2"]["agreed"]) == (2, 1)
    assert versions["2"]["latency"][LATENCY_BOUNDS_MS.index(50)] == 1 and sum(versions["1"]["latency"]) == 1
    plain = make_state().deployment("generalist")
    tracker.observe(plain, "1", True, 1.0)  # no canary: not counted
    assert list(tracker.report()["deployments"]) == ["clinc-banking"]
    tracker.forget(set())
    assert tracker.report()["deployments"] == {}


def test_agreement_of_labels_and_embeddings() -> None:
    same = SimpleNamespace(label=None, embedding=(0.6, 0.8))
    close = SimpleNamespace(label=None, embedding=(0.61, 0.79))
    far = SimpleNamespace(label=None, embedding=(0.8, -0.6))
    assert agree("embed", same, close) and not agree("embed", same, far)
    assert agree("classify", SimpleNamespace(label="a"), SimpleNamespace(label="a"))


async def test_report_loop_sends_while_a_canary_runs() -> None:
    state = make_state()
    dep = canaried()
    state.deployments = [dep if d.name == dep.name else d for d in state.deployments]

    class Fleet(StaticFleet):
        sent = asyncio.Event()

        async def report_outcomes(self, report: dict[str, Any]) -> None:
            await super().report_outcomes(report)
            self.sent.set()

    fleet = Fleet(state)
    tracker = RolloutTracker("r")
    tracker.observe(dep, "2", True, 1.0)
    task = asyncio.create_task(report_loop(tracker, fleet, interval_s=0.01))
    try:
        await asyncio.wait_for(fleet.sent.wait(), 5)
    finally:
        task.cancel()
    assert fleet.outcome_reports[-1]["deployments"]["clinc-banking"]["canary"] == "2"
