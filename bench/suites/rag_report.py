"""The figures of suite `rag` (:mod:`bench.suites.rag`) from its measurements: quality, cost and
latency per tier, the routing curves with APGR and CPT, the routed operating points, the tables
and notes of the report. Pure (no I/O)."""

from __future__ import annotations

import random
from typing import Any

from bench.stats import summarize
from edgefleet.rag_outcomes import Outcome
from edgefleet.route_calibration import apgr, cpt, curve, oracle_scores, random_curve

CHOSEN_TARGET = 0.5  # the operating point reported as rag.routed_f1: hosted share 0.5 on the tune split
RANDOM_SEEDS = 20


def curve_figures(points: list[tuple[float, float]], edge: float, hosted: float) -> dict[str, Any]:
    """APGR (RouteLLM's: area under the PGR curve, random = 0.5), APGR over random (area between
    the curve and the random line, normalised by the gap: APGR - 0.5), CPT(50%), CPT(80%)."""
    a = apgr(points, edge, hosted)
    return {
        "apgr": a,
        "apgr_over_random": a - 0.5,
        "cpt50": cpt(points, edge, hosted, 0.5),
        "cpt80": cpt(points, edge, hosted, 0.8),
        "curve": [[round(x, 4), round(q, 4)] for x, q in points[:: max(1, len(points) // 50)] + points[-1:]],
    }


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def figures(
    outcomes: list[Outcome],
    gold: list[tuple[float, float, float]],
    p_good: list[float],
    ops: list[dict[str, Any]],
    setup: Any,
    trained_here: int,
    wall_s: float,
    tiny: bool,
) -> dict[str, Any]:
    """The suite's results dict (see the module docstring)."""
    n = len(outcomes)
    edge_f1 = [o.edge.f1 for o in outcomes]
    hosted_f1 = [o.hosted.f1 if o.hosted else 0.0 for o in outcomes]
    e, h = _mean(edge_f1), _mean(hosted_f1)
    edge_cost = _mean([o.edge.cost_usd for o in outcomes])
    hosted_cost = _mean([o.hosted.cost_usd if o.hosted else 0.0 for o in outcomes])
    routers = {
        "learned": curve_figures(curve(p_good, edge_f1, hosted_f1), e, h),
        "logprob": curve_figures(curve([o.edge.confidence for o in outcomes], edge_f1, hosted_f1), e, h),
        "oracle": curve_figures(curve(oracle_scores(edge_f1, hosted_f1), edge_f1, hosted_f1), e, h),
        "random": curve_figures(random_curve(edge_f1, hosted_f1), e, h),
    }
    rng = random.Random(0)
    sampled = [
        apgr(curve([rng.random() for _ in range(n)], edge_f1, hosted_f1), e, h) for _ in range(RANDOM_SEEDS)
    ]
    routers["random"]["apgr_sampled_mean"] = _mean(sampled)
    chosen = next(
        (op for op in ops if op["target_hosted_share_tune"] == CHOSEN_TARGET), ops[-1] if ops else None
    )
    gold_f1 = _mean([g[0] for g in gold])
    ranks = [o.gold_rank for o in outcomes]
    retrieval = summarize([o.retrieval_ms for o in outcomes])
    tiers = {
        "edge": (
            summarize([o.edge.ttft_ms for o in outcomes]),
            summarize([o.edge.latency_ms for o in outcomes]),
        ),
        "hosted": (
            summarize([o.hosted.ttft_ms for o in outcomes if o.hosted]),
            summarize([o.hosted.latency_ms for o in outcomes if o.hosted]),
        ),
    }
    learned, oracle = routers["learned"], routers["oracle"]
    result: dict[str, Any] = {
        "split": "report",
        "n": n,
        "llm": setup.llm,
        "collection": setup.collection,
        "policy": setup.policy,
        "policy_trained_here_on_tune": trained_here,
        "edge_f1": e,
        "edge_em": _mean([o.edge.em for o in outcomes]),
        "edge_f1_gold": gold_f1,
        "edge_em_gold": _mean([g[1] for g in gold]),
        "retrieval_vs_gold_f1": e / gold_f1 if gold_f1 else None,
        "hosted_f1": h,
        "hosted_em": _mean([o.hosted.em if o.hosted else 0.0 for o in outcomes]),
        "edge_cost_per_1k": edge_cost * 1000.0,
        "hosted_cost_per_1k": hosted_cost * 1000.0,
        "apgr": learned["apgr"],
        "cpt50": learned["cpt50"],
        "cpt80": learned["cpt80"],
        "oracle_apgr": oracle["apgr"],
        "learned_vs_oracle_apgr": learned["apgr"] / oracle["apgr"] if oracle["apgr"] else None,
        "routers": routers,
        "operating_points": ops,
        "routed_f1": chosen["f1"] if chosen else None,
        "routed_threshold": chosen["threshold"] if chosen else None,
        "routed_hosted_share": chosen["hosted_share"] if chosen else None,
        "cost_ratio_vs_hosted": (chosen["cost_per_1k"] / (hosted_cost * 1000.0))
        if chosen and hosted_cost
        else None,
        "recall_at_1": _mean([1.0 if r == 1 else 0.0 for r in ranks]),
        "recall_at_5": _mean([1.0 if r is not None and r <= 5 else 0.0 for r in ranks]),
        "retrieval_ms_p50": retrieval["p50_ms"],
        "retrieval_ms_p95": retrieval["p95_ms"],
        "latency": {
            tier: {
                "ttft_p50_ms": t["p50_ms"],
                "ttft_p95_ms": t["p95_ms"],
                "total_p50_ms": a["p50_ms"],
                "total_p95_ms": a["p95_ms"],
            }
            for tier, (t, a) in tiers.items()
        },
        "gold_ms_p50": summarize([g[2] for g in gold])["p50_ms"],
        "wall_s": wall_s,
    }
    result["tables"] = _tables(result)
    result["method"] = (
        f"REPORT split (last 24 articles of SQuAD v1.1 dev), {n} questions (fixed shuffle, seed 0); edge = "
        f"{setup.llm} through the router's edge route (retrieval top 5 from {setup.collection}, few-shot prompt "
        "from the TUNE split over the best sentence, decoding constrained to its spans); hosted = the stand-in "
        "REPLAYING the recorded BERT-large ensemble answers through the hosted route; gold = the same edge request "
        "over the gold paragraph, straight to the replica; curves send the lowest-scored questions to the hosted "
        "model first; operating points chosen on the TUNE split's out-of-fold predictions, measured through the "
        "router's routed route on the first questions."
    )
    result["topology"] = (
        "client (this process, client SDK) -> router process (StaticFleet) -> one process with the LLM replica "
        "(ContinuousBatchingPipeline, prefix caching), the retriever replica, the policy replica and the stand-in"
    )
    result["notes"] = [
        "APGR as in RouteLLM: mean over hosted shares of PGR = (F1 - all-edge F1) / (all-hosted F1 - all-edge F1); "
        "a random router scores 0.5; apgr_over_random = APGR - 0.5 (the area between the curve and the random line).",
        "log-probability only escalates after generating (edge cost paid too); its curve uses exp(mean token "
        "log-prob).",
        "TINY configuration: figures are not meaningful." if tiny else "",
    ]
    return result


def _tables(r: dict[str, Any]) -> list[tuple[str, list[str], list[list[Any]]]]:
    routers = r["routers"]
    rows = [[name, f["apgr"], f["apgr_over_random"], f["cpt50"], f["cpt80"]] for name, f in routers.items()]
    ops = [
        [
            op["target_hosted_share_tune"],
            op["threshold"],
            op["n"],
            op["hosted_share"],
            op["f1"],
            op["em"],
            op["cost_per_1k"],
            op.get("edge_f1_same"),
            op.get("hosted_f1_same"),
        ]
        for op in r["operating_points"]
    ]
    lat = r["latency"]
    return [
        (
            f"Quality and cost, REPORT split ({r['n']} questions)",
            ["tier", "F1", "EM", "cost / 1k requests"],
            [
                ["all-edge (retrieval)", r["edge_f1"], r["edge_em"], r["edge_cost_per_1k"]],
                ["all-edge (gold paragraph)", r["edge_f1_gold"], r["edge_em_gold"], None],
                ["all-hosted (replay)", r["hosted_f1"], r["hosted_em"], r["hosted_cost_per_1k"]],
            ],
        ),
        (
            "Routers (curves of F1 against hosted share)",
            ["router", "APGR", "APGR - random", "CPT(50%)", "CPT(80%)"],
            rows,
        ),
        (
            "Routed through the router (threshold from the TUNE split)",
            [
                "tune hosted share",
                "threshold",
                "n",
                "hosted share",
                "F1",
                "EM",
                "cost / 1k",
                "all-edge F1",
                "all-hosted F1",
            ],
            ops,
        ),
        (
            "Latency per tier (client side) and retrieval",
            ["tier", "TTFT p50 ms", "TTFT p95 ms", "total p50 ms", "total p95 ms"],
            [
                [t, v["ttft_p50_ms"], v["ttft_p95_ms"], v["total_p50_ms"], v["total_p95_ms"]]
                for t, v in lat.items()
            ]
            + [["retrieval (KServe)", None, None, r["retrieval_ms_p50"], r["retrieval_ms_p95"]]],
        ),
    ]
