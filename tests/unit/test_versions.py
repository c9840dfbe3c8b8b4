"""fleet.control.versions: canaries started beside the stable version, judged on the routers'
reports, promoted or rolled back (fake backend, no Ray)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgefleet.state import FleetState
from fleet.control.desired_store import MemoryStore
from fleet.control.rollout import LATENCY_BOUNDS_MS
from tests.unit.fleet_fakes import make_manager, make_registry, node, settle

ROLLOUT = {"canary_share": 0.25, "min_requests": 40, "max_error_rate": 0.05, "shadow_share": 0.5}
DEPLOYMENT = {"name": "d", "model": "m", "replicas": 2, "rollout": ROLLOUT}


def versions(state: FleetState) -> list[str]:
    return sorted(r.version for r in state.deployments[0].replicas if r.state == "ready")


def report(canary: str, stable: str, n: int, *, errors: int = 0, agreed: int | None = None) -> dict[str, Any]:
    def counts(requests: int, errs: int = 0, compared: int = 0, agree: int = 0) -> dict[str, Any]:
        latency = [0] * len(LATENCY_BOUNDS_MS)
        latency[5] = requests - errs
        return {
            "requests": requests,
            "errors": errs,
            "latency": latency,
            "compared": compared,
            "agreed": agree,
        }

    compared = n // 2
    canary_counts = counts(n, errors, compared, compared if agreed is None else agreed)
    return {
        "router": "r1",
        "deployments": {"d": {"canary": canary, "versions": {stable: counts(3 * n), canary: canary_counts}}},
    }


async def test_canary_promoted_then_a_bad_one_rolled_back(tmp_path: Path) -> None:
    store = MemoryStore()
    mgr, backend = make_manager(tmp_path, [DEPLOYMENT], [node("a"), node("b")], store=store)
    await settle(mgr, lambda s: versions(s) == ["1", "1"])

    make_registry(tmp_path / "reg", "2")
    state = await settle(mgr, lambda s: versions(s) == ["1", "1", "2"] and "0/40" in s.deployments[0].rollout)
    dep = state.deployments[0]
    assert (dep.canary_version, dep.canary_share, dep.shadow_share, dep.version) == ("2", 0.25, 0.5, "1")
    assert dep.rollout == "canary 2 at 25%: 0/40 canary requests"
    assert store.load()["versions"]["d"]["canary"] == "2"  # type: ignore[index]  # survives a restart

    mgr.record_outcomes(report("2", "1", 20))
    state = await settle(mgr, lambda s: "20/40" in s.deployments[0].rollout)
    mgr.record_outcomes(report("2", "1", 50))
    state = await settle(mgr, lambda s: versions(s) == ["2", "2"] and len(s.deployments[0].replicas) == 2)
    dep = state.deployments[0]
    assert dep.version == "2" and dep.canary_version == "" and dep.rollout.startswith("canary 2 promoted: 50")
    assert any("d: canary 2 promoted" in e for e in state.events)

    make_registry(tmp_path / "reg", "3")
    await settle(mgr, lambda s: s.deployments[0].canary_version == "3" and "3" in versions(s))
    mgr.record_outcomes(report("3", "2", 50, agreed=5))  # 5 of 25 shadowed answers agree
    state = await settle(mgr, lambda s: versions(s) == ["2", "2"] and len(s.deployments[0].replicas) == 2)
    assert (
        "canary 3 rolled back: agreement with the current version 20% < 90%" in state.deployments[0].rollout
    )
    assert mgr.desired.versions["d"].rejected == ("3",)
    started = len(backend.replicas)
    await settle(mgr, lambda s: True)
    assert len(backend.replicas) == started  # a rejected version is not started again


async def test_canary_that_fails_to_start_is_rolled_back(tmp_path: Path) -> None:
    mgr, backend = make_manager(tmp_path, [DEPLOYMENT], [node("a")])
    await settle(mgr, lambda s: versions(s) == ["1", "1"])
    backend.fail_model = "model.bin is truncated"
    make_registry(tmp_path / "reg", "2")
    state = await settle(mgr, lambda s: "rolled back" in s.deployments[0].rollout)
    assert "failed: model.bin is truncated" in state.deployments[0].rollout
    backend.fail_model = ""
    state = await settle(mgr, lambda s: versions(s) == ["1", "1"] and len(s.deployments[0].replicas) == 2)
    assert not state.deployments[0].error  # the stable version is not blocked by the canary's failures


async def test_without_rollout_a_new_version_rolls_over_at_once(tmp_path: Path) -> None:
    mgr, _ = make_manager(tmp_path, [{"name": "d", "model": "m", "replicas": 2}], [node("a")])
    await settle(mgr, lambda s: versions(s) == ["1", "1"])
    make_registry(tmp_path / "reg", "2")
    state = await settle(mgr, lambda s: versions(s) == ["2", "2"] and len(s.deployments[0].replicas) == 2)
    assert state.deployments[0].canary_version == "" and state.deployments[0].rollout == "rolled out 2"
