"""Generation through the router: match a ``generate`` route, walk its edge LLM deployments
cheapest first and then its hosted fallback within the latency and cost budgets, judge each edge
answer by its confidence (exp of the mean token log-probability), and stream the answer to the
caller.

A route with ``retrieval`` first asks its retriever deployment for passages and puts them into the
prompt (:mod:`router.generate_retrieval`); the answer then carries their citations.

An edge candidate is escalated from when it fails, its queue is full (RESOURCE_EXHAUSTED), it has
no first token within ``max_time_to_first_token_ms``, it is not done when only the hosted
fallback's expected generation time is left of the budget, the prompt does not fit its context
window, or its answer's confidence is under the threshold. Edge text is held until judged
(``edge_stream: buffered``) or streamed at once with a :class:`Retraction` before the next answer
(``immediate``, for callers that allow retraction). Shares the RouterEngine's fleet index,
estimates, circuit breakers and accounting; each candidate is tried by
:class:`router.generate_targets.GenerateTargets`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, Protocol

from edgefleet.policy.schema import Policy
from edgefleet.tokens import estimate_chat_tokens
from router.accounting import Accounting
from router.budget import KeyGate
from router.choose import CandidateEstimate, match_route, required_confidence
from router.costs import hosted_call_cost
from router.domain import (
    COST_BUDGET,
    ERROR,
    FIRST_TOKEN_TIMEOUT,
    LATENCY_BUDGET,
    QUEUE_FULL,
    EdgeGenerator,
    EdgeRetriever,
    GenerateEvent,
    GenerateFinal,
    GenerateInput,
    Step,
)
from router.drain import Inflight, reserve_s
from router.errors import DeadlineExceeded, LimitExceeded, Overloaded, Unavailable
from router.generate_extractive import FewShotSource
from router.generate_policy import POLICY, PolicyStep
from router.generate_retrieval import RetrievalStep
from router.generate_run import GenerateRun
from router.generate_shadow import ShadowTraffic
from router.generate_targets import GenerateTargets
from router.metrics import RouterMetrics
from router.offline import OfflineState
from router.routing_core import RoutingCore
from router.siblings import pick_sibling, worth_a_sibling
from router.targets import FleetIndex, hosted_down_reason
from router.tracing import NO_TRACE

if TYPE_CHECKING:
    from router.deferred import DeferredEscalations


class GenerateCore(RoutingCore, Protocol):
    """What generation shares with router.engine.RouterEngine."""

    accounting: Accounting
    inflight: int
    metrics: RouterMetrics | None
    gate: KeyGate
    requests: Inflight
    offline: OfflineState
    deferred: DeferredEscalations | None

    async def fleet_index(self) -> FleetIndex:
        """The indexed fleet state."""
        ...


class GenerateEngine:
    """Routes validated generation requests (one per :meth:`generate` call)."""

    def __init__(
        self,
        core: GenerateCore,
        edge: EdgeGenerator | None,
        clock: Callable[[], float] = time.perf_counter,
        retriever: EdgeRetriever | None = None,
        fewshot: FewShotSource | None = None,
    ) -> None:
        self.core = core
        self.targets = GenerateTargets(core.targets, edge, clock)
        self.retrieval = RetrievalStep(core.targets, retriever, clock, fewshot)
        self.policy_step = PolicyStep(core.targets, clock)
        self.shadow = ShadowTraffic(core.targets.hosted, core.accounting.ledger)
        self._clock = clock

    async def generate(
        self, req: GenerateInput, client_timeout_s: float | None = None
    ) -> AsyncGenerator[GenerateEvent, None]:
        """The events of one generation: text deltas, maybe retractions, then the final event.
        Raises a RouterError (before or between events) when no target can answer; closing the
        iteration or cancelling its task cancels the target's stream."""
        core = self.core
        policy = core.policy
        if core.inflight >= policy.router.max_inflight:
            raise Overloaded(
                f"{core.inflight} texts in flight (router.max_inflight={policy.router.max_inflight})"
            )
        budget = core.gate.budget(
            req.key_id, req.constraints.max_cost_usd, policy.router.limits.max_cost_usd_per_request
        )
        core.inflight += 1
        start = self._clock()
        run: GenerateRun | None = None
        cancelled = False
        error: BaseException | None = None
        token = core.requests.add(self._budget_ms(req, policy, client_timeout_s) / 1000.0)
        try:
            index = await core.fleet_index()
            run = self._start(req, policy, start, client_timeout_s)
            run.budget = budget
            if run.route.retrieval is not None:
                await self.retrieval.run(run, policy, index)
                run.prompt_tokens = max(
                    estimate_chat_tokens(m.content for m in run.messages(tier)) for tier in ("edge", "hosted")
                )
            if run.route.escalation_policy is not None:
                await self.policy_step.run(run, policy, index)
            async with aclosing(self._walk(run, policy, index)) as events:
                async for event in events:
                    yield event
        except (asyncio.CancelledError, GeneratorExit) as exc:
            cancelled = True
            error = exc
            raise
        except BaseException as exc:
            error = exc
            raise
        finally:
            core.inflight -= 1
            budget.close(req.request_id, run.route.name if run is not None else "", "generate")
            core.requests.remove(token)
            elapsed = self._clock() - start
            answered = run is not None and run.final is not None
            if answered:
                core.accounting.record_request(elapsed * 1000.0, True)
            elif cancelled:
                core.accounting.record_generate_cancelled()
            else:
                core.accounting.record_request(elapsed * 1000.0, False)
            if core.metrics is not None:
                route = run.route.name if run is not None else ""
                tiers = (run.final.served_by.tier,) if run is not None and run.final is not None else ()
                core.metrics.request(route, "generate", tiers, None if answered else error, elapsed)

    def _start(
        self, req: GenerateInput, policy: Policy, start: float, client_timeout_s: float | None
    ) -> GenerateRun:
        route = match_route(policy.routes, "generate", req.domain, req.route)
        params = req.params
        if route.max_tokens is not None and params.max_tokens > route.max_tokens:
            params = dataclasses.replace(params, max_tokens=route.max_tokens)
        budget_ms = self._budget_ms(req, policy, client_timeout_s)
        reserve = reserve_s(policy.router.response_reserve_ms, budget_ms)  # to get the answer back in time
        return GenerateRun(
            req=req,
            route=route,
            params=params,
            start=start,
            deadline=start + budget_ms / 1000.0 - reserve,
            threshold=required_confidence(route.min_confidence, req.constraints.min_confidence),
            prompt_tokens=estimate_chat_tokens(m.content for m in req.messages),
            immediate=route.edge_stream == "immediate" and req.allow_retraction,
            clock=self._clock,
            trace=req.trace if req.trace is not None else NO_TRACE,
        )

    @staticmethod
    def _budget_ms(req: GenerateInput, policy: Policy, client_timeout_s: float | None) -> float:
        budget_ms = req.constraints.max_latency_ms or policy.router.generate_timeout_ms
        return budget_ms if client_timeout_s is None else min(budget_ms, client_timeout_s * 1000.0)

    async def _walk(
        self, run: GenerateRun, policy: Policy, index: FleetIndex
    ) -> AsyncGenerator[GenerateEvent, None]:
        targets = self.targets
        planned = self.core.plan(run.route, index, policy, "generate", "", (), run.req.domain)
        planned = [targets.hosted_worst_case(run, est) for est in planned]
        reserve_ms = targets.hosted_reserve_ms(run, planned)
        for est in planned:
            if est.candidate.tier == "edge" and run.policy_hosted and self._hosted_up(planned):
                run.skip(est.candidate.target, POLICY, f"escalation policy: p(good) {run.policy_p_good:.2f}")
                continue
            tried = {est.choice[1].replica_id} if est.candidate.tier == "edge" and est.choice else set()
            for retry in range(policy.router.edge_retries + 1 if tried else 1):
                if retry:  # the replica failed: a sibling (router.siblings), not yet an escalation
                    sibling = self._sibling(run, est, tried)
                    if sibling is None:
                        break
                    est = dataclasses.replace(est, choice=(est.choice[0], sibling))
                    run.escalations.pop()
                if est.candidate.tier == "edge":
                    attempt = targets.try_edge(run, est, reserve_ms)
                else:
                    attempt = targets.try_hosted(run, est)
                async with aclosing(attempt) as events:
                    async for event in events:
                        yield event
                if run.final is not None:
                    yield self._account(run, policy)
                    return
        if run.kept:
            best = max(run.kept, key=lambda k: k.confidence)
            why = run.hosted_failure or "no candidate left"
            step = f"{why}, kept edge answer with confidence {best.confidence:.2f}"
            run.steps.append(Step(best.target, "ok", step, 0.0))
            if best.attempt.summary.text:
                yield run.delta(best.attempt.summary.text)
            final = run.finish(best.served_by, best.attempt.summary, best.confidence)
            degraded = run.degraded if run.route.fallback is not None else ""
            run.final = dataclasses.replace(final, degraded=bool(degraded), degraded_reason=degraded)
            yield self._account(run, policy)
            return
        raise self._no_answer(run)

    def _sibling(self, run: GenerateRun, est: CandidateEstimate, tried: set[str]) -> Any | None:
        """Another replica of the failed edge candidate's deployment, when its failure is worth one
        (an error or a full queue, not a deadline) and time is left; None otherwise."""
        last = run.steps[-1] if run.steps else None
        if last is None or last.target != est.candidate.target or not worth_a_sibling(last.outcome):
            return None
        if run.remaining_ms() <= 0:
            return None
        sibling = pick_sibling(est.choice[0], tried, self.core.estimates, self.core.targets.rng)
        if sibling is not None:
            tried.add(sibling.replica_id)
        return sibling

    def _account(self, run: GenerateRun, policy: Policy) -> GenerateFinal:
        """Record the answered generation (and log it when escalated to the hosted tier)."""
        final = run.final
        assert final is not None
        name = run.route.fallback or (policy.hosted[0].name if policy.hosted else None)
        equivalent = 0.0
        if name is not None:
            equivalent = hosted_call_cost(
                policy.hosted_endpoint(name), run.prompt_tokens, final.completion_tokens
            )
        last_user = next((m.content for m in reversed(run.req.messages) if m.role == "user"), "")
        accounting = self.core.accounting
        accounting.record_generation(
            run.req.request_id, last_user, final, equivalent, run.escalations, run.retractions,
            api_key=run.req.key_id,
        )  # fmt: skip
        if run.budget is not None:
            run.budget.recorded_cost(final.cost_usd)
        if run.escalations and final.served_by.tier == "hosted":
            accounting.log_generation(
                run.req.request_id, run.req.messages, final, run.drafts, run.escalations
            )
        if run.route.shadow is not None:
            self.shadow.maybe_shadow(run, policy)
        if final.degraded:
            self.core.offline.record(final.degraded_reason)
            deferred = self.core.deferred
            if run.route.defer_escalations and deferred is not None:
                messages = [{"role": m.role, "content": m.content} for m in run.messages("hosted")]
                drafts = [dataclasses.asdict(d) for d in run.drafts]
                params = dataclasses.asdict(run.params)
                deferred.defer_generate(
                    run.req.request_id, run.route, messages, params, final.domain, drafts,
                    final.degraded_reason,
                )  # fmt: skip
        return final

    def _hosted_up(self, planned: list[CandidateEstimate]) -> bool:
        """True when a hosted candidate is planned and would take a call now: a policy verdict
        never leaves a route without an answer (offline, the edge answers, marked degraded)."""
        hosted = self.core.targets.hosted
        return any(
            est.candidate.tier == "hosted"
            and (client := hosted.get(est.candidate.name)) is not None
            and hosted_down_reason(client) is None
            for est in planned
        )

    def _no_answer(self, run: GenerateRun) -> Exception:
        """The error when no candidate answered."""
        summary = "; ".join(f"{s.target}: {s.outcome} ({s.reason})" for s in run.steps) or "no candidates"
        reasons = set(run.escalations)
        if COST_BUDGET in reasons and run.budget is not None and run.budget.imposed:
            return LimitExceeded(f"no target fits {run.budget.what}: {summary}")
        if QUEUE_FULL in reasons and not reasons & {ERROR, LATENCY_BUDGET, FIRST_TOKEN_TIMEOUT}:
            return Overloaded(f"every edge replica queue is full and no fallback answered: {summary}")
        if self._clock() >= run.deadline or reasons & {LATENCY_BUDGET, FIRST_TOKEN_TIMEOUT}:
            return DeadlineExceeded(f"latency budget exhausted before any target answered: {summary}")
        return Unavailable(f"no target could answer: {summary}")
