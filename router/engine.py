"""The routing engine: per request, match a route, detect the domain, walk the
candidates cheapest-first within the latency and cost budgets, escalate on low
confidence / out-of-scope / failure, and account for it all."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from edgefleet.policy.schema import Policy, RouteConfig
from router.accounting import Accounting
from router.budget import CostBudget, KeyGate
from router.choose import (
    Candidate,
    CandidateEstimate,
    candidate_list,
    does_not_fit,
    escalation_reason,
    match_route,
    order_by_cost,
    required_confidence,
)
from router.costs import estimate_hosted_cost
from router.domain import (
    COST_BUDGET,
    ERROR,
    LATENCY_BUDGET,
    EdgeCaller,
    EdgeGenerator,
    EdgeRetriever,
    GenerateEvent,
    GenerateInput,
    HostedCaller,
    InferInput,
    InferOutput,
    Result,
    Step,
    TargetAnswer,
)
from router.drain import Inflight, reserve_s
from router.errors import (
    DeadlineExceeded,
    LimitExceeded,
    Overloaded,
    RouterError,
    TargetError,
    Unavailable,
)
from router.estimates import Estimates
from router.fleet_source import FleetSource
from router.generate_engine import GenerateEngine
from router.generate_extractive import FewShotSource
from router.ledger import Ledger
from router.metrics import RouterMetrics
from router.offline import OfflineState, failure_reason, skip_reason
from router.siblings import pick_sibling, worth_a_sibling
from router.targets import FleetIndex, TargetCaller
from router.tracing import NO_TRACE, Trace, Tracing
from router.validate import known_domains

if TYPE_CHECKING:
    from router.deferred import DeferredEscalations


@dataclass
class _Walk:
    """Mutable state of routing one text."""

    start: float
    deadline: float
    budget: CostBudget
    steps: list[Step] = field(default_factory=list)
    spent: float = 0.0
    escalations: list[str] = field(default_factory=list)
    edge_answers: list[TargetAnswer] = field(default_factory=list)
    edge_targets: list[str] = field(default_factory=list)
    domain: str = ""
    trace: Trace = NO_TRACE
    degraded: str = ""  # why the hosted fallback could not answer (router.offline), "" when it could
    domain_answer: TargetAnswer | None = None  # the domain model's answer, when it escalated


class RouterEngine:
    """Routes validated requests (Infer here, generation in :class:`GenerateEngine`); holds the
    router's soft state."""

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
                results = [await self._route_text(req, policy, route, index, req.texts[0], deadline, budget)]
            else:
                tasks = [
                    asyncio.ensure_future(self._route_text(req, policy, route, index, text, deadline, budget))
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

    def _record_result(
        self, req: InferInput, route: RouteConfig, text: str, result: Result, walk: _Walk, index: FleetIndex
    ) -> None:
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

    def _hosted_labels(self, route: RouteConfig, index: FleetIndex) -> list[str]:
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

    async def _route_text(
        self,
        req: InferInput,
        policy: Policy,
        route: RouteConfig,
        index: FleetIndex,
        text: str,
        deadline: float,
        budget: CostBudget,
    ) -> Result:
        walk = _Walk(self._clock(), deadline, budget, domain=req.domain or "")
        if req.trace is not None:
            walk.trace = req.trace
        labels = self._hosted_labels(route, index) if req.task == "classify" else []
        hosted_only = False
        if req.domain is None and route.domain_model is not None and req.task == "classify":
            if walk.trace.enabled:
                with walk.trace.step("domain_detection", {"edgefleet.model": route.domain_model}) as span:
                    hosted_only, final = await self._detect_domain(route, index, text, walk)
                    if span is not None:
                        span.set_attributes(
                            {"edgefleet.domain": walk.domain, "edgefleet.hosted_only": hosted_only}
                        )
            else:
                hosted_only, final = await self._detect_domain(route, index, text, walk)
            if final is not None:
                return self._finish(req, route, text, route.domain_model, final, walk, index)
        planned = self.plan(route, index, policy, req.task, text, labels, walk.domain or None, hosted_only)
        threshold = required_confidence(route.min_confidence, req.constraints.min_confidence)
        hosted_failure = ""
        latency_skipped: list[tuple[float, Candidate]] = []
        attempted = False
        last_edge = max((i for i, p in enumerate(planned) if p.candidate.tier == "edge"), default=-1)
        for position, est in enumerate(planned):
            cand = est.candidate
            remaining_ms = (walk.deadline - self._clock()) * 1000.0
            misfit = does_not_fit(est, remaining_ms, walk.budget.remaining())
            if misfit is None and not walk.budget.reserve(est.est_cost_usd):
                left = walk.budget.remaining() or 0.0
                misfit = (COST_BUDGET, f"est. cost ${est.est_cost_usd:.6f} > remaining ${max(left, 0.0):.6f}")
            if misfit is not None and misfit[0] == COST_BUDGET and walk.budget.imposed:
                misfit = (misfit[0], f"{misfit[1]} ({walk.budget.what})")
            if misfit is not None:
                walk.steps.append(Step(cand.target, "skip", misfit[1], 0.0))
                walk.escalations.append(ERROR if misfit[0] == "unavailable" else misfit[0])
                if cand.tier == "hosted":
                    unavailable = misfit[1].startswith("hosted unavailable")
                    hosted_failure = misfit[1] if unavailable else f"{cand.target} skipped: {misfit[1]}"
                    walk.degraded = skip_reason(misfit[0], misfit[1])
                if misfit[0] == LATENCY_BUDGET:
                    latency_skipped.append((est.est_latency_ms, cand))
                continue
            attempted = True
            answer = await self._attempt(cand, est.choice, req.task, text, labels, walk, est.est_cost_usd)
            if answer is None and cand.tier == "edge":
                answer = await self._try_siblings(
                    cand, est.choice, req.task, text, labels, walk, est.est_cost_usd
                )
            if answer is None:
                if cand.tier == "hosted":
                    hosted_failure = f"hosted unavailable: {walk.steps[-1].reason}"
                continue
            if cand.tier == "hosted" or req.task != "classify":
                return self._finish(req, route, text, cand.target, answer, walk, index)
            why = escalation_reason(answer.label, answer.confidence, threshold, route.escalate_labels)
            if why is None or (position == last_edge and self._oos_is_final(route, answer)):
                return self._finish(req, route, text, cand.target, answer, walk, index)
            walk.steps.append(Step(cand.target, "escalate", why[1], answer.latency_ms))
            walk.escalations.append(why[0])
            if walk.trace.enabled:
                walk.trace.mark("escalate", {"edgefleet.target": cand.target, "edgefleet.reason": why[0]})
            walk.edge_answers.append(answer)
            walk.edge_targets.append(cand.target)
        if not attempted and latency_skipped and walk.deadline > self._clock():
            # every estimate said "too slow": estimates may be stale, so try the fastest once
            cand = min(latency_skipped, key=lambda p: p[0])[1]
            est = self.targets.estimate(cand, index, policy, req.task, text, labels)
            if est.unavailable is None:
                answer = await self._attempt(cand, est.choice, req.task, text, labels, walk)
                if answer is not None:
                    return self._finish(req, route, text, cand.target, answer, walk, index)
        if hosted_only and walk.degraded and not walk.edge_answers:
            await self._edge_fallback(route, index, policy, req.task, text, labels, walk, threshold)
        if not walk.edge_answers and walk.degraded and walk.domain_answer is not None:
            walk.edge_answers.append(walk.domain_answer)  # the domain model's out-of-scope answer
            walk.edge_targets.append(route.domain_model or "")
        if walk.edge_answers:
            k = max(range(len(walk.edge_answers)), key=lambda i: walk.edge_answers[i].confidence)
            best, target = walk.edge_answers[k], walk.edge_targets[k]
            kept_why = hosted_failure or "no candidate left"
            kept = f"{kept_why}, kept edge answer with confidence {best.confidence:.2f}"
            walk.steps.append(Step(target, "ok", kept, 0.0))
            degraded = walk.degraded if route.fallback is not None else ""
            return self._finish(
                req, route, text, target, best, walk, index, add_step=False, degraded=degraded
            )
        summary = "; ".join(f"{s.target}: {s.outcome} ({s.reason})" for s in walk.steps) or "no candidates"
        if COST_BUDGET in walk.escalations and walk.budget.imposed:
            raise LimitExceeded(f"no target fits {walk.budget.what}: {summary}")
        if walk.deadline <= self._clock():
            raise DeadlineExceeded(f"latency budget exhausted before any target answered: {summary}")
        raise Unavailable(f"no target could answer: {summary}")

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

    @staticmethod
    def _oos_is_final(route: RouteConfig, answer: TargetAnswer) -> bool:
        """A confident out-of-scope edge answer that the route takes as final (no hosted call)."""
        final_at = route.edge_oos_final_confidence
        return (
            final_at is not None and answer.label in route.escalate_labels and answer.confidence >= final_at
        )

    async def _detect_domain(
        self, route: RouteConfig, index: FleetIndex, text: str, walk: _Walk
    ) -> tuple[bool, TargetAnswer | None]:
        """Detect the domain with the route's domain model. Returns (hosted_only, final):
        hosted_only when the text should go straight to the hosted fallback (out of scope or
        unsure); final when the domain model's confident out-of-scope answer is the answer
        (route.edge_oos_final_confidence)."""
        cand = Candidate(route.domain_model or "", "edge")
        est = self.targets.estimate(cand, index, self.policy, "classify", text, [])
        if est.unavailable is not None:
            walk.steps.append(Step(cand.target, "skip", f"domain detection: {est.unavailable}", 0.0))
            return False, None
        answer = await self._attempt(cand, est.choice, "classify", text, [], walk)
        if answer is None:
            answer = await self._try_siblings(cand, est.choice, "classify", text, [], walk)
        if answer is None:
            return False, None
        if self._oos_is_final(route, answer):
            walk.domain = answer.label or ""
            return False, answer
        why = escalation_reason(answer.label, answer.confidence, route.min_confidence, route.escalate_labels)
        if why is not None and route.fallback is None and answer.label in route.escalate_labels:
            walk.domain = answer.label or ""  # nothing to escalate to: the out-of-scope answer stands
            return False, answer
        if why is not None:
            walk.steps.append(Step(cand.target, "escalate", f"domain detection: {why[1]}", answer.latency_ms))
            walk.escalations.append(why[0])
            walk.domain_answer = answer
            if walk.trace.enabled:
                walk.trace.mark("escalate", {"edgefleet.target": cand.target, "edgefleet.reason": why[0]})
            walk.domain = answer.label or ""
            return route.fallback is not None, None
        walk.domain = answer.label or ""
        walk.steps.append(
            Step(cand.target, "ok", f"domain {walk.domain} ({answer.confidence:.2f})", answer.latency_ms)
        )
        return False, None

    async def _attempt(
        self,
        cand: Candidate,
        chosen: Any,
        task: str,
        text: str,
        labels: Sequence[str],
        walk: _Walk,
        reserved: float = 0.0,
    ) -> TargetAnswer | None:
        """Call one candidate (`reserved`: its estimated cost, reserved in the request's budget and
        settled here); failures become an error/timeout step and None. Traced requests get an
        ``edge_call``/``hosted_call`` span whose ``traceparent`` goes to the target."""
        trace = walk.trace
        if not trace.enabled:
            return await self._call(cand, chosen, task, text, labels, walk, None, reserved)
        attributes = {"edgefleet.target": cand.target, "edgefleet.tier": cand.tier}
        with trace.step(f"{cand.tier}_call", attributes) as span:
            answer = await self._call(cand, chosen, task, text, labels, walk, trace.headers(span), reserved)
            if span is not None:
                span.set_attribute(
                    "edgefleet.outcome", "ok" if answer is not None else walk.steps[-1].outcome
                )
            return answer

    async def _call(
        self,
        cand: Candidate,
        chosen: Any,
        task: str,
        text: str,
        labels: Sequence[str],
        walk: _Walk,
        headers: dict[str, str] | None,
        reserved: float = 0.0,
    ) -> TargetAnswer | None:
        timeout_s = max(walk.deadline - self._clock(), 0.001)
        start = self._clock()
        try:
            if cand.tier == "edge":
                dep, replica = chosen
                answer = await self.targets.call_edge(dep, replica, text, task, timeout_s, headers)
            else:
                answer = await self.targets.call_hosted(
                    cand.name, chosen, text, task, labels, timeout_s, headers
                )
        except TargetError as exc:
            ms = (self._clock() - start) * 1000.0
            walk.steps.append(Step(cand.target, "timeout" if exc.timeout else "error", str(exc), ms))
            walk.escalations.append(ERROR)
            if cand.tier == "hosted":
                walk.degraded = failure_reason(exc)
            return None
        except RouterError:
            raise
        except Exception as exc:  # noqa: BLE001 -- a bug or library error: escalate, never crash
            ms = (self._clock() - start) * 1000.0
            walk.steps.append(Step(cand.target, "error", f"{type(exc).__name__}: {exc}", ms))
            walk.escalations.append(ERROR)
            if cand.tier == "hosted":
                walk.degraded = failure_reason(TargetError(str(exc)))
            return None
        finally:
            walk.budget.settle(reserved, 0.0)  # the reservation ends; the answer's cost counts below
        walk.spent += answer.cost_usd
        walk.budget.settle(0.0, answer.cost_usd)
        return answer

    async def _edge_fallback(
        self,
        route: RouteConfig,
        index: FleetIndex,
        policy: Policy,
        task: str,
        text: str,
        labels: Sequence[str],
        walk: _Walk,
        threshold: float,
    ) -> None:
        """The text was for the hosted tier only (domain detection escalated) but it could not
        answer: ask the edge candidates after all, into ``walk.edge_answers`` (degraded answers),
        until one is good enough."""
        for est in self.plan(route, index, policy, task, text, labels, walk.domain or None):
            cand = est.candidate
            remaining_ms = (walk.deadline - self._clock()) * 1000.0
            if cand.tier != "edge" or does_not_fit(est, remaining_ms, walk.budget.remaining()) is not None:
                continue
            if not walk.budget.reserve(est.est_cost_usd):
                continue
            answer = await self._attempt(cand, est.choice, task, text, labels, walk, est.est_cost_usd)
            if answer is None:
                answer = await self._try_siblings(
                    cand, est.choice, task, text, labels, walk, est.est_cost_usd
                )
            if answer is None:
                continue
            walk.edge_answers.append(answer)
            walk.edge_targets.append(cand.target)
            if escalation_reason(answer.label, answer.confidence, threshold, route.escalate_labels) is None:
                return

    async def _try_siblings(
        self,
        cand: Candidate,
        chosen: Any,
        task: str,
        text: str,
        labels: Sequence[str],
        walk: _Walk,
        reserved: float = 0.0,
    ) -> TargetAnswer | None:
        """After a failed edge call: other replicas of the deployment (router.siblings), at most
        ``router.edge_retries``; the first answer, or None (the failure stays an escalation)."""
        dep, replica = chosen
        tried = {replica.replica_id}
        for _ in range(self.policy.router.edge_retries):
            if not worth_a_sibling(walk.steps[-1].outcome) or walk.deadline <= self._clock():
                return None
            sibling = pick_sibling(dep, tried, self.estimates, self.targets.rng)
            if sibling is None:
                return None
            if not walk.budget.reserve(reserved):  # the failed call's reservation ended with it
                return None
            tried.add(sibling.replica_id)
            walk.escalations.pop()  # not escalated (yet): a sibling gets the text
            answer = await self._attempt(cand, (dep, sibling), task, text, labels, walk, reserved)
            if answer is not None:
                return answer
        return None

    def _finish(
        self,
        req: InferInput,
        route: RouteConfig,
        text: str,
        target: str,
        answer: TargetAnswer,
        walk: _Walk,
        index: FleetIndex,
        add_step: bool = True,
        degraded: str = "",
    ) -> Result:
        if add_step:
            reason = f"{answer.label} ({answer.confidence:.2f})" if answer.label is not None else "embedding"
            walk.steps.append(Step(target, "ok", reason, answer.latency_ms))
        result = Result(
            label=answer.label,
            scores=answer.scores,
            embedding=answer.embedding,
            confidence=answer.confidence,
            served_by=answer.served_by,
            cost_usd=walk.spent,
            latency_ms=(self._clock() - walk.start) * 1000.0,
            trace=tuple(walk.steps),
            domain=walk.domain,
            route=route.name,
            trace_id=walk.trace.trace_id,
            degraded=bool(degraded),
            degraded_reason=degraded,
        )
        walk.budget.recorded_cost(walk.spent)
        self._book(self._record_result, req, route, text, result, walk, index)
        if degraded:
            self.offline.record(degraded)
            if route.defer_escalations and self.deferred is not None and req.task == "classify":
                labels = self._hosted_labels(route, index)
                self.deferred.defer_classify(req.request_id, route, text, labels, result, walk.edge_answers)
        return result

    def _hosted_equivalent(self, route: RouteConfig, task: str, text: str, index: FleetIndex) -> float:
        """What this text would have cost on the hosted tier."""
        name = route.fallback or (self.policy.hosted[0].name if self.policy.hosted else None)
        if name is None:
            return 0.0
        labels = self._hosted_labels(route, index) if task == "classify" else []
        return estimate_hosted_cost(self.policy.hosted_endpoint(name), task, text, labels)
