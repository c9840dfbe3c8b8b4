"""Classification and embedding through the router, one text at a time: detect the domain (a
route's ``domain_model``), walk the planned candidates cheapest first within the latency and cost
budgets, escalate on low confidence / out-of-scope / failure, and build the text's
:class:`Result`.

When the hosted fallback cannot answer, the best edge answer is kept, marked degraded
(:mod:`router.offline`); a text that domain detection sent straight to the hosted tier then asks
the route's edge candidates after all. Shares the RouterEngine's plan, fleet labels and
bookkeeping (:class:`TextCore`); each candidate is called by :class:`router.text_calls.TextCalls`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from edgefleet.policy.schema import Policy, RouteConfig
from router.budget import CostBudget
from router.choose import (
    Candidate,
    CandidateEstimate,
    does_not_fit,
    escalation_reason,
    oos_is_final,
    required_confidence,
)
from router.domain import COST_BUDGET, ERROR, LATENCY_BUDGET, InferInput, Result, Step, TargetAnswer
from router.errors import DeadlineExceeded, LimitExceeded, Unavailable
from router.offline import skip_reason
from router.routing_core import RoutingCore
from router.targets import FleetIndex
from router.text_calls import TextCalls, TextWalk


class TextCore(RoutingCore, Protocol):
    """What routing a text shares with router.engine.RouterEngine."""

    def hosted_labels(self, route: RouteConfig, index: FleetIndex) -> list[str]:
        """The labels a hosted classifier chooses from on `route`."""
        ...

    def book_text(
        self, req: InferInput, route: RouteConfig, result: Result, walk: TextWalk, index: FleetIndex
    ) -> None:
        """Account for one answered text."""
        ...


class TextRouter:
    """Routes the texts of validated Infer requests (one per :meth:`route` call)."""

    def __init__(self, core: TextCore, clock: Callable[[], float] = time.perf_counter) -> None:
        self.core = core
        self.calls = TextCalls(core.targets, core.estimates, clock)
        self._clock = clock

    async def route(
        self,
        req: InferInput,
        policy: Policy,
        route: RouteConfig,
        index: FleetIndex,
        text: str,
        deadline: float,
        budget: CostBudget,
    ) -> Result:
        """The answer for one of `req`'s texts on `route`, by `deadline` (the clock's time) and
        within `budget` (shared by the request's texts). Raises LimitExceeded, DeadlineExceeded
        or Unavailable when no target answered."""
        start = self._clock()
        labels = self.core.hosted_labels(route, index) if req.task == "classify" else []
        walk = TextWalk(req.task, text, labels, start, deadline, budget, domain=req.domain or "")
        if req.trace is not None:
            walk.trace = req.trace
        hosted_only = False
        if req.domain is None and route.domain_model is not None and req.task == "classify":
            if walk.trace.enabled:
                with walk.trace.step("domain_detection", {"edgefleet.model": route.domain_model}) as span:
                    hosted_only, final = await self._detect_domain(route, index, walk)
                    if span is not None:
                        span.set_attributes(
                            {"edgefleet.domain": walk.domain, "edgefleet.hosted_only": hosted_only}
                        )
            else:
                hosted_only, final = await self._detect_domain(route, index, walk)
            if final is not None:
                return self._finish(req, route, route.domain_model, final, walk, index)
        planned = self.core.plan(
            route, index, policy, req.task, text, labels, walk.domain or None, hosted_only
        )
        threshold = required_confidence(route.min_confidence, req.constraints.min_confidence)
        hosted_failure = ""
        latency_skipped: list[tuple[float, Candidate]] = []
        attempted = False
        last_edge = max((i for i, p in enumerate(planned) if p.candidate.tier == "edge"), default=-1)
        for position, est in enumerate(planned):
            cand = est.candidate
            misfit = self._reserve(est, walk)
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
            answer = await self._ask(cand, est.choice, walk, est.est_cost_usd)
            if answer is None:
                if cand.tier == "hosted":
                    hosted_failure = f"hosted unavailable: {walk.steps[-1].reason}"
                continue
            if cand.tier == "hosted" or req.task != "classify":
                return self._finish(req, route, cand.target, answer, walk, index)
            why = escalation_reason(answer.label, answer.confidence, threshold, route.escalate_labels)
            if why is None or (position == last_edge and oos_is_final(route, answer)):
                return self._finish(req, route, cand.target, answer, walk, index)
            walk.steps.append(Step(cand.target, "escalate", why[1], answer.latency_ms))
            walk.escalations.append(why[0])
            if walk.trace.enabled:
                walk.trace.mark("escalate", {"edgefleet.target": cand.target, "edgefleet.reason": why[0]})
            walk.edge_answers.append(answer)
            walk.edge_targets.append(cand.target)
        if not attempted and latency_skipped and walk.deadline > self._clock():
            # every estimate said "too slow": estimates may be stale, so try the fastest once
            cand = min(latency_skipped, key=lambda p: p[0])[1]
            est = self.core.targets.estimate(cand, index, policy, req.task, text, labels)
            if est.unavailable is None:
                answer = await self.calls.attempt(cand, est.choice, walk)
                if answer is not None:
                    return self._finish(req, route, cand.target, answer, walk, index)
        if hosted_only and walk.degraded and not walk.edge_answers:
            await self._edge_fallback(route, index, policy, walk, threshold)
        if not walk.edge_answers and walk.degraded and walk.domain_answer is not None:
            walk.edge_answers.append(walk.domain_answer)  # the domain model's out-of-scope answer
            walk.edge_targets.append(route.domain_model or "")
        if walk.edge_answers:
            return self._keep_best(req, route, walk, index, hosted_failure)
        raise self._no_answer(walk)

    def _reserve(self, est: CandidateEstimate, walk: TextWalk) -> tuple[str, str] | None:
        """None when `est` fits the time and money left (its estimated cost now reserved in the
        budget); else why not, as (category, message)."""
        remaining_ms = (walk.deadline - self._clock()) * 1000.0
        misfit = does_not_fit(est, remaining_ms, walk.budget.remaining())
        if misfit is None and not walk.budget.reserve(est.est_cost_usd):
            left = walk.budget.remaining() or 0.0
            misfit = (COST_BUDGET, f"est. cost ${est.est_cost_usd:.6f} > remaining ${max(left, 0.0):.6f}")
        if misfit is not None and misfit[0] == COST_BUDGET and walk.budget.imposed:
            misfit = (misfit[0], f"{misfit[1]} ({walk.budget.what})")
        return misfit

    async def _ask(
        self, cand: Candidate, chosen: Any, walk: TextWalk, reserved: float = 0.0
    ) -> TargetAnswer | None:
        """Call `cand`; when an edge candidate fails, its sibling replicas get the text."""
        answer = await self.calls.attempt(cand, chosen, walk, reserved)
        if answer is None and cand.tier == "edge":
            retries = self.core.policy.router.edge_retries
            answer = await self.calls.try_siblings(cand, chosen, walk, retries, reserved)
        return answer

    async def _detect_domain(
        self, route: RouteConfig, index: FleetIndex, walk: TextWalk
    ) -> tuple[bool, TargetAnswer | None]:
        """Detect the domain with the route's domain model. Returns (hosted_only, final):
        hosted_only when the text should go straight to the hosted fallback (out of scope or
        unsure); final when the domain model's confident out-of-scope answer is the answer
        (route.edge_oos_final_confidence)."""
        cand = Candidate(route.domain_model or "", "edge")
        est = self.core.targets.estimate(cand, index, self.core.policy, "classify", walk.text, [])
        if est.unavailable is not None:
            walk.steps.append(Step(cand.target, "skip", f"domain detection: {est.unavailable}", 0.0))
            return False, None
        answer = await self._ask(cand, est.choice, walk)  # an edge call: the walk's labels go unused
        if answer is None:
            return False, None
        if oos_is_final(route, answer):
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

    async def _edge_fallback(
        self, route: RouteConfig, index: FleetIndex, policy: Policy, walk: TextWalk, threshold: float
    ) -> None:
        """The text was for the hosted tier only (domain detection escalated) but it could not
        answer: ask the edge candidates after all, into ``walk.edge_answers`` (degraded answers),
        until one is good enough."""
        for est in self.core.plan(
            route, index, policy, walk.task, walk.text, walk.labels, walk.domain or None
        ):
            cand = est.candidate
            remaining_ms = (walk.deadline - self._clock()) * 1000.0
            if cand.tier != "edge" or does_not_fit(est, remaining_ms, walk.budget.remaining()) is not None:
                continue
            if not walk.budget.reserve(est.est_cost_usd):
                continue
            answer = await self._ask(cand, est.choice, walk, est.est_cost_usd)
            if answer is None:
                continue
            walk.edge_answers.append(answer)
            walk.edge_targets.append(cand.target)
            if escalation_reason(answer.label, answer.confidence, threshold, route.escalate_labels) is None:
                return

    def _keep_best(
        self, req: InferInput, route: RouteConfig, walk: TextWalk, index: FleetIndex, why: str
    ) -> Result:
        """The most confident edge answer, kept because nothing better answered (`why`: the hosted
        tier's failure, "" when the candidates just ran out); degraded when the route has a hosted
        fallback that could not answer."""
        k = max(range(len(walk.edge_answers)), key=lambda i: walk.edge_answers[i].confidence)
        best, target = walk.edge_answers[k], walk.edge_targets[k]
        kept = f"{why or 'no candidate left'}, kept edge answer with confidence {best.confidence:.2f}"
        walk.steps.append(Step(target, "ok", kept, 0.0))
        degraded = walk.degraded if route.fallback is not None else ""
        return self._finish(req, route, target, best, walk, index, add_step=False, degraded=degraded)

    def _finish(
        self,
        req: InferInput,
        route: RouteConfig,
        target: str,
        answer: TargetAnswer,
        walk: TextWalk,
        index: FleetIndex,
        add_step: bool = True,
        degraded: str = "",
    ) -> Result:
        """The text's Result from `target`'s answer, booked (:meth:`TextCore.book_text`)."""
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
        self.core.book_text(req, route, result, walk, index)
        return result

    def _no_answer(self, walk: TextWalk) -> Exception:
        """The error when no candidate answered."""
        summary = "; ".join(f"{s.target}: {s.outcome} ({s.reason})" for s in walk.steps) or "no candidates"
        if COST_BUDGET in walk.escalations and walk.budget.imposed:
            return LimitExceeded(f"no target fits {walk.budget.what}: {summary}")
        if walk.deadline <= self._clock():
            return DeadlineExceeded(f"latency budget exhausted before any target answered: {summary}")
        return Unavailable(f"no target could answer: {summary}")
