"""The state of one generation through the router and the reading of one target's stream.

:class:`GenerateRun` holds a request's budgets, its route trace, what it has spent and what the
client has seen so far (characters since the last retraction, when the first text went out).
:func:`read_stream` reads one target's chunks within its deadlines (first token, whole answer)
into an :class:`Attempt`, forwarding the text to the client as it comes when asked to; the
target's failures end up in the attempt, never as exceptions.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, field

from edgefleet.escalation_features import AnswerSignals
from edgefleet.extractive import ExtractivePlan
from edgefleet.generation import ChatMessage, GenerationChunk, GenerationSummary, SamplingParams
from edgefleet.kserve_retrieval import Retrieved
from edgefleet.policy.schema import RouteConfig
from edgefleet.tokens import estimate_tokens
from router.accounting import EdgeDraft
from router.budget import CostBudget
from router.domain import (
    ERROR,
    FIRST_TOKEN_TIMEOUT,
    LATENCY_BUDGET,
    QUEUE_FULL,
    Citation,
    GenerateFinal,
    GenerateInput,
    Retraction,
    ServedBy,
    Step,
    TextDelta,
)
from router.errors import RouterError, TargetBusy, TargetError
from router.tracing import NO_TRACE, Trace


@dataclass
class Attempt:
    """What one target did with a generation request."""

    target: str
    started: float
    summary: GenerationSummary = field(default_factory=GenerationSummary)
    first_token_at: float | None = None
    ended: float = 0.0
    failure: str | None = None  # escalation reason when it failed (ERROR, QUEUE_FULL, ...)
    message: str = ""
    rate_limited: bool = False  # it failed because a hosted endpoint is rate limited (HTTP 429)
    streamed: int = 0  # characters forwarded to the client

    @property
    def ms(self) -> float:
        """Wall time of the attempt."""
        return max(self.ended - self.started, 0.0) * 1000.0

    @property
    def first_token_ms(self) -> float | None:
        """Time from the call to the target's first token."""
        return None if self.first_token_at is None else (self.first_token_at - self.started) * 1000.0

    @property
    def timed_out(self) -> bool:
        """True when the attempt ended at one of the router's deadlines."""
        return self.failure in (LATENCY_BUDGET, FIRST_TOKEN_TIMEOUT)

    def fail(self, reason: str, message: str) -> None:
        """Record why the attempt failed."""
        self.failure, self.message = reason, message


@dataclass(frozen=True)
class KeptAnswer:
    """An edge answer under the confidence threshold, kept in case nothing better comes."""

    target: str
    served_by: ServedBy
    attempt: Attempt
    confidence: float


