"""The router's Prometheus metrics (served at ``/metrics`` on the front door's HTTP port).

Per request (hot path, a few counter and histogram updates, no new label values per request):

* ``edgefleet_router_requests_total{route, task, tier, outcome}`` -- every request the router
  answered or refused; ``tier`` is where it was answered (``edge``, ``hosted``, ``mixed`` for a
  batch answered by both, ``none`` when it failed), ``outcome`` ``ok`` or the gRPC status name in
  lower case (``invalid_argument``, ``unavailable``, ``deadline_exceeded``, ...; ``cancelled``).
  Requests refused before a route was matched have ``route="none"``.
* ``edgefleet_router_escalations_total{route, task, reason}`` -- escalations of answered texts.
* ``edgefleet_router_request_duration_seconds{route, task}`` -- latency histogram.
* ``edgefleet_router_time_to_first_token_seconds{route}`` -- generation: until the client's first text.
* ``edgefleet_router_tokens_total{tier, kind}`` -- generation tokens (``prompt``/``completion``).
* ``edgefleet_router_spend_usd_total{kind}`` (``edge``, ``hosted``, ``shadow``) and
  ``edgefleet_router_hosted_equivalent_usd_total`` -- money, as the cost ledger records it.

At scrape time (nothing on the hot path): circuit breakers per target, replicas by state, the
fleet view's age and requests in flight (:class:`RouterStateCollector`).

Cardinality: every label value comes from a bounded set -- route and deployment names from the
policy, tasks, tiers, gRPC status names and escalation reasons from the code. Replica ids (which
change with every restart and rollout) are never label values: edge breakers are counted per
deployment (``target="clinc-banking"``), hosted ones per endpoint (``target="hosted:big"``).
A caller's unknown task is counted as ``task="other"``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from router.ledger import LedgerEntry

TASKS = frozenset({"classify", "embed", "generate"})
NO_ROUTE = "none"
LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
TTFT_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
CIRCUIT_STATES = ("closed", "half-open", "open")
# the front door's refusals (HTTP status) under the gRPC status names the rest of the metrics use
HTTP_OUTCOMES = {
    400: "invalid_argument",
    401: "unauthenticated",
    404: "not_found",
    405: "invalid_argument",
    413: "invalid_argument",
    429: "resource_exhausted",
    503: "unavailable",
    504: "deadline_exceeded",
}


def task_label(task: str) -> str:
    """A task as a label value: one of the known tasks, else ``other`` (callers send anything)."""
    return task if task in TASKS else "other"


def tier_label(tiers: Iterable[str]) -> str:
    """``edge``, ``hosted``, ``mixed`` (a batch answered by both) or ``none`` (no answer)."""
    seen = set(tiers)
    if not seen:
        return "none"
    return next(iter(seen)) if len(seen) == 1 else "mixed"


def outcome_label(exc: BaseException | None) -> str:
    """``ok``, or the error's gRPC status name in lower case (``cancelled`` when cancelled)."""
    if exc is None:
        return "ok"
    status = getattr(exc, "status", None)  # the front door's OpenAIError
    if isinstance(status, int):
        return HTTP_OUTCOMES.get(status, "internal")
    code = getattr(exc, "code", None)
    if isinstance(code, str):
        return code.lower()
    if type(exc).__name__ in ("CancelledError", "GeneratorExit"):
        return "cancelled"
    return "internal"


class RouterMetrics:
    """The router's counters and histograms, in their own registry (one per router, so routers in
    one process, as in tests, do not collide)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "edgefleet_router_requests",
            "Requests by route, task, tier that answered and outcome (ok or gRPC status).",
            ["route", "task", "tier", "outcome"],
            registry=r,
        )
        self.escalations = Counter(
            "edgefleet_router_escalations",
            "Escalations of answered texts by route, task and reason.",
            ["route", "task", "reason"],
            registry=r,
        )
        self.latency = Histogram(
            "edgefleet_router_request_duration_seconds",
            "Request latency in the router (receipt to answer).",
            ["route", "task"],
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.ttft = Histogram(
            "edgefleet_router_time_to_first_token_seconds",
            "Generation: request start to the first text the client received.",
            ["route"],
            buckets=TTFT_BUCKETS_S,
            registry=r,
        )
        self.tokens = Counter(
            "edgefleet_router_tokens",
            "Generation tokens by tier and kind (prompt or completion).",
            ["tier", "kind"],
            registry=r,
        )
        self.spend = Counter(
            "edgefleet_router_spend_usd",
            "Money spent in US dollars by kind (edge, hosted, shadow), as the cost ledger records it.",
            ["kind"],
            registry=r,
        )
        self.hosted_equivalent = Counter(
            "edgefleet_router_hosted_equivalent_usd",
            "What the answered requests would have cost on the hosted tier, in US dollars.",
            registry=r,
        )
        self._spend = {kind: self.spend.labels(kind) for kind in ("edge", "hosted", "shadow")}
        # label children by their values: a dict lookup per request instead of labels()' checks
        self._children: dict[tuple[Any, ...], Any] = {}

    def _child(self, metric: Any, *values: str) -> Any:
        """The child of `metric` (a Counter or Histogram) with label `values`, cached."""
        key = (id(metric), *values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child

    def request(
        self, route: str, task: str, tiers: Iterable[str], exc: BaseException | None, s: float
    ) -> None:
        """One request routed (or refused inside the engine) after `s` seconds."""
        route = route or NO_ROUTE
        task = task_label(task)
        self._child(self.requests, route, task, tier_label(tiers), outcome_label(exc)).inc()
        self._child(self.latency, route, task).observe(s)

    def rejected(self, task: str, exc: BaseException) -> None:
        """A request refused before routing (authentication, validation)."""
        self.requests.labels(NO_ROUTE, task_label(task), "none", outcome_label(exc)).inc()

    def answered(self, route: str, task: str, escalations: Sequence[str]) -> None:
        """One answered text's escalation reasons."""
        for reason in escalations:
            self._child(self.escalations, route, task, reason).inc()

    def generation(self, route: str, tier: str, prompt: int, completion: int, ttft_s: float | None) -> None:
        """One answered generation's tokens and time to first token."""
        self._child(self.tokens, tier, "prompt").inc(prompt)
        self._child(self.tokens, tier, "completion").inc(completion)
        if ttft_s is not None:
            self._child(self.ttft, route).observe(ttft_s)

    def ledger_entry(self, e: LedgerEntry) -> None:
        """Money of one cost-ledger entry (every answered request, and shadow calls)."""
        kind = "shadow" if e.shadow else e.tier
        if e.cost_usd > 0:
            (self._spend.get(kind) or self.spend.labels(kind)).inc(e.cost_usd)
        if not e.shadow and e.hosted_equivalent_usd > 0:
            self.hosted_equivalent.inc(e.hosted_equivalent_usd)


