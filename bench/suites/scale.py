"""Suite `scale`: how long a routing decision takes as the fleet and the policy grow.

A decision is what the engine does per text before any I/O: match the route, then
``RouterEngine.plan`` (list the candidates, estimate each once: cost, expected latency, replica
choice by power of two choices over the deployment's replicas; order by cost), then check the
first candidate against the budget, exactly as ``router.text_route.TextRouter.route`` does. Timed
on a real RouterEngine over a StaticFleet with synthetic policies of R routes and fleets of N
replicas; the request names the last route's domain (the worst case for route matching).
"""

from __future__ import annotations

import random
import statistics
import time
from typing import Any

from bench.stats import ratio

REPLICAS = (10, 100, 1000)
ROUTES = (10, 100)


class _ClosedCircuit:
    """A hosted caller stand-in for estimation only (never called)."""

    circuit_state = "closed"


def synthetic(routes: int, replicas: int, *, one_deployment: bool) -> tuple[Any, Any, list[str]]:
    """(policy, fleet index, labels): R routes each with one specialist deployment, N replicas spread
    round-robin over the deployments (or all in the last one), labels of 15 intents + oos."""
    from edgefleet.policy.schema import Policy
    from edgefleet.state import DeploymentState, FleetState, ReplicaPhase, ReplicaState
    from router.targets import FleetIndex

    labels = [f"intent_{k}" for k in range(15)] + ["oos"]
    policy = Policy.model_validate(
        {
            "deployments": [
                {"name": f"dep{i}", "model": f"m{i}", "price_per_call_usd": 1e-6 * (1 + i % 3)}
                for i in range(routes)
            ],
            "hosted": [
                {
                    "name": "big",
                    "stand_in": {"model": "generalist"},
                    "price_per_1k_input_usd": 0.0025,
                    "price_per_1k_output_usd": 0.01,
                }
            ],
            "routes": [
                {
                    "name": f"r{i}",
                    "task": "classify",
                    "domains": [f"d{i}"],
                    "specialists": {f"d{i}": [f"dep{i}"]},
                    "fallback": "big",
                }
                for i in range(routes)
            ],
        }
    )
    deps = [
        DeploymentState(
            name=f"dep{i}",
            model=f"m{i}",
            version="1",
            precision="FP32",
            desired=0,
            ready=0,
            price_per_call_usd=1e-6,
            task="classify",
            labels=labels,
        )
        for i in range(routes)
    ]
    for k in range(replicas):
        dep = deps[-1] if one_deployment else deps[k % routes]
        dep.replicas.append(
            ReplicaState(
                replica_id=f"rep{k}",
                deployment=dep.name,
                node_id=f"n{k % 50}",
                node_name=f"node{k % 50}",
                device="CPU",
                address=f"10.0.0.{k % 250}:9000",
                state=ReplicaPhase.READY if k % 10 else ReplicaPhase.UNHEALTHY,
            )
        )
        dep.desired += 1
        dep.ready += k % 10 != 0
    return policy, FleetIndex.build(FleetState(version=1, deployments=deps)), labels


def decide(engine: Any, index: Any, domain: str, text: str, labels: list[str]) -> Any:
    """One routing decision, no I/O: the engine's own planning path."""
    from router.choose import does_not_fit, match_route

    policy = engine.policy
    route = match_route(policy.routes, "classify", domain)
    planned = engine.plan(route, index, policy, "classify", text, labels, domain)
    for est in planned:
        if does_not_fit(est, 3000.0, None) is None:
            return est
    return None