@dataclass
class GenerateRun:
    """Mutable state of one generation request."""

    req: GenerateInput
    route: RouteConfig
    params: SamplingParams
    start: float
    deadline: float
    threshold: float
    prompt_tokens: int
    immediate: bool  # edge text is forwarded before it is judged
    clock: Callable[[], float]
    steps: list[Step] = field(default_factory=list)
    escalations: list[str] = field(default_factory=list)
    drafts: list[EdgeDraft] = field(default_factory=list)
    kept: list[KeptAnswer] = field(default_factory=list)
    spent: float = 0.0
    sent: int = 0  # characters the client holds (since the last retraction)
    first_sent_at: float | None = None
    retractions: int = 0
    hosted_failure: str = ""
    degraded: str = ""  # why the hosted fallback could not answer (router.offline), "" when it could
    final: GenerateFinal | None = None
    trace: Trace = NO_TRACE
    edge_messages: tuple[ChatMessage, ...] | None = None  # with retrieved passages (None: as requested)
    hosted_messages: tuple[ChatMessage, ...] | None = None
    citations: tuple[Citation, ...] = ()
    budget: CostBudget | None = None  # the request's money (shared with the caller's key budgets)
    edge_params: SamplingParams | None = None  # extractive answering: grammar, raw prompt (None: params)
    retrieved: Retrieved | None = None  # what the retriever returned (scores, query embedding)
    extractive: ExtractivePlan | None = None
    policy_p_good: float | None = None  # the escalation policy's p(good edge answer), when asked
    policy_hosted: bool = False  # the policy sent the request straight to the hosted model
    edge_signals: AnswerSignals | None = None  # log-probabilities and groundedness of the edge answer

    def charge(self, amount: float) -> None:
        """An attempt cost `amount` (counted in the request's budget too)."""
        self.spent += amount
        if self.budget is not None:
            self.budget.settle(0.0, amount)

    def sampling(self, tier: str) -> SamplingParams:
        """The sampling settings a model of `tier` is sent."""
        return self.edge_params if tier == "edge" and self.edge_params is not None else self.params

    def messages(self, tier: str) -> tuple[ChatMessage, ...]:
        """The conversation a model of `tier` ("edge"/"hosted") is sent: with the retrieved
        passages when the route put them in for that tier, else as requested."""
        chosen = self.edge_messages if tier == "edge" else self.hosted_messages
        return chosen if chosen is not None else self.req.messages

    def remaining_ms(self) -> float:
        """Time left of the latency budget."""
        return (self.deadline - self.clock()) * 1000.0

    def remaining_cost(self) -> float | None:
        """Money left of the cost budget (None: no limit)."""
        if self.budget is not None:
            return self.budget.remaining()
        limit = self.req.constraints.max_cost_usd
        return None if limit is None else limit - self.spent

    def delta(self, text: str) -> TextDelta:
        """The event sending `text` to the client (counted as sent)."""
        if self.first_sent_at is None:
            self.first_sent_at = self.clock()
        self.sent += len(text)
        return TextDelta(text)

    def retract(self, reason: str) -> Retraction | None:
        """The event withdrawing everything the client holds; None when it holds nothing."""
        if self.sent == 0:
            return None
        event = Retraction(self.sent, reason)
        self.sent = 0
        self.retractions += 1
        return event

    def skip(self, target: str, reason: str, message: str) -> None:
        """A candidate not tried: a trace step and an escalation reason."""
        self.steps.append(Step(target, "skip", message, 0.0))
        self.escalations.append(reason)

    def time_to_first_token_ms(self) -> float:
        """Request start to the first text the client received (0 when none)."""
        return 0.0 if self.first_sent_at is None else (self.first_sent_at - self.start) * 1000.0

    def finish(self, served: ServedBy, summary: GenerationSummary, confidence: float) -> GenerateFinal:
        """The final event for the answer in `summary` (token counts estimated when not reported)."""
        self.final = GenerateFinal(
            request_id=self.req.request_id,
            text=summary.text,
            served_by=served,
            prompt_tokens=summary.prompt_tokens or self.prompt_tokens,
            completion_tokens=summary.completion_tokens or estimate_tokens(summary.text),
            cost_usd=self.spent,
            confidence=confidence,
            finish_reason=summary.finish_reason or "stop",
            latency_ms=(self.clock() - self.start) * 1000.0,
            time_to_first_token_ms=self.time_to_first_token_ms(),
            trace=tuple(self.steps),
            route=self.route.name,
            domain=self.req.domain or "",
            trace_id=self.trace.trace_id,
            citations=self.citations,
        )
        return self.final


async def read_stream(
    stream: AsyncIterator[GenerationChunk],
    attempt: Attempt,
    first_token_by: float,
    done_by: float,
    clock: Callable[[], float],
    forward: Callable[[str], TextDelta] | None = None,
) -> AsyncGenerator[TextDelta, None]:
    """Read `stream` into `attempt` until its final chunk, the first-token deadline
    (`first_token_by`) or the answer deadline (`done_by`), on `clock`. With `forward`, every
    chunk's text is yielded as the event it returns. On any exit (final chunk, deadline, failure,
    the caller closing this generator or being cancelled) the target's stream is closed, which
    cancels its RPC."""
    iterator = aiter(stream)
    try:
        while True:
            waiting = attempt.first_token_at is None
            limit = first_token_by if waiting else done_by
            try:
                async with asyncio.timeout(max(limit - clock(), 0.0)):
                    chunk = await anext(iterator)
            except TimeoutError:
                if waiting and first_token_by < done_by:
                    ms = (first_token_by - attempt.started) * 1000.0
                    attempt.fail(FIRST_TOKEN_TIMEOUT, f"no first token within {ms:.0f} ms")
                else:
                    ms = (done_by - attempt.started) * 1000.0
                    attempt.fail(LATENCY_BUDGET, f"answer not complete within {ms:.0f} ms")
                return
            except StopAsyncIteration:
                attempt.fail(ERROR, "the stream ended without a final chunk")
                return
            except TargetBusy as exc:
                attempt.fail(QUEUE_FULL, str(exc))
                return
            except TargetError as exc:
                attempt.fail(LATENCY_BUDGET if exc.timeout else ERROR, str(exc))
                attempt.rate_limited = exc.rate_limited
                return
            except RouterError:
                raise
            except Exception as exc:  # noqa: BLE001 -- a bug or library error: escalate, never crash
                attempt.fail(ERROR, f"{type(exc).__name__}: {exc}")
                return
            if waiting and (chunk.text or chunk.logprobs):
                attempt.first_token_at = clock()
            attempt.summary.add(chunk)
            if forward is not None and chunk.text:
                attempt.streamed += len(chunk.text)
                yield forward(chunk.text)
            if chunk.final:
                if chunk.finish_reason in ("error", "cancelled"):
                    attempt.fail(ERROR, f"the answer ended with finish_reason {chunk.finish_reason!r}")
                return
    finally:
        attempt.ended = clock()
        close = getattr(iterator, "aclose", None)
        if close is not None:
            await close()
