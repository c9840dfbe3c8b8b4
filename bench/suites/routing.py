"""Suite `routing`: the CLINC150 test set (4,500 in-scope + 1,000 out-of-scope) through the router
under the default policy, against all-hosted and all-edge, plus the cost/quality curve over the
escalation threshold. Every figure says its split: the policy's thresholds are chosen on val
(:mod:`bench.suites.routing_calibration`, as ``edgefleet route calibrate`` does) and reported on test;
the test curve is hindsight, for reference only.

Three routers share one fleet (a KServe replica per deployment of edgefleet.yaml and the hosted
STAND-IN with latency_ms 0, all in one server process): `default` (the policy as written),
`all_hosted` (no domain model: every request goes to the hosted fallback; the specialists stay in
the route only so the hosted tier gets the same 150 + oos label set), `all_edge` (no fallback,
min_confidence 0: the edge answer is always kept). Requests carry no domain.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from bench.loadgen import ROUTER_INFER, LoadGenerator, LoadJob
from bench.procs import ServerHost
from bench.stats import ratio
from bench.suites.common import bench_policy_yaml, deployment_record, model_dir, router_request, trim_policy
from bench.suites.routing_calibration import GOALS, calibrate_on_val, calibration_table
from bench.suites.routing_eval import OOS, best_within_budget, edge_view, score_pass, simulate

TOPOLOGY = (
    "server process 1: one KServe replica (serve_kserve) per deployment of edgefleet.yaml + the hosted STAND-IN "
    "(generalist, latency_ms 0); server process 2: three routers (default / all_hosted / all_edge) over one "
    "StaticFleet; the client is the load generator process (unary Infer, 8 in flight)."
)


def policies(policy: dict[str, Any], route_name: str) -> dict[str, dict[str, Any]]:
    """The three policy variants (dicts) derived from the default policy."""
    default = copy.deepcopy(policy)
    for hosted in default.get("hosted", []):
        if hosted.get("stand_in"):
            hosted["stand_in"]["latency_ms"] = 0
            hosted["api_key_env"] = None  # the local stand-in asks for no key
    all_edge = copy.deepcopy(default)
    all_hosted = copy.deepcopy(default)
    for variant, edits in (
        (all_edge, {"fallback": None, "min_confidence": 0.0}),
        (all_hosted, {"domain_model": None}),
    ):
        for route in variant["routes"]:
            if route["name"] == route_name:
                route.update(edits)
    return {"default": default, "all_hosted": all_hosted, "all_edge": all_edge}


def workload(tiny: bool) -> tuple[list[str], list[str]]:
    """(texts, gold labels): CLINC150 test + oos_test (a stratified slice in a tiny run)."""
    from factory.data import load_clinc150

    data = load_clinc150()
    examples = list(data.test) + list(data.oos_test)
    if tiny:
        examples = data.test[::90] + data.oos_test[::100]
    return [t for t, _ in examples], [label for _, label in examples]


def run(ctx: Any) -> dict[str, Any]:
    """Three passes, scores, and the simulated threshold curve."""
    from edgefleet.policy.loader import parse_policy

    registry = ctx.models_dir()
    policy_path: Path = ctx.policy_file()
    raw, dropped = trim_policy(yaml.safe_load(policy_path.read_text()), registry)
    policy = parse_policy(yaml.safe_dump(raw, sort_keys=False), source=str(policy_path))
    candidates = [r for r in policy.routes if r.task == "classify" and r.domain_model and r.fallback]
    if not candidates:
        raise ValueError(
            f"{policy_path}: no classify route with a domain model and a hosted fallback whose "
            f"models are in {registry} (missing: {dropped}); run `edgefleet models build`"
        )
    route = candidates[0]
    cascade = max(len(names) for names in route.specialists.values()) > 1
    hosted_cfg = policy.hosted_endpoint(route.fallback or "")
    if hosted_cfg.stand_in is None:
        raise ValueError(
            f"hosted endpoint {hosted_cfg.name!r} is not a stand-in; the bench needs the offline stand-in"
        )
    used = {route.domain_model or ""} | {n for names in route.specialists.values() for n in names}
    deps = [d for d in policy.deployments if d.name in used]
    texts, gold = workload(ctx.tiny)
    payloads = [router_request(t) for t in texts]
    replica_spec = {
        "models": [{"deployment": d.name, "dir": str(model_dir(registry, d.model))} for d in deps],
        "stand_in": {"dir": str(model_dir(registry, hosted_cfg.stand_in.model)), "latency_ms": 0.0},
    }
    variants = policies(raw, route.name)
    answers: dict[str, list[dict[str, Any]]] = {}
    seconds: dict[str, float] = {}
    with ServerHost("bench.services:build_replicas", replica_spec, start_timeout_s=300.0) as fleet:
        records = [
            deployment_record(registry, d.name, d.model, d.price_per_call_usd, fleet[d.name]) for d in deps
        ]
        router_spec = {
            "deployments": records,
            "routers": {name: bench_policy_yaml(p) for name, p in variants.items()},
            "hosted_urls": {hosted_cfg.name: fleet["stand_in"]},
        }
        with ServerHost("bench.services:build_routers", router_spec) as routers, LoadGenerator() as lg:
            for name in ("default", "all_hosted", "all_edge"):
                job = LoadJob(
                    routers[name],
                    ROUTER_INFER,
                    payloads,
                    concurrency=8,
                    collect=True,
                    max_requests=len(payloads),
                    max_seconds=900.0,
                    warmup=ctx.size(5, 50),
                )
                result = lg.run(job)
                answers[name] = result.answers
                seconds[name] = result.seconds
    scores = {
        "default": score_pass(answers["default"], gold),
        "all_hosted": score_pass(answers["all_hosted"], gold),
        "all_edge": score_pass(answers["all_edge"], gold, oos_on_error=True),
    }
    for name, s in scores.items():
        s["seconds"] = seconds[name]
    domain_price = policy.deployment(route.domain_model or "").price_per_call_usd
    edge_by = {a["index"]: a for a in answers["all_edge"]}
    host_by = {a["index"]: a for a in answers["all_hosted"]}
    views, parsed = (
        zip(
            *(edge_view(edge_by.get(i), route.domain_model or "", domain_price) for i in range(len(gold))),
            strict=False,
        )
        if gold
        else ((), ())
    )
    hosted_list = [host_by.get(i) for i in range(len(gold))]
    thresholds = sorted({round(x * 0.05, 2) for x in range(21)} | {route.min_confidence})
    curve = [simulate(views, hosted_list, gold, t, route.escalate_labels) for t in thresholds]
    trust_labels = [x for x in route.escalate_labels if x != OOS]
    curve_trust_oos = [simulate(views, hosted_list, gold, t, trust_labels) for t in thresholds]
    hosted_cost = scores["all_hosted"]["cost_usd"]
    calibration = calibrate_on_val(policy, route, registry, every=ctx.size(25, 1))
    sim_default = next(c for c in curve if c["threshold"] == route.min_confidence)
    best = best_within_budget(curve, 0.10 * hosted_cost)
    best_trust_oos = best_within_budget(curve_trust_oos, 0.10 * hosted_cost)
    acc_ratio = ratio(scores["default"]["accuracy"], scores["all_hosted"]["accuracy"])
    cost_ratio = ratio(scores["default"]["cost_usd"], hosted_cost)
    d = scores["default"]
    goals = {
        "accuracy_min": GOALS["accuracy"],
        "oos_recall_min": GOALS["oos_recall"],
        "in_scope_accuracy_min": GOALS["in_scope_accuracy"],
        "cost_ratio_max": GOALS["cost_ratio"],
        "split": "test",
        "met": bool(
            d["accuracy"] >= GOALS["accuracy"]
            and d["oos_recall"] >= GOALS["oos_recall"]
            and d["in_scope_accuracy"] >= GOALS["in_scope_accuracy"]
            and cost_ratio <= GOALS["cost_ratio"]
        ),
    }
    rows = [
        [
            name,
            s["requests"],
            s["errors"],
            s["accuracy"],
            s["in_scope_accuracy"],
            s["oos_recall"],
            s["cost_usd"],
            ratio(s["cost_usd"], hosted_cost),
            s["escalated_share"],
            s["p50_ms"],
            s["p95_ms"],
        ]
        for name, s in scores.items()
    ]
    curve_rows = [
        [
            c["threshold"],
            c["accuracy"],
            ratio(c["accuracy"], scores["all_hosted"]["accuracy"]),
            ratio(c["cost_usd"], hosted_cost),
            c["escalated_share"],
            t["accuracy"],
            ratio(t["cost_usd"], hosted_cost),
            t["escalated_share"],
        ]
        for c, t in zip(curve, curve_trust_oos, strict=False)
    ]
    return {
        "topology": TOPOLOGY,
        "method": (
            "default, all_hosted and all_edge are measured passes through real routers. The curve is simulated "
            "from one all_edge and one all_hosted pass per request: at threshold t the engine's rule is applied "
            "(domain model oos or confidence < t -> hosted, paying the domain call; specialist label in "
            f"{list(route.escalate_labels)} or confidence < t -> hosted, paying both edge calls; else the edge "
            "answer), with the hosted answer and cost taken from the all_hosted pass. The domain model's "
            "confidence is read from the all_edge trace. The simulated point at the policy's threshold is "
            "checked against the measured default pass (simulated_default vs default). A second curve "
            "(trust_edge_oos) keeps the edge's `oos` verdicts instead of escalating them: the threshold then "
            "only escalates low confidence."
        ),
        "requests": len(gold),
        "route": route.name,
        "deployments_not_in_registry": dropped,
        "cascade": cascade,
        "policy_threshold": route.min_confidence,
        "prices": {
            "edge_per_call_usd": {d.name: d.price_per_call_usd for d in deps},
            "hosted_per_1k_input_usd": hosted_cfg.price_per_1k_input_usd,
            "hosted_per_1k_output_usd": hosted_cfg.price_per_1k_output_usd,
        },
        "default": scores["default"],
        "all_hosted": scores["all_hosted"],
        "all_edge": scores["all_edge"],
        "accuracy": scores["default"]["accuracy"],
        "accuracy_ratio_vs_hosted": acc_ratio,
        "cost_ratio_vs_hosted": cost_ratio,
        "escalated_share": scores["default"]["escalated_share"],
        "oos_recall": scores["default"]["oos_recall"],
        "in_scope_accuracy": scores["default"]["in_scope_accuracy"],
        "goal": goals,
        "splits": {
            "default / all_hosted / all_edge (measured)": "test (CLINC150 test + oos_test)",
            "curve, best_threshold_within_10pct_cost": "test, in hindsight: for reference, never used to choose",
            "calibration.val_*": "val (CLINC150 val + oos_val): where the policy's thresholds are chosen",
            "calibration.test_*": "test: the val-chosen setting and the oracle, reported",
        },
        "calibration": calibration,
        "oracle_accuracy": calibration["test_oracle"]["accuracy"],
        "curve": curve,
        "curve_trust_edge_oos": curve_trust_oos,
        "simulated_default": sim_default,
        "best_threshold_within_10pct_cost": best,
        "best_threshold_within_10pct_cost_trust_edge_oos": best_trust_oos,
        "domain_confidence_parsed_share": (sum(parsed) / len(parsed)) if parsed else None,
        "tables": [
            (
                "Policies (measured)",
                [
                    "policy",
                    "requests",
                    "errors",
                    "accuracy",
                    "in-scope acc",
                    "oos recall",
                    "cost USD",
                    "cost / hosted",
                    "escalated",
                    "p50 ms",
                    "p95 ms",
                ],
                rows,
            ),
            (
                "Headline (measured on test with the policy's thresholds, which were chosen on val)",
                ["figure", "value", "goal"],
                [
                    ["accuracy (oos a label)", d["accuracy"], f">= {GOALS['accuracy']}"],
                    ["oos recall", d["oos_recall"], f">= {GOALS['oos_recall']}"],
                    ["in-scope accuracy", d["in_scope_accuracy"], f">= {GOALS['in_scope_accuracy']}"],
                    ["cost default / all-hosted", cost_ratio, f"<= {GOALS['cost_ratio']}"],
                    [
                        "oracle accuracy (bound: edge when right, else hosted)",
                        calibration["test_oracle"]["accuracy"],
                        "",
                    ],
                    ["accuracy default / all-hosted", acc_ratio, ""],
                    ["escalated share", scores["default"]["escalated_share"], ""],
                    [
                        "simulated accuracy at policy threshold (check)",
                        sim_default["accuracy"],
                        f"measured {scores['default']['accuracy']:.4f}",
                    ],
                ],
            ),
            calibration_table(calibration),
            (
                "Cost/quality curve over min_confidence (simulated on TEST, in hindsight: not used to choose)",
                [
                    "threshold",
                    "accuracy",
                    "acc / hosted",
                    "cost / hosted",
                    "escalated",
                    "trust-oos accuracy",
                    "trust-oos cost / hosted",
                    "trust-oos escalated",
                ],
                curve_rows,
            ),
        ],
        "notes": [
            *(
                [f"Deployments whose model is not in the registry were left out of the policy: {dropped}."]
                if dropped
                else []
            ),
            *(
                [
                    (
                        "The route cascades (several specialists per domain). all_edge keeps the first edge "
                        "answer (min_confidence 0), so the simulated curve models domain model + first "
                        "specialist + hosted, not the cascade: compare simulated_default with the measured default."
                    )
                ]
                if cascade
                else []
            ),
            (
                f"{len(gold)} requests ({sum(g != OOS for g in gold)} in-scope, {sum(g == OOS for g in gold)} "
                "out-of-scope); accuracy counts `oos` as a label; errors count as wrong."
            ),
            (
                "all_edge: when the domain model says oos there is nothing to ask (no fallback): the router answers "
                "UNAVAILABLE and the pass scores it as the label oos."
            ),
            (
                "Costs are the router's own accounting (edge: price per call; hosted: tokens reported by the "
                "stand-in x prices from edgefleet.yaml). The stand-in runs with latency_ms 0, so hosted latency "
                "here is the local generalist's, not a real API's."
            ),
        ],
    }
