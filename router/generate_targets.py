"""One candidate of a generation: the checks before calling it (availability, cost budget with a
hosted fallback's worst case, context window, time left) and the call itself, an edge LLM replica
or a hosted endpoint, its stream read within the deadlines and its answer judged.

Each ``try_*`` is an async generator of the events the client gets during the attempt (edge text
in ``immediate`` mode and hosted text as it comes, a retraction when escalating after text went
out); the outcome is left in the :class:`GenerateRun` (a trace step, an escalation reason, maybe
the final answer).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from typing import Any, cast

from edgefleet.escalation_features import answer_signals
from edgefleet.extractive import clean_answer
from edgefleet.tokens import estimate_tokens
from router.accounting import EdgeDraft
from router.choose import CandidateEstimate, does_not_fit
from router.costs import hosted_call_cost
from router.domain import (
    COST_BUDGET,
    ERROR,
    LATENCY_BUDGET,
    LOW_CONFIDENCE,
    PROMPT_TOO_LONG,
    QUEUE_FULL,
    EdgeGenerator,
    GenerateEvent,
    HostedGenerator,
    Outcome,
    ServedBy,
    Step,
)
from router.errors import DeadlineExceeded, TargetError, Unavailable
from router.generate_run import Attempt, GenerateRun, KeptAnswer, read_stream
from router.hosted.endpoint import url_host
from router.offline import failure_reason, skip_reason
from router.targets import TargetCaller, replica_version

ENDPOINT_FIRST_S = 0.02  # a hosted stream's own timeout fires this long before the router's


class GenerateTargets:
    """Tries the candidates of generations: edge LLM replicas through `edge`, hosted endpoints
    through their ``chat_stream``; keeps the shared estimates and circuit breakers up to date."""

    def __init__(
        self,
        targets: TargetCaller,
        edge: EdgeGenerator | None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.hosted = targets.hosted
        self.estimates = targets.estimates
        self.rollouts = targets.rollouts
        self.edge = edge
        self._clock = clock

    def hosted_worst_case(self, run: GenerateRun, est: CandidateEstimate) -> CandidateEstimate:
        """A hosted candidate's cost estimate: the worst case, prompt and max_tokens at its prices."""
        if est.candidate.tier != "hosted" or est.choice is None:
            return est
        worst = hosted_call_cost(est.choice, run.prompt_tokens, run.params.max_tokens)
        key = f"{est.candidate.target}:generate"  # generation times, apart from classification's
        return dataclasses.replace(
            est, est_cost_usd=worst, est_latency_ms=self.estimates.estimate_ms(key, hosted=True)
        )

    def hosted_reserve_ms(self, run: GenerateRun, planned: list[CandidateEstimate]) -> float:
        """The time edge candidates leave for the hosted fallback: its expected generation time,
        when there is one that could be used."""
        for est in planned:
            if est.candidate.tier == "hosted" and self.hosted_misfit(run, est) is None:
                return est.est_latency_ms
        return 0.0

    def edge_misfit(
        self, run: GenerateRun, est: CandidateEstimate, reserve_ms: float
    ) -> tuple[str, str] | None:
        """(escalation reason, message) when the edge candidate cannot be tried now: unavailable
        (no ready replica, queues full), not a generative deployment, prompt longer than its
        context window, over the cost budget, or no time left once `reserve_ms` is kept for the
        hosted fallback; None when it can."""
        if self.edge is None:
            return (ERROR, "no edge generation client configured")
        misfit = does_not_fit(est, None, run.remaining_cost())
        if misfit is not None:
            reason, message = misfit
            if reason == "unavailable":  # TargetCaller.estimate's words for full replica queues
                reason = QUEUE_FULL if message.startswith("replica queues full") else ERROR
            return (reason, message)
        dep = est.choice[0]
        if dep.task and dep.task != "generate":
            return (ERROR, f"deployment {dep.name!r} serves task {dep.task!r}, not 'generate'")
        if dep.context_length and run.prompt_tokens > dep.context_length:
            return (
                PROMPT_TOO_LONG,
                f"prompt of ~{run.prompt_tokens} tokens > context window of {dep.context_length}",
            )
        left_ms = run.remaining_ms()
        if left_ms - reserve_ms <= 0:
            return (
                LATENCY_BUDGET,
                f"{max(left_ms, 0.0):.0f} ms left, {reserve_ms:.0f} ms of it kept for the hosted fallback",
            )
        return None

    async def try_edge(
        self, run: GenerateRun, est: CandidateEstimate, reserve_ms: float
    ) -> AsyncGenerator[GenerateEvent, None]:
        """Generate on the edge candidate's replica (picked by power of two choices in the
        estimate), within the first-token limit and the budget minus `reserve_ms`; judge the
        answer by its confidence. Yields its text at once in ``immediate`` mode (and a retraction
        when escalating after it), else the whole text once the answer is judged good."""
        cand = est.candidate
        misfit = self.edge_misfit(run, est, reserve_ms)
        if misfit is not None:
            run.skip(cand.target, *misfit)
            return
        assert self.edge is not None
        dep, replica = est.choice
        now = self._clock()
        done_by = run.deadline - reserve_ms / 1000.0
        ttft_ms = run.req.constraints.max_time_to_first_token_ms
        first_by = done_by if ttft_ms is None else min(done_by, now + ttft_ms / 1000.0)
        attempt = Attempt(cand.target, now)
        with run.trace.step("edge_call", _attributes(run, cand.target, "edge")) as span:
            version = replica_version(dep, replica)
            messages, params = run.messages("edge"), run.sampling("edge")
            args = (replica.address, dep.model, version, messages, params, done_by - now)
            headers = run.trace.headers(span)
            if headers:
                stream = self.edge.generate(*args, metadata=tuple(headers.items()))
            else:
                stream = self.edge.generate(*args)
            forward = run.delta if run.immediate else None
            reading = self._read(replica.replica_id, stream, attempt, first_by, done_by, forward)
            async with aclosing(reading) as events:
                async for event in events:
                    yield event
            _settle(span, attempt)
        self.rollouts.observe(dep, version, attempt.failure is None, attempt.ms)
        served = ServedBy(
            dep.model,
            replica_version(dep, replica),
            replica.replica_id,
            replica.node_name,
            replica.device,
            "edge",
        )
        if attempt.failure is not None:
            outcome: Outcome = "timeout" if attempt.timed_out else "error"
            run.steps.append(Step(cand.target, outcome, attempt.message, attempt.ms))
            run.escalations.append(attempt.failure)
            if (retraction := run.retract(attempt.failure)) is not None:
                yield retraction
            return
        summary = attempt.summary
        if run.extractive is not None:  # the span without the newline that ends it
            summary.text = clean_answer(summary.text)
        run.charge(dep.price_per_call_usd)
        confidence = summary.confidence()
        detail = f"{summary.completion_tokens} tokens, first token {attempt.first_token_ms or 0.0:.0f} ms"
        if run.retrieved is not None:  # signals after generating: log-probabilities, groundedness
            signals = answer_signals(summary.text, summary.logprobs, [p.text for p in run.retrieved.passages])
            run.edge_signals = signals
            lps = (
                f"mean lp {signals.mean_logprob:.2f}, min lp {signals.min_logprob:.2f}, "
                if signals.min_logprob is not None
                else ""
            )
            detail += f", {lps}grounded {signals.grounded:.2f}"
        if confidence < run.threshold:
            reason = f"confidence {confidence:.2f} < {run.threshold:.2f} ({detail})"
            run.steps.append(Step(cand.target, "escalate", reason, attempt.ms))
            run.escalations.append(LOW_CONFIDENCE)
            if run.trace.enabled:
                run.trace.mark(
                    "escalate", {"edgefleet.target": cand.target, "edgefleet.reason": LOW_CONFIDENCE}
                )
            run.drafts.append(EdgeDraft(dep.model, summary.text, confidence, LOW_CONFIDENCE))
            run.kept.append(KeptAnswer(cand.target, served, attempt, confidence))
            if (retraction := run.retract(LOW_CONFIDENCE)) is not None:
                yield retraction
            return
        run.steps.append(Step(cand.target, "ok", f"confidence {confidence:.2f} ({detail})", attempt.ms))
        if not run.immediate and summary.text:
            yield run.delta(summary.text)
        run.finish(served, summary, confidence)

    def hosted_misfit(self, run: GenerateRun, est: CandidateEstimate) -> tuple[str, str] | None:
        """(escalation reason, message) when the hosted candidate cannot be tried: unavailable
        (circuit open, no client, no ``chat_stream``), worst-case cost over the remaining budget,
        or no time left; None when it can."""
        if est.unavailable is not None:
            return (ERROR, est.unavailable)
        client = self.hosted.get(est.candidate.name)
        if getattr(client, "chat_stream", None) is None:
            return (ERROR, "hosted endpoint cannot generate (no chat_stream)")
        remaining = run.remaining_cost()
        if remaining is not None and est.est_cost_usd > remaining + 1e-12:
            return (
                COST_BUDGET,
                f"worst case ${est.est_cost_usd:.6f} (~{run.prompt_tokens} prompt + {run.params.max_tokens} "
                f"max tokens) > remaining ${max(remaining, 0.0):.6f}",
            )
        if run.remaining_ms() <= 0:
            return (LATENCY_BUDGET, "no time left")
        return None

    async def try_hosted(
        self, run: GenerateRun, est: CandidateEstimate
    ) -> AsyncGenerator[GenerateEvent, None]:
        """Generate with the hosted endpoint's ``chat_stream``, its text streamed as it comes.
        A failure after text went out is retracted when the client allows it, else it ends the
        request (Unavailable / DeadlineExceeded): the client cannot be given another answer."""
        cand = est.candidate
        misfit = self.hosted_misfit(run, est)
        if misfit is not None:
            run.skip(cand.target, *misfit)
            run.hosted_failure = f"{cand.target} skipped: {misfit[1]}"
            run.degraded = skip_reason(*misfit)
            return
        client = cast(HostedGenerator, self.hosted[cand.name])
        cfg = est.choice
        now = self._clock()
        attempt = Attempt(cand.target, now)
        with run.trace.step("hosted_call", _attributes(run, cand.target, "hosted")) as span:
            headers = run.trace.headers(span)
            extra = {"headers": headers} if headers else {}
            # the endpoint's own timeout ends first: its breaker then sees the timeout
            timeout_s = max(run.deadline - now - ENDPOINT_FIRST_S, 0.001)
            stream = client.chat_stream(run.messages("hosted"), run.params, timeout_s, **extra)
            reading = self._read(
                f"{cand.target}:generate", stream, attempt, run.deadline, run.deadline, run.delta
            )
            async with aclosing(reading) as events:
                async for event in events:
                    yield event
            _settle(span, attempt)
        summary = attempt.summary
        if attempt.failure is not None:
            outcome: Outcome = "timeout" if attempt.timed_out else "error"
            run.steps.append(Step(cand.target, outcome, attempt.message, attempt.ms))
            run.escalations.append(attempt.failure)
            run.hosted_failure = f"{cand.target} {outcome}: {attempt.message}"
            run.degraded = failure_reason(
                TargetError(attempt.message, timeout=attempt.timed_out, rate_limited=attempt.rate_limited)
            )
            if attempt.streamed:  # billed by the provider: count what was received
                run.charge(hosted_call_cost(cfg, run.prompt_tokens, estimate_tokens(summary.text)))
                retraction = run.retract(attempt.failure) if run.req.allow_retraction else None
                if retraction is None:
                    error = DeadlineExceeded if attempt.timed_out else Unavailable
                    raise error(
                        f"{cand.target} failed after {attempt.streamed} characters: {attempt.message}"
                    )
                yield retraction
            return
        summary.prompt_tokens = summary.prompt_tokens or run.prompt_tokens
        summary.completion_tokens = summary.completion_tokens or estimate_tokens(summary.text)
        run.charge(hosted_call_cost(cfg, summary.prompt_tokens, summary.completion_tokens))
        confidence = summary.confidence()
        detail = f"{summary.completion_tokens} tokens, finish {summary.finish_reason or 'stop'}"
        if summary.source == "replay":
            detail += ", REPLAY of a recorded answer (stand-in)"
        run.steps.append(Step(cand.target, "ok", detail, attempt.ms))
        base_url = getattr(client, "base_url", None) or cfg.base_url or ""
        node = url_host(base_url)
        served = ServedBy(cfg.model, "", cand.name, node, "", "hosted", stand_in=cfg.stand_in is not None)
        run.finish(served, summary, confidence)

    async def _read(
        self,
        key: str,
        stream: AsyncIterator[Any],
        attempt: Attempt,
        first_by: float,
        done_by: float,
        forward: Callable[[str], Any] | None,
    ) -> AsyncGenerator[GenerateEvent, None]:
        """read_stream with the target's estimates and circuit breaker kept up to date: errors
        count against it, the router's own deadlines, a full queue and cancellation do not."""
        estimates = self.estimates
        estimates.begin(key)
        recorded = False
        try:
            async with aclosing(
                read_stream(stream, attempt, first_by, done_by, self._clock, forward)
            ) as deltas:
                async for delta in deltas:
                    yield delta
            if attempt.failure is None or attempt.failure == ERROR:
                estimates.end(key, attempt.ms, attempt.failure is None)
                recorded = True
        finally:
            if not recorded:
                estimates.abandon(key)


def _attributes(run: GenerateRun, target: str, tier: str) -> dict[str, str] | None:
    """A target call span's attributes (None when the request is not traced)."""
    return {"edgefleet.target": target, "edgefleet.tier": tier} if run.trace.enabled else None


def _settle(span: Any, attempt: Attempt) -> None:
    """Record an attempt's outcome on its span (no span: not traced)."""
    if span is None:
        return
    span.set_attribute("edgefleet.outcome", attempt.failure or "ok")
    if attempt.first_token_ms is not None:
        span.set_attribute("edgefleet.first_token_ms", round(attempt.first_token_ms, 3))