def time_decision(
    routes: int, replicas: int, *, one_deployment: bool, batch_s: float, batches: int
) -> dict[str, Any]:
    """Median microseconds per decision over `batches` batches of about `batch_s` seconds each."""
    from edgefleet.state import FleetState
    from router.engine import RouterEngine
    from router.estimates import Estimates
    from router.fleet_source import StaticFleet

    policy, index, labels = synthetic(routes, replicas, one_deployment=one_deployment)
    estimates = Estimates()
    rng = random.Random(0)
    for dep in index.deployments.values():
        for r in dep.replicas:  # every replica has history: the realistic, slower path
            estimates.end(r.replica_id, 2.0 + rng.random(), True)
    hosted: dict[str, Any] = {"big": _ClosedCircuit()}
    state = FleetState(version=1, deployments=list(index.deployments.values()))
    engine = RouterEngine(
        policy,
        StaticFleet(state),
        None,  # type: ignore[arg-type]  # planning never calls the edge
        hosted,
        estimates=estimates,
        rng=random.Random(1),
    )
    domain = f"d{routes - 1}"
    text = "how do i freeze my account"
    t0 = time.perf_counter()
    assert decide(engine, index, domain, text, labels) is not None
    calls = max(5, min(5000, int(batch_s / max(time.perf_counter() - t0, 1e-7))))
    per_call: list[float] = []
    for _ in range(batches):
        t0 = time.perf_counter()
        for _ in range(calls):
            decide(engine, index, domain, text, labels)
        per_call.append((time.perf_counter() - t0) / calls * 1e6)
    from router.targets import FleetIndex

    t0 = time.perf_counter()
    FleetIndex.build(state)
    index_us = (time.perf_counter() - t0) * 1e6
    return {
        "routes": routes,
        "replicas": replicas,
        "one_deployment": one_deployment,
        "replicas_per_chosen_deployment": len(index.deployments[f"dep{routes - 1}"].replicas),
        "calls_per_batch": calls,
        "decision_us": statistics.median(per_call),
        "decision_us_min": min(per_call),
        "index_build_us": index_us,
    }


def run(ctx: Any) -> dict[str, Any]:
    """The grid: replicas x routes, spread and single-deployment fleets."""
    batch_s, batches = ctx.size(0.05, 0.5), ctx.size(3, 7)
    grid = [
        time_decision(r, n, one_deployment=False, batch_s=batch_s, batches=batches)
        for r in ROUTES
        for n in REPLICAS
    ]
    hot = [time_decision(10, n, one_deployment=True, batch_s=batch_s, batches=batches) for n in REPLICAS]
    decision_us = {f"replicas_{g['replicas']}_routes_{g['routes']}": g["decision_us"] for g in grid}
    hot_us = {f"replicas_{g['replicas']}_in_one_deployment": g["decision_us"] for g in hot}
    growth = {
        f"routes_{r}_replicas_1000_vs_10": ratio(
            decision_us[f"replicas_1000_routes_{r}"], decision_us[f"replicas_10_routes_{r}"]
        )
        for r in ROUTES
    }
    growth["routes_100_vs_10_at_100_replicas"] = ratio(
        decision_us["replicas_100_routes_100"], decision_us["replicas_100_routes_10"]
    )
    growth["one_deployment_1000_vs_10_replicas"] = ratio(hot[-1]["decision_us"], hot[0]["decision_us"])
    rows = [
        [
            g["routes"],
            g["replicas"],
            g["replicas_per_chosen_deployment"],
            g["decision_us"],
            g["index_build_us"],
        ]
        for g in grid + hot
    ]
    return {
        "method": (
            f"median of {batches} batches of ~{batch_s} s of decisions in one process (pure Python, no I/O); "
            "10% of replicas unhealthy; every replica has latency history; index_build_us = "
            "FleetIndex.build once per fleet-state version (not per request)."
        ),
        "grid": grid,
        "one_deployment": hot,
        "decision_us": decision_us,
        "decision_us_one_deployment": hot_us,
        "growth": growth,
        "tables": [
            (
                "Decision time",
                ["routes", "replicas", "replicas of chosen deployment", "decision µs", "index build µs"],
                rows,
            ),
            ("Growth", ["comparison", "ratio"], [[k, v] for k, v in growth.items()]),
        ],
        "notes": [
            (
                "Replica choice is power of two choices over a lazily built load view (only the sampled "
                "replicas are looked at), so the decision should not grow with replicas per deployment; "
                "route matching grows linearly with routes. Timed: RouterEngine.plan, the engine's own path."
            ),
        ],
    }
