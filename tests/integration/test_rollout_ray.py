"""Rollouts under traffic (real Ray, replicas, router): a rolling update loses no request, and a
canary is promoted when it agrees with the current version and rolled back when it does not."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fleet.models.manifest import ModelBundle, load_bundle, resolve_model_dir
from fleet.models.registry import save_bundle
from tests.fixtures.fleet_traffic import RoutedFleet, SteadyTraffic, routed_fleet, wait_state
from tests.fixtures.ray_cluster import TEST_NAMESPACE

pytestmark = pytest.mark.integration
SOURCE_MODEL = "domain-router"


def publish(
    registry: Path, source: ModelBundle, name: str, version: str, *, shift_labels: bool = False
) -> None:
    """Register `source`'s weights as model `name` version `version` (and make it latest); with
    `shift_labels` its label names are rotated, so it answers differently (a bad version)."""
    labels = list(source.manifest.labels)
    if shift_labels:
        labels = labels[1:] + labels[:1]
    manifest = source.manifest.model_copy(update={"name": name, "version": version, "labels": labels})
    save_bundle(registry, ModelBundle(manifest, dict(source.files)))


def policy_yaml(registry: Path) -> str:
    rollout = (
        "{canary_share: 0.5, min_requests: 30, max_error_rate: 0.02, max_latency_ratio: 10, "
        "min_agreement: 0.9, shadow_share: 0.5}"
    )
    return f"""
registry: {registry}
router: {{listen: "127.0.0.1:0", http_listen: null}}
fleet:
  namespace: {TEST_NAMESPACE}
  controller_name: rollout-test-controller
  reconcile_interval_s: 0.5
  health_timeout_s: 3
deployments:
  - {{name: plain, model: intent-a, replicas: 2}}
  - {{name: guarded, model: intent-b, replicas: 1, rollout: {rollout}}}
routes:
  - {{name: plain-route, task: classify, targets: [plain], min_confidence: 0}}
  - {{name: guarded-route, task: classify, targets: [guarded], min_confidence: 0}}
"""


@pytest.fixture(scope="module")
async def fleet(
    ray_cluster: object, model_registry: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[RoutedFleet, Path, ModelBundle]]:
    registry = tmp_path_factory.mktemp("rollout-registry")
    source = load_bundle(resolve_model_dir(Path(model_registry), SOURCE_MODEL))
    publish(registry, source, "intent-a", "a1")
    publish(registry, source, "intent-b", "b1")
    async with routed_fleet(policy_yaml(registry), registry / "edgefleet.yaml") as routed:
        yield routed, registry, source


async def test_rolling_update_under_traffic_loses_no_request(
    fleet: tuple[RoutedFleet, Path, ModelBundle],
) -> None:
    routed, registry, source = fleet
    traffic = SteadyTraffic(routed.address, loops=2, rate_per_loop=20, route="plain-route")
    await traffic.start()
    await traffic.until("traffic on a1", lambda: traffic.report.ok >= 20, 30)
    started = time.monotonic()
    publish(registry, source, "intent-a", "a2")
    await wait_state(
        routed.controller,
        "plain rolled over to a2",
        lambda s: [(r.version, r.state) for r in s.deployment("plain").replicas] == [("a2", "ready")] * 2,  # type: ignore[union-attr]
        timeout_s=120,
    )
    rolled_s = time.monotonic() - started
    seen = traffic.report.versions["a2"]
    await traffic.until("traffic on a2 only", lambda: traffic.report.versions["a2"] >= seen + 20, 30)
    report = await traffic.stop()
    assert report.errors == [] and report.ok == report.sent
    assert report.versions["a1"] > 0 and report.versions["a2"] > 0
    print(f"\nrolling update a1 -> a2 in {rolled_s:.1f} s; traffic {report.summary()}")


async def test_canary_promoted_then_a_disagreeing_one_rolled_back(
    fleet: tuple[RoutedFleet, Path, ModelBundle],
) -> None:
    routed, registry, source = fleet
    controller = routed.controller
    traffic = SteadyTraffic(routed.address, loops=2, rate_per_loop=20, route="guarded-route")
    await traffic.start()
    await traffic.until("traffic on b1", lambda: traffic.report.ok >= 20, 30)

    started = time.monotonic()
    publish(registry, source, "intent-b", "b2")  # the same weights: agrees, no errors
    state = await wait_state(
        controller,
        "the canary b2 running",
        lambda s: s.deployment("guarded").canary_version == "b2",
        60,  # type: ignore[union-attr]
    )
    state = await wait_state(
        controller,
        "b2 promoted",
        lambda s: (
            s.deployment("guarded").version == "b2"  # type: ignore[union-attr]
            and [r.version for r in s.deployment("guarded").replicas] == ["b2"]
        ),  # type: ignore[union-attr]
        timeout_s=120,
    )
    promoted_s = time.monotonic() - started
    dep = state.deployment("guarded")
    assert dep is not None and dep.rollout.startswith("canary b2 promoted: ")
    assert any("guarded: canary b2 promoted" in e for e in state.events)

    started = time.monotonic()
    publish(registry, source, "intent-b", "b3", shift_labels=True)  # disagrees with b2
    state = await wait_state(
        controller,
        "b3 rolled back",
        lambda s: (
            "canary b3 rolled back" in s.deployment("guarded").rollout  # type: ignore[union-attr]
            and [r.version for r in s.deployment("guarded").replicas] == ["b2"]
        ),  # type: ignore[union-attr]
        timeout_s=120,
    )
    rolled_back_s = time.monotonic() - started
    report = await traffic.stop()
    dep = state.deployment("guarded")
    assert dep is not None and "agreement with the current version" in dep.rollout
    assert report.errors == [] and report.ok == report.sent
    assert report.versions["b1"] > 0 and report.versions["b2"] > 0 and report.versions["b3"] > 0
    print(
        f"\ncanary b2 promoted after {promoted_s:.1f} s, canary b3 rolled back after {rolled_back_s:.1f} s "
        f"({dep.rollout}); traffic {report.summary()}"
    )
