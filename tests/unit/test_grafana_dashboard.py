"""deploy/grafana/edgefleet.json asks only for metrics the router and the replicas export."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from fleet.serving.llm_stats import GenerationStats
from fleet.serving.replica_metrics import ReplicaMetrics
from router.metrics import RouterMetrics, RouterStateCollector
from tests.unit.router_fakes import FakeHosted

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "edgefleet.json"


class _Engine:
    inflight = 0
    fleet = None
    estimates = None


def _exported() -> set[str]:
    router = RouterMetrics()
    router.registry.register(RouterStateCollector(_Engine(), {"big": FakeHosted()}))
    router.request("r", "generate", ["edge"], None, 0.1)
    router.answered("r", "classify", ["low_confidence"])
    router.generation("r", "edge", 1, 1, 0.1)
    replica = ReplicaMetrics("d", "m")
    replica.watch(GenerationStats())
    names = set()
    for registry in (router.registry, replica.registry):
        for family in text_string_to_metric_families(generate_latest(registry).decode()):
            names.add(family.name)  # (a gauge without samples yet has its name only)
            names.update(s.name for s in family.samples)
    return names


def test_every_metric_the_dashboard_queries_is_exported() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"edgefleet_[a-z_]+", target["expr"])
    }
    assert queried and queried <= _exported(), queried - _exported()
