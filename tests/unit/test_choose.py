"""Pure decision functions: route match, candidates, cost/latency choice, p2c, escalation."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from edgefleet.policy.schema import RouteConfig
from router.choose import (
    Candidate,
    CandidateEstimate,
    ReplicaLoad,
    candidate_list,
    does_not_fit,
    escalation_reason,
    match_route,
    order_by_cost,
    power_of_two_choices,
    required_confidence,
)
from router.errors import InvalidRequest
from tests.unit.router_fakes import make_policy


def _routes() -> list[RouteConfig]:
    return [
        RouteConfig(name="bank", task="classify", domains=["banking"], targets=["bank-gen"]),
        RouteConfig(name="all", task="classify", targets=["gen"], fallback="big"),
        RouteConfig(name="emb", task="embed", targets=["emb"]),
    ]


def test_match_route_by_name_domain_and_wildcard() -> None:
    routes = _routes()
    assert match_route(routes, "classify", None, "bank").name == "bank"
    assert match_route(routes, "classify", "banking").name == "bank"
    assert match_route(routes, "classify", "travel").name == "all"
    assert match_route(routes, "classify", None).name == "all"
    assert match_route(routes, "embed", None).name == "emb"


def test_match_route_errors_name_the_problem() -> None:
    routes = _routes()
    with pytest.raises(InvalidRequest, match="unknown route 'nope'"):
        match_route(routes, "classify", None, "nope")
    with pytest.raises(InvalidRequest, match="serves task 'embed', not 'classify'"):
        match_route(routes, "classify", None, "emb")
    with pytest.raises(InvalidRequest, match="no route serves task 'generate'"):
        match_route(routes, "generate", None)
    with pytest.raises(InvalidRequest, match="no 'embed' route serves domain 'banking'"):
        match_route(
            [RouteConfig(name="e", task="embed", domains=["travel"], targets=["x"])], "embed", "banking"
        )


def test_candidate_list_order_and_hosted_only() -> None:
    route = make_policy().routes[0]
    names = [c.target for c in candidate_list(route, "banking")]
    assert names == ["clinc-banking", "generalist", "hosted:big"]
    assert [c.target for c in candidate_list(route, "travel")] == ["generalist", "hosted:big"]
    assert [c.target for c in candidate_list(route, None, hosted_only=True)] == ["hosted:big"]
    dup = RouteConfig(name="d", task="classify", specialists={"x": ["a", "b"]}, targets=["b", "c"])
    assert [c.name for c in candidate_list(dup, "x")] == ["a", "b", "c"]


def _est(
    name: str, cost: float, ms: float = 5.0, tier: str = "edge", unavailable: str | None = None
) -> CandidateEstimate:
    return CandidateEstimate(Candidate(name, tier), ms, cost, unavailable)  # type: ignore[arg-type]


def test_order_by_cost_keeps_hosted_last_and_ties_stable() -> None:
    ests = [_est("hosted", 0.0, tier="hosted"), _est("spec", 0.2), _est("gen", 0.1), _est("spec2", 0.1)]
    assert [e.candidate.name for e in order_by_cost(ests)] == ["gen", "spec2", "spec", "hosted"]


def test_first_that_fits_latency_and_cost() -> None:
    ests = order_by_cost(
        [_est("slow-cheap", 0.001, ms=80), _est("fast", 0.002, ms=5), _est("big", 0.05, 300, "hosted")]
    )

    def verdicts(ms: float | None, cost: float | None) -> list[str | None]:
        return [None if (m := does_not_fit(e, ms, cost)) is None else m[0] for e in ests]

    assert verdicts(50, None) == ["latency_budget", None, "latency_budget"]
    assert verdicts(None, 0.0015) == [None, "cost_budget", "cost_budget"]
    assert verdicts(1, None) == ["latency_budget"] * 3
    assert verdicts(1000, 0.0001) == ["cost_budget"] * 3


def test_does_not_fit_reports_unavailable_first() -> None:
    est = _est("x", 0.0, unavailable="no ready replica")
    assert does_not_fit(est, 1000, 1.0) == ("unavailable", "no ready replica")
    assert does_not_fit(_est("y", 0.0), None, None) is None
    misfit = does_not_fit(_est("z", 0.0, ms=20), 10, None)
    assert misfit is not None and "est. latency 20.0 ms > remaining 10.0 ms" in misfit[1]


def test_p2c_prefers_fewer_outstanding() -> None:
    loads = [ReplicaLoad("a", 5, 1.0), ReplicaLoad("b", 0, 1.0)]
    rng = random.Random(1)
    assert all(power_of_two_choices(loads, rng).replica_id == "b" for _ in range(50))  # type: ignore[union-attr]


def test_p2c_skips_ineligible_and_handles_edge_cases() -> None:
    rng = random.Random(2)
    assert power_of_two_choices([], rng) is None
    assert power_of_two_choices([ReplicaLoad("a", 0, 1.0, eligible=False)], rng) is None
    loads = [ReplicaLoad(f"r{i}", 0, 1.0, eligible=(i == 7)) for i in range(100)]
    assert power_of_two_choices(loads, rng).replica_id == "r7"  # type: ignore[union-attr]


def test_p2c_spreads_load_over_1000_replicas() -> None:
    rng = random.Random(3)
    loads = [ReplicaLoad(f"r{i}", 0, 1.0) for i in range(1000)]
    picks = Counter(power_of_two_choices(loads, rng).replica_id for _ in range(5000))  # type: ignore[union-attr]
    assert len(picks) > 900


def test_escalation_rules() -> None:
    assert escalation_reason("balance", 0.9, 0.6, ["oos"]) is None
    assert escalation_reason("oos", 0.99, 0.6, ["oos"]) == ("out_of_scope", "label 'oos' is out of scope")
    assert escalation_reason("balance", 0.41, 0.6, ["oos"]) == ("low_confidence", "confidence 0.41 < 0.60")
    assert required_confidence(0.5, None) == 0.5
    assert required_confidence(0.5, 0.8) == 0.8
    assert required_confidence(0.5, 0.2) == 0.5