class RouterStateCollector(Collector):
    """Gauges read at scrape time from the router's state: circuit breakers per target (edge:
    per deployment, counting its replicas' breakers; hosted: per endpoint), replicas by deployment
    and state, the fleet view's age and requests in flight. :meth:`refresh` (async, before each
    scrape) fetches the fleet state, so :meth:`collect` never waits."""

    def __init__(self, engine: Any, hosted: Mapping[str, Any], clock: Any = time.time) -> None:
        self.engine = engine
        self.hosted = hosted
        self._clock = clock
        self._state: Any = None

    async def refresh(self) -> None:
        """Read the fleet state the router routes with."""
        self._state = await self.engine.fleet.state()

    def describe(self) -> list[Metric]:
        """Nothing to describe up front (keeps registration from calling collect)."""
        return []

    def collect(self) -> Iterable[Metric]:
        """The gauges."""
        engine, state = self.engine, self._state
        inflight = GaugeMetricFamily(
            "edgefleet_router_inflight_requests", "Requests in flight in the router."
        )
        inflight.add_metric([], float(engine.inflight))
        yield inflight
        breakers = GaugeMetricFamily(
            "edgefleet_router_circuit_breakers",
            "Circuit breakers by target (edge: deployment, its replicas' breakers; hosted: hosted:NAME) "
            "and state (closed, half-open, open).",
            labels=["target", "tier", "state"],
        )
        for name, client in sorted(self.hosted.items()):
            current = str(getattr(client, "circuit_state", "closed"))
            for st in CIRCUIT_STATES:
                breakers.add_metric([f"hosted:{name}", "hosted", st], 1.0 if current == st else 0.0)
        replicas = GaugeMetricFamily(
            "edgefleet_fleet_replicas", "Replicas by deployment and state.", labels=["deployment", "state"]
        )
        if state is not None:
            for dep in state.deployments:
                counts = dict.fromkeys(CIRCUIT_STATES, 0)
                phases: dict[str, int] = {}
                for r in dep.replicas:
                    counts[engine.estimates.circuit(r.replica_id)] += 1
                    phase = str(getattr(r.state, "value", r.state))
                    phases[phase] = phases.get(phase, 0) + 1
                for st, n in counts.items():
                    breakers.add_metric([dep.name, "edge", st], float(n))
                for phase, n in sorted(phases.items()):
                    replicas.add_metric([dep.name, phase], float(n))
        yield breakers
        yield replicas
        age = GaugeMetricFamily(
            "edgefleet_router_fleet_view_age_seconds",
            "Seconds since the router last received a fleet snapshot from the control plane.",
        )
        synced = getattr(engine.fleet, "synced_unix", None)
        if synced is None and state is not None:
            synced = state.unix_ms / 1000.0
        if synced:
            age.add_metric([], max(0.0, self._clock() - float(synced)))
        yield age
        yield from self._offline()

    def _offline(self) -> Iterable[Metric]:
        """Offline mode: degraded answers by reason, the deferred-escalation queue."""
        offline = getattr(self.engine, "offline", None)
        if offline is None:
            return
        snap = offline.snapshot(self.hosted, getattr(self.engine, "deferred", None))
        degraded = CounterMetricFamily(
            "edgefleet_router_degraded_answers",
            "Answers degraded to the best edge answer because the hosted fallback could not answer, by reason.",
            labels=["reason"],
        )
        for reason, n in sorted(snap.by_reason.items()):
            degraded.add_metric([reason], float(n))
        yield degraded
        queue = GaugeMetricFamily(
            "edgefleet_router_deferred_escalations",
            "Escalations queued until the hosted tier is back (routes with defer_escalations).",
        )
        queue.add_metric([], float(snap.deferred_queued))
        yield queue
