"""Calling the candidates of one text (classify or embed): the walk state the calls record into
(:class:`TextWalk`), one traced call per candidate, and sibling replicas after a failed edge call
(:mod:`router.siblings`). The walk itself (which candidate next, escalation, the result) is
:mod:`router.text_route`."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from router.budget import CostBudget
from router.choose import Candidate
from router.domain import ERROR, Step, TargetAnswer
from router.errors import RouterError, TargetError
from router.estimates import Estimates
from router.offline import failure_reason
from router.siblings import pick_sibling, worth_a_sibling
from router.targets import TargetCaller
from router.tracing import NO_TRACE, Trace


@dataclass
class TextWalk:
    """Mutable state of routing one text: the text (its task, and the labels a hosted
    classifier chooses from), its deadline and budget, and what the walk has seen so far."""

    task: str
    text: str
    labels: Sequence[str]
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


class TextCalls:
    """Calls one candidate for one text and records the outcome in its :class:`TextWalk`."""

    def __init__(
        self, targets: TargetCaller, estimates: Estimates, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self.targets = targets
        self.estimates = estimates
        self._clock = clock

    async def attempt(
        self, cand: Candidate, chosen: Any, walk: TextWalk, reserved: float = 0.0
    ) -> TargetAnswer | None:
        """Call one candidate (`reserved`: its estimated cost, reserved in the request's budget and
        settled here); failures become an error/timeout step and None. Traced requests get an
        ``edge_call``/``hosted_call`` span whose ``traceparent`` goes to the target."""
        trace = walk.trace
        if not trace.enabled:
            return await self._call(cand, chosen, walk, None, reserved)
        attributes = {"edgefleet.target": cand.target, "edgefleet.tier": cand.tier}
        with trace.step(f"{cand.tier}_call", attributes) as span:
            answer = await self._call(cand, chosen, walk, trace.headers(span), reserved)
            if span is not None:
                span.set_attribute(
                    "edgefleet.outcome", "ok" if answer is not None else walk.steps[-1].outcome
                )
            return answer

    async def try_siblings(
        self, cand: Candidate, chosen: Any, walk: TextWalk, retries: int, reserved: float = 0.0
    ) -> TargetAnswer | None:
        """After a failed edge call: other replicas of the deployment (router.siblings), at most
        `retries` (``router.edge_retries``); the first answer, or None (the failure stays an
        escalation)."""
        dep, replica = chosen
        tried = {replica.replica_id}
        for _ in range(retries):
            if not worth_a_sibling(walk.steps[-1].outcome) or walk.deadline <= self._clock():
                return None
            sibling = pick_sibling(dep, tried, self.estimates, self.targets.rng)
            if sibling is None:
                return None
            if not walk.budget.reserve(reserved):  # the failed call's reservation ended with it
                return None
            tried.add(sibling.replica_id)
            walk.escalations.pop()  # not escalated (yet): a sibling gets the text
            answer = await self.attempt(cand, (dep, sibling), walk, reserved)
            if answer is not None:
                return answer
        return None

    async def _call(
        self, cand: Candidate, chosen: Any, walk: TextWalk, headers: dict[str, str] | None, reserved: float
    ) -> TargetAnswer | None:
        timeout_s = max(walk.deadline - self._clock(), 0.001)
        start = self._clock()
        try:
            if cand.tier == "edge":
                dep, replica = chosen
                answer = await self.targets.call_edge(dep, replica, walk.text, walk.task, timeout_s, headers)
            else:
                answer = await self.targets.call_hosted(
                    cand.name, chosen, walk.text, walk.task, walk.labels, timeout_s, headers
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
