"""The router's public entry: Infer and Generate requests, the policy (reloadable), the indexed
fleet, and the bookkeeping of every answer. Per request it checks the in-flight limit and the
caller's budget, matches a route and sets the deadline; each text is then routed by
:class:`router.text_route.TextRouter` and each generation by
:class:`router.generate_engine.GenerateEngine`, both over this engine's shared state."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from edgefleet.policy.schema import Policy, RouteConfig
from router.accounting import Accounting
from router.budget import KeyGate
from router.choose import CandidateEstimate, candidate_list, match_route, order_by_cost
from router.costs import estimate_hosted_cost
from router.domain import (
    EdgeCaller,
    EdgeGenerator,
    EdgeRetriever,
    GenerateEvent,
    GenerateInput,
    HostedCaller,
    InferInput,
    InferOutput,
    Result,
)
from router.drain import Inflight, reserve_s
from router.errors import Overloaded
from router.estimates import Estimates
from router.fleet_source import FleetSource
from router.generate_engine import GenerateEngine
from router.generate_extractive import FewShotSource
from router.ledger import Ledger
from router.metrics import RouterMetrics
from router.offline import OfflineState
from router.targets import FleetIndex, TargetCaller
from router.text_calls import TextWalk
from router.text_route import TextRouter
from router.tracing import Tracing
from router.validate import known_domains

if TYPE_CHECKING:
    from router.deferred import DeferredEscalations


class RouterEngine:
    """Routes validated requests (each Infer text in :class:`TextRouter`, generation in
    :class:`GenerateEngine`); holds the router's soft state."""

    def __init__(
        self,
        policy: Policy,
        fleet: FleetSource,
        edge: EdgeCaller,
        hosted: Mapping[str, HostedCaller],
        *,
        accounting: Accounting | None = None,
        estimates: Estimates | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.perf_counter,
        generator: EdgeGenerator | None = None,
        metrics: RouterMetrics | None = None,
        tracing: Tracing | None = None,
        retriever: EdgeRetriever | None = None,
        defer_accounting: bool = False,
        registry: Path | None = None,
        policy_dir: Path | None = None,
    ) -> None:
        """`generator` streams generations from edge LLM replicas and `retriever` asks retriever
        replicas for passages (default: `edge`, when it can); the hosted clients generate with their
        ``chat_stream``. `metrics` (None: none kept) counts requests, latency, escalations, tokens
        and spend for Prometheus; `tracing` (default: off) is what the servicers start request
        traces with. `defer_accounting` books each answered Infer request (accounting, ledger,
        escalation log, metrics) in a loop callback after the answer is on its way, off the
        request's own latency.
        `registry` (the model registry) and `policy_dir` (the policy file's folder)
        locate extractive routes' few-shot files."""
        self.policy = policy
        self.defer_accounting = defer_accounting
        self.fleet = fleet
        self.accounting = accounting or Accounting(
            policy.router.escalation_log,
            ledger=Ledger(policy.router.ledger) if policy.router.ledger else None,
        )
        circuit = policy.router.edge_circuit
        self.estimates = estimates or Estimates(
            policy.router.ewma_alpha,
            breaker_failures=circuit.failures,
            breaker_reset_s=circuit.reset_s,
            slow_call_s=circuit.slow_call_ms / 1000.0,
        )
        self.targets = TargetCaller(edge, hosted, self.estimates, rng, clock)
        self.metrics = metrics
        self.tracing = tracing or Tracing()
        if metrics is not None:
            self.accounting.attach_metrics(metrics)
        self.gate = KeyGate(self.accounting.ledger)
        self._clock = clock
        self._index: FleetIndex | None = None
        self._labels: dict[tuple[str, int], list[str]] = {}
        self._domains: tuple[tuple[int, int], set[str]] | None = None
        self.inflight = 0
        self.requests = Inflight()  # deadlines of the requests in flight (graceful shutdown)
        self.offline = OfflineState()
        self.deferred: DeferredEscalations | None = None  # set by the server (router.deferred_queue)
        self.policy_generation = 0
        if generator is None and hasattr(edge, "generate"):
            generator = cast(EdgeGenerator, edge)
        if retriever is None and hasattr(edge, "retrieve"):
            retriever = cast(EdgeRetriever, edge)
        self.text_router = TextRouter(self, clock)
        self.generation = GenerateEngine(
            self, generator, clock, retriever, FewShotSource(registry, policy_dir)
        )

    def reload_policy(self, policy: Policy) -> None:
        """Route with `policy` from the next request on."""
        self.policy = policy
        self.policy_generation += 1
        self._labels.clear()

    async def fleet_index(self) -> FleetIndex:
        """The indexed fleet state (rebuilt when the version changes)."""
        state = await self.fleet.state()
        if self._index is None or self._index.version != state.version:
            self._index = FleetIndex.build(state)
            self._labels.clear()
        return self._index

    async def known_domains(self) -> set[str]:
        """Domains a request may name: the policy's, plus domain-model labels."""
        index = await self.fleet_index()
        key = (index.version, self.policy_generation)
        if self._domains is not None and self._domains[0] == key:
            return self._domains[1]
        extra: set[str] = set()
        for route in self.policy.routes:
            dep = index.deployments.get(route.domain_model) if route.domain_model else None
            if dep is not None:
                extra.update(lbl for lbl in dep.labels if lbl not in route.escalate_labels)
        domains = known_domains(self.policy, extra)
        self._domains = (key, domains)
        return domains

    async def infer(self, req: InferInput, client_timeout_s: float | None = None) -> InferOutput:
        """Answer one validated request within its budget."""
        limit = self.policy.router.max_inflight
        weight = len(req.texts)  # every text is routed on its own: each counts against max_inflight
        if self.inflight + weight > limit:
            raise Overloaded(
                f"{self.inflight} texts in flight and this request has {weight} (router.max_inflight={limit})"
            )
        budget = self.gate.budget(
            req.key_id, req.constraints.max_cost_usd, self.policy.router.limits.max_cost_usd_per_request
        )
        self.inflight += weight
        start = self._clock()
        ok = False
        route_name = ""
        results: Sequence[Result] = ()
        error: BaseException | None = None
        budget_ms = req.constraints.max_latency_ms or self.policy.router.default_timeout_ms
        if client_timeout_s is not None:
            budget_ms = min(budget_ms, client_timeout_s * 1000.0)
        token = self.requests.add(budget_ms / 1000.0)
        try:
            policy = self.policy
            index = await self.fleet_index()
            route = match_route(policy.routes, req.task, req.domain, req.route)
            route_name = route.name
            # targets must be done a little before the caller's deadline, so the answer still reaches it
            deadline = start + budget_ms / 1000.0 - reserve_s(policy.router.response_reserve_ms, budget_ms)
            if len(req.texts) == 1:  # the common case: no task, no gather (one loop turn less)
                results = [
                    await self.text_router.route(req, policy, route, index, req.texts[0], deadline, budget)
                ]
            else:
                tasks = [
                    asyncio.ensure_future(
                        self.text_router.route(req, policy, route, index, text, deadline, budget)
                    )
                    for text in req.texts
                ]
                try:
                    results = await asyncio.gather(*tasks)
                finally:
                    for task in tasks:  # one text failed (or the caller left): stop the others
                        task.cancel()
            latency_ms = (self._clock() - start) * 1000.0
            ok = True
            return InferOutput(req.request_id, tuple(results), sum(r.cost_usd for r in results), latency_ms)
        except BaseException as exc:
            error = exc
            raise
        finally:
            self.inflight -= weight
            budget.close(req.request_id, route_name, req.task)
            self.requests.remove(token)
            elapsed = self._clock() - start
            tiers = tuple(r.served_by.tier for r in results) if ok else ()
            self._book(self._record_request, route_name, req.task, tiers, error, elapsed, ok)

    def _book(self, fn: Callable[..., None], *args: Any) -> None:
        """Run the bookkeeping `fn(*args)` now, or after the answer (``defer_accounting``)."""
        if self.defer_accounting:
            asyncio.get_running_loop().call_soon(fn, *args)
        else:
            fn(*args)

    def _record_request(
        self,
        route_name: str,
        task: str,
        tiers: tuple[str, ...],
        error: BaseException | None,
        elapsed: float,
        ok: bool,
    ) -> None:
        self.accounting.record_request(elapsed * 1000.0, ok)
        if self.metrics is not None:
            self.metrics.request(route_name, task, tiers, error, elapsed)

    def book_text(
        self, req: InferInput, route: RouteConfig, result: Result, walk: TextWalk, index: FleetIndex
    ) -> None:
        """Book one answered text: accounting, ledger, escalation log and metrics (now, or after
        the answer with ``defer_accounting``); a degraded answer also counts for offline mode and,
        on a ``defer_escalations`` route, queues its escalation until the hosted tier is back."""
        self._book(self._record_result, req, route, result, walk, index)
        if result.degraded_reason:
            self.offline.record(result.degraded_reason)
            if route.defer_escalations and self.deferred is not None and req.task == "classify":
                labels = self.hosted_labels(route, index)
                self.deferred.defer_classify(
                    req.request_id, route, walk.text, labels, result, walk.edge_answers
                )

    def _record_result(
        self, req: InferInput, route: RouteConfig, result: Result, walk: TextWalk, index: FleetIndex
    ) -> None:
        text = walk.text
        equivalent = self._hosted_equivalent(route, req.task, text, index)
        self.accounting.record_result(
            req.request_id, text, result, equivalent, walk.escalations, req.task, api_key=req.key_id
        )
        if walk.escalations and result.served_by.tier == "hosted":
            self.accounting.log_escalation(req.request_id, text, result, walk.edge_answers, walk.escalations)

    def generate(
        self, req: GenerateInput, client_timeout_s: float | None = None
    ) -> AsyncGenerator[GenerateEvent, None]:
        """Stream the answer to one validated generation request within its budget (text deltas,
        maybe retractions, then the final event); see router.generate_engine."""
        return self.generation.generate(req, client_timeout_s)

    def hosted_labels(self, route: RouteConfig, index: FleetIndex) -> list[str]:
        """The labels a hosted classifier chooses from on `route`: its edge deployments' labels
        and its escalate labels, in that order (cached per fleet version)."""
        key = (route.name, index.version)
        labels = self._labels.get(key)
        if labels is None:
            names = [n for ns in route.specialists.values() for n in ns] + list(route.targets)
            seen: dict[str, None] = {}
            for name in names:
                dep = index.deployments.get(name)
                for lbl in dep.labels if dep is not None else []:
                    seen[lbl] = None
            for lbl in route.escalate_labels:
                seen[lbl] = None
            labels = self._labels[key] = list(seen)
        return labels

    def plan(
        self,
        route: RouteConfig,
        index: FleetIndex,
        policy: Policy,
        task: str,
        text: str,
        labels: Sequence[str],
        domain: str | None,
        hosted_only: bool = False,
    ) -> list[CandidateEstimate]:
        """The candidates for one text, each estimated once (cost, expected latency, the replica
        power of two choices picks), edge cheapest first and hosted last: the routing decision
        before any I/O. The request then walks this list within its budgets."""
        cands = candidate_list(route, domain, hosted_only=hosted_only)
        return order_by_cost([self.targets.estimate(c, index, policy, task, text, labels) for c in cands])

    def _hosted_equivalent(self, route: RouteConfig, task: str, text: str, index: FleetIndex) -> float:
        """What this text would have cost on the hosted tier."""
        name = route.fallback or (self.policy.hosted[0].name if self.policy.hosted else None)
        if name is None:
            return 0.0
        labels = self.hosted_labels(route, index) if task == "classify" else []
        return estimate_hosted_cost(self.policy.hosted_endpoint(name), task, text, labels)
