"""bench.suites.e2e without a fleet: the policy reduced to the domain-detecting classify route (and a
two-domain smoke version), the time per hop from route traces, and the skip without a fleet builder."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bench.suites import e2e

RAW: dict[str, Any] = {
    "version": 1,
    "deployments": [
        {"name": "domain-router", "model": "domain-router", "replicas": 2},
        {"name": "a-student", "model": "a-student"},
        {"name": "a", "model": "a"},
        {"name": "b", "model": "b"},
        {"name": "llm", "model": "llm"},
    ],
    "hosted": [
        {"name": "big", "stand_in": {"model": "generalist"}},
        {"name": "other", "base_url": "http://x"},
    ],
    "routes": [
        {
            "name": "clinc",
            "task": "classify",
            "domain_model": "domain-router",
            "specialists": {"a": ["a-student", "a"], "b": ["b"]},
            "fallback": "big",
        },
        {"name": "chat", "task": "generate", "targets": ["llm"], "fallback": "other"},
    ],
}


@pytest.fixture(autouse=True)
def everything_in_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bench.suites.common.in_registry", lambda registry, model: True)


def test_the_policy_keeps_the_domain_detecting_route_only() -> None:
    policy, left_out = e2e.e2e_policy(RAW, Path("/reg"))
    assert [r["name"] for r in policy["routes"]] == ["clinc"]
    assert [d["name"] for d in policy["deployments"]] == ["domain-router", "a-student", "a", "b"]
    assert [h["name"] for h in policy["hosted"]] == ["big"]
    assert left_out == ["llm"] and policy["registry"] == "/reg"
    assert policy["fleet"]["namespace"] == "edgefleet-bench-e2e"


def test_the_smoke_version_keeps_fewer_domains_and_one_replica_each() -> None:
    policy, _ = e2e.e2e_policy(RAW, Path("/reg"), domains=1)
    assert list(policy["routes"][0]["specialists"]) == ["a"]
    assert {d["name"]: d.get("replicas") for d in policy["deployments"]} == {
        "domain-router": 1,
        "a-student": 1,
        "a": 1,
    }


def test_time_per_hop_from_route_traces() -> None:
    answers = [
        {
            "latency_ms": 10.0,
            "router_ms": 8.0,
            "trace": [["domain-router", "ok", "domain a (0.9)", 2.0], ["a-student", "ok", "x (0.9)", 1.0]],
        },
        {
            "latency_ms": 200.0,
            "router_ms": 196.0,
            "trace": [["domain-router", "escalate", "unsure", 3.0], ["hosted:big", "ok", "x", 190.0]],
        },
        {"error": "UNAVAILABLE", "latency_ms": 1.0},
    ]
    hops = e2e.hop_breakdown(answers, "domain-router")
    assert hops["client_router"]["mean_ms"] == pytest.approx(3.0)
    assert hops["domain_detection"]["mean_ms"] == pytest.approx(2.5)
    assert hops["edge_calls"]["mean_ms"] == pytest.approx(0.5)
    assert hops["hosted_calls"]["mean_ms"] == pytest.approx(95.0)
    assert hops["router_own"]["mean_ms"] == pytest.approx((5.0 + 3.0) / 2)
    assert math.isnan(e2e.hop_breakdown([], "domain-router")["router_own"]["mean_ms"])


def test_skipped_without_a_fleet_builder() -> None:
    result = e2e.run(SimpleNamespace(fleet_builder=None))
    assert result["status"] == "skipped" and "fleet builder" in result["reason"]
