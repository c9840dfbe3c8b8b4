"""The figures of bench suite `rag` (bench.suites.rag_report) from synthetic measurements, and the
router policy the harness writes (bench.rag_harness.router_policy) passing the schema."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.rag_harness import RagSetup, router_policy
from bench.suites.rag_report import figures
from edgefleet.policy.loader import parse_policy
from edgefleet.rag_outcomes import Outcome, TierAnswer


def _outcome(i: int, edge_f1: float, hosted_f1: float, confidence: float, rank: int | None) -> Outcome:
    return Outcome(
        qid=f"q{i}", split="report", question="Q?", features=[0.0], gold_rank=rank, retrieval_ms=5.0 + i,
        edge=TierAnswer(answer="a", f1=edge_f1, em=edge_f1, cost_usd=1e-5, latency_ms=900, ttft_ms=800,
                        confidence=confidence),
        hosted=TierAnswer(answer="b", f1=hosted_f1, em=hosted_f1, cost_usd=2e-3, latency_ms=200, ttft_ms=190),
    )  # fmt: skip


def test_figures_of_a_run() -> None:
    outcomes = [_outcome(0, 1.0, 1.0, 0.9, 1), _outcome(1, 0.0, 1.0, 0.1, 2), _outcome(2, 0.0, 1.0, 0.5, None),
                _outcome(3, 1.0, 0.0, 0.8, 1)]  # fmt: skip
    gold = [(1.0, 1.0, 50.0), (0.5, 0.0, 60.0), (0.0, 0.0, 55.0), (1.0, 1.0, 40.0)]
    p_good = [0.9, 0.2, 0.1, 0.95]  # the oracle's order: the largest gains from the hosted model first
    ops = [{"target_hosted_share_tune": 0.5, "threshold": 0.4, "n": 4, "f1": 1.0, "em": 1.0,
            "cost_per_1k": 1.0, "hosted_share": 0.5}]  # fmt: skip
    setup = RagSetup(Path("/r"), policy="squad-policy")
    r = figures(outcomes, gold, p_good, ops, setup, 0, 1.0, tiny=False)
    assert (r["edge_f1"], r["hosted_f1"], r["edge_f1_gold"]) == (0.5, 0.75, 0.625)
    assert (
        r["recall_at_1"] == 0.5 and r["recall_at_5"] == 0.75 and r["retrieval_ms_p50"] == pytest.approx(6.5)
    )
    assert r["routers"]["learned"]["apgr"] == pytest.approx(r["oracle_apgr"])  # the oracle's order
    assert r["routers"]["random"]["apgr"] == pytest.approx(0.5)
    assert r["apgr"] > r["routers"]["random"]["apgr"]
    assert r["routed_f1"] == 1.0 and r["cost_ratio_vs_hosted"] == pytest.approx(
        1.0 / 2.0
    )  # per 1k: 1.0 vs 2.0
    assert r["latency"]["edge"]["ttft_p50_ms"] == 800 and r["latency"]["hosted"]["total_p50_ms"] == 200
    assert r["tables"][0][0].startswith("Quality and cost, REPORT split")


def test_the_harness_router_policy_is_valid() -> None:
    policy = parse_policy(router_policy(RagSetup(Path("/reg"), policy="squad-policy"), threshold=0.3))
    routes = {r.name: r for r in policy.routes}
    assert set(routes) == {"edge", "hosted", "routed"}
    assert routes["edge"].retrieval is not None and routes["edge"].retrieval.answer == "extractive"
    assert (
        routes["routed"].escalation_policy is not None and routes["routed"].escalation_policy.threshold == 0.3
    )
    assert routes["hosted"].targets == [] and policy.hosted[0].stand_in is not None
    assert policy.hosted[0].stand_in.replay == "squad-bert"
    assert "routed" not in {r.name for r in parse_policy(router_policy(RagSetup(Path("/reg")))).routes}
