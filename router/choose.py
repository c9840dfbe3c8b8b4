"""The router's pure decision functions over plain data: route matching, candidate
lists, ordering by cost, budget checks, power-of-two-choices replica choice, and
escalation rules. No I/O, no clocks; :meth:`router.engine.RouterEngine.plan` puts
them together (and is what the `scale` benchmark times)."""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from edgefleet.policy.schema import RouteConfig
from router.domain import COST_BUDGET, LATENCY_BUDGET, LOW_CONFIDENCE, OUT_OF_SCOPE, TargetAnswer, TierName
from router.errors import InvalidRequest


@dataclass(frozen=True)
class Candidate:
    """A deployment (edge) or hosted endpoint that may answer a request."""

    name: str
    tier: TierName

    @property
    def target(self) -> str:
        """The name shown in traces: deployment name, or ``hosted:NAME``."""
        return self.name if self.tier == "edge" else f"hosted:{self.name}"


@dataclass(frozen=True)
class CandidateEstimate:
    """What the router expects of a candidate right now."""

    candidate: Candidate
    est_latency_ms: float
    est_cost_usd: float
    unavailable: str | None = None  # reason it cannot be used at all (no ready replica, circuit open)
    choice: Any = None  # what to call: (deployment, replica) for edge, the HostedConfig for hosted


@dataclass(frozen=True)
class ReplicaLoad:
    """Load of one edge replica as seen by this router."""

    replica_id: str
    outstanding: int
    ewma_ms: float
    eligible: bool = True  # state "ready" and circuit breaker not open


def match_route(
    routes: Sequence[RouteConfig], task: str, domain: str | None, route_name: str | None = None
) -> RouteConfig:
    """The route for a request: the named one; else the first route of the task that
    names the domain; else the first of the task covering any domain ("*" or a
    domain model); else the first of the task. InvalidRequest when none serves the task."""
    if route_name:
        for route in routes:
            if route.name == route_name:
                if route.task != task:
                    raise InvalidRequest(f"route {route_name!r} serves task {route.task!r}, not {task!r}")
                return route
        raise InvalidRequest(f"unknown route {route_name!r}; known: {sorted(r.name for r in routes)}")
    of_task = [r for r in routes if r.task == task]
    if not of_task:
        raise InvalidRequest(f"no route serves task {task!r}")
    if domain is not None:
        for route in of_task:
            if domain in route.domains or domain in route.specialists:
                return route
    for route in of_task:
        if "*" in route.domains or route.domain_model is not None:
            return route
    if domain is not None:
        raise InvalidRequest(f"no {task!r} route serves domain {domain!r}")
    return of_task[0]


def candidate_list(route: RouteConfig, domain: str | None, *, hosted_only: bool = False) -> list[Candidate]:
    """Specialists for the domain, then the route's targets, then the hosted fallback
    (duplicates dropped). `hosted_only` keeps just the fallback (out-of-scope domain)."""
    names: list[str] = []
    if not hosted_only:
        if domain is not None:
            names += route.specialists.get(domain, [])
        names += route.targets
    seen: set[str] = set()
    out: list[Candidate] = []
    for name in names:
        if name not in seen:
            seen.add(name)
            out.append(Candidate(name, "edge"))
    if route.fallback is not None:
        out.append(Candidate(route.fallback, "hosted"))
    return out


def order_by_cost(estimates: Sequence[CandidateEstimate]) -> list[CandidateEstimate]:
    """Edge candidates cheapest first (ties keep the route's order: specialists
    before targets), hosted candidates after every edge candidate."""
    indexed = list(enumerate(estimates))
    indexed.sort(key=lambda p: (p[1].candidate.tier == "hosted", p[1].est_cost_usd, p[0]))
    return [e for _, e in indexed]


def does_not_fit(
    estimate: CandidateEstimate, remaining_ms: float | None, remaining_cost_usd: float | None
) -> tuple[str, str] | None:
    """(reason category, message) when the candidate cannot be used within the
    remaining budgets; None when it fits."""
    if estimate.unavailable is not None:
        return ("unavailable", estimate.unavailable)
    if remaining_cost_usd is not None and estimate.est_cost_usd > remaining_cost_usd + 1e-12:
        return (
            COST_BUDGET,
            f"est. cost ${estimate.est_cost_usd:.6f} > remaining ${max(remaining_cost_usd, 0.0):.6f}",
        )
    if remaining_ms is not None and estimate.est_latency_ms > remaining_ms:
        return (
            LATENCY_BUDGET,
            f"est. latency {estimate.est_latency_ms:.1f} ms > remaining {max(remaining_ms, 0.0):.1f} ms",
        )
    return None


def power_of_two_choices(loads: Sequence[ReplicaLoad], rng: random.Random) -> ReplicaLoad | None:
    """Pick two eligible replicas at random and keep the one with fewer outstanding
    requests (then lower EWMA latency). None when no replica is eligible."""
    n = len(loads)
    if n == 0:
        return None
    if n == 1:  # nothing to choose between (and no random draws spent)
        only = loads[0]
        return only if only.eligible else None
    picks: list[ReplicaLoad] = []
    for _ in range(4):  # cheap sampling first: most replicas are usually eligible
        cand = loads[rng.randrange(n)]
        if cand.eligible and (not picks or cand is not picks[0]):
            picks.append(cand)
            if len(picks) == 2:
                break
    if len(picks) < 2:
        eligible = [r for r in loads if r.eligible]
        if not eligible:
            return None
        if len(eligible) == 1:
            return eligible[0]
        picks = rng.sample(eligible, 2)
    a, b = picks
    return a if (a.outstanding, a.ewma_ms) <= (b.outstanding, b.ewma_ms) else b


def required_confidence(route_min: float, request_min: float | None) -> float:
    """The confidence an answer needs: the stricter of route and request."""
    return route_min if request_min is None else max(route_min, request_min)


def escalation_reason(
    label: str | None, confidence: float, threshold: float, escalate_labels: Collection[str]
) -> tuple[str, str] | None:
    """(category, message) when an answer must be escalated; None when it is good."""
    if label is not None and label in escalate_labels:
        return (OUT_OF_SCOPE, f"label {label!r} is out of scope")
    if confidence < threshold:
        return (LOW_CONFIDENCE, f"confidence {confidence:.2f} < {threshold:.2f}")
    return None


def oos_is_final(route: RouteConfig, answer: TargetAnswer) -> bool:
    """A confident out-of-scope edge answer that the route takes as final (no hosted call)."""
    final_at = route.edge_oos_final_confidence
    return final_at is not None and answer.label in route.escalate_labels and answer.confidence >= final_at
