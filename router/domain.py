"""Plain domain objects of the router: requests, answers, trace steps, and the
interfaces of the two kinds of targets (edge replicas and hosted endpoints).

No grpc, no Ray: the servicer translates protos to these objects and back, the
engine works only with these.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

from edgefleet.generation import ChatMessage, GenerationChunk, SamplingParams
from edgefleet.kserve_retrieval import Retrieved

if TYPE_CHECKING:
    from router.tracing import Trace

TierName = Literal["edge", "hosted"]
Outcome = Literal["ok", "escalate", "skip", "error", "timeout"]

# Escalation reasons counted by the accounting (and the dashboard).
LOW_CONFIDENCE = "low_confidence"
OUT_OF_SCOPE = "out_of_scope"
LATENCY_BUDGET = "latency_budget"
COST_BUDGET = "cost_budget"
ERROR = "error"
# ... and those only generation has
QUEUE_FULL = "queue_full"  # the replica answered RESOURCE_EXHAUSTED
FIRST_TOKEN_TIMEOUT = "first_token_timeout"  # no first token within max_time_to_first_token_ms
PROMPT_TOO_LONG = "prompt_too_long"  # the prompt does not fit the edge model's context window


@dataclass(frozen=True)
class Constraints:
    """Caller limits for one request; None means no limit / the route default."""

    max_latency_ms: float | None = None
    max_cost_usd: float | None = None
    min_confidence: float | None = None


@dataclass(frozen=True)
class InferInput:
    """One validated request: one or more texts of one task."""

    request_id: str
    task: str
    texts: tuple[str, ...]
    domain: str | None = None
    route: str | None = None
    constraints: Constraints = field(default_factory=Constraints)
    trace: Trace | None = field(default=None, compare=False, repr=False)  # when tracing is on
    key_id: str = ""  # the caller's API key id (never the key): its budgets, its ledger rows


@dataclass(frozen=True)
class Step:
    """One step of a route decision (see TraceStep in common.proto)."""

    target: str
    outcome: Outcome
    reason: str
    ms: float


@dataclass(frozen=True)
class ServedBy:
    """The model instance that produced an answer."""

    model: str
    version: str
    replica: str
    node: str
    device: str
    tier: TierName
    stand_in: bool = False


@dataclass(frozen=True)
class TargetAnswer:
    """What one target said about one text."""

    label: str | None
    scores: tuple[tuple[str, float], ...]
    confidence: float
    embedding: tuple[float, ...] | None
    served_by: ServedBy
    cost_usd: float
    latency_ms: float


@dataclass(frozen=True)
class Result:
    """The final answer for one text, with why."""

    label: str | None
    scores: tuple[tuple[str, float], ...]
    embedding: tuple[float, ...] | None
    confidence: float
    served_by: ServedBy
    cost_usd: float
    latency_ms: float
    trace: tuple[Step, ...]
    domain: str
    route: str
    trace_id: str = ""  # the OpenTelemetry trace id (hex) when the request was traced
    degraded: bool = False  # an edge answer kept because the hosted fallback could not answer
    degraded_reason: str = ""  # why (router.offline: hosted_unavailable, hosted_timeout, ...)


@dataclass(frozen=True)
class InferOutput:
    """The answer to one request: one Result per input text, in input order."""

    request_id: str
    results: tuple[Result, ...]
    cost_usd: float
    latency_ms: float


@dataclass(frozen=True)
class EdgeOutput:
    """One text's output from a KServe v2 replica."""

    label: str | None
    probs: tuple[float, ...] | None
    embedding: tuple[float, ...] | None
    device: str = ""
    node: str = ""
    replica: str = ""
    queue_ms: float = 0.0


class EdgeCaller(Protocol):
    """Calls one KServe v2 replica (router.edge_client.EdgeClient, or a fake in tests)."""

    async def infer(
        self,
        address: str,
        model: str,
        version: str,
        texts: Sequence[str],
        task: str,
        timeout_s: float,
        *,
        metadata: Sequence[tuple[str, str]] | None = None,
    ) -> list[EdgeOutput]:
        """Outputs for `texts`, in order; raises router.errors.TargetError on failure. `metadata`
        (gRPC metadata, e.g. the W3C ``traceparent``) is only passed when there is some."""
        ...

    async def aclose(self) -> None:
        """Close pooled channels."""
        ...


class HostedAnswerLike(Protocol):
    """The fields of router.hosted.HostedAnswer the router reads."""

    label: str | None
    confidence: float
    embedding: list[float] | None
    input_tokens: int
    output_tokens: int
    latency_ms: float
    model: str
    stand_in: bool


class HostedCaller(Protocol):
    """The router.hosted.HostedClient interface (one per hosted endpoint)."""

    @property
    def circuit_state(self) -> str:
        """ "closed" | "open" | "half-open"."""
        ...

    async def classify(
        self, text: str, labels: Sequence[str], timeout_s: float, *, headers: Mapping[str, str] | None = None
    ) -> HostedAnswerLike:
        """Classify one text among `labels`; raises TargetError on failure. `headers` (extra HTTP
        headers, e.g. the W3C ``traceparent``) is only passed when there are some."""
        ...

    async def embed(
        self, texts: Sequence[str], timeout_s: float, *, headers: Mapping[str, str] | None = None
    ) -> Sequence[HostedAnswerLike]:
        """Embed texts; raises TargetError on failure."""
        ...


# -- generation ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class GenerateConstraints:
    """Caller limits for one generation; None means no limit / the route default."""

    max_time_to_first_token_ms: float | None = None
    max_latency_ms: float | None = None
    max_cost_usd: float | None = None
    min_confidence: float | None = None


@dataclass(frozen=True)
class GenerateInput:
    """One validated generation request."""

    request_id: str
    messages: tuple[ChatMessage, ...]
    params: SamplingParams
    route: str | None = None
    domain: str | None = None
    constraints: GenerateConstraints = field(default_factory=GenerateConstraints)
    allow_retraction: bool = False  # the client can handle Retraction events (see Retraction)
    trace: Trace | None = field(default=None, compare=False, repr=False)  # when tracing is on
    key_id: str = ""  # the caller's API key id (never the key): its budgets, its ledger rows


@dataclass(frozen=True)
class TextDelta:
    """New answer text for the client."""

    text: str


@dataclass(frozen=True)
class Retraction:
    """The text streamed so far (``chars`` characters) is withdrawn; an answer from another target
    follows. Sent only by routes that stream edge text before judging it."""

    chars: int
    reason: str


@dataclass(frozen=True)
class Citation:
    """A passage that was put into the prompt: its number in the prompt ([n]), where it comes from
    and its retrieval score."""

    index: int
    collection: str
    version: str
    doc: str
    chunk: int
    title: str
    score: float


@dataclass(frozen=True)
class GenerateFinal:
    """The end of a generation: who answered, what it cost, how sure it was, and why."""

    request_id: str
    text: str
    served_by: ServedBy
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    confidence: float
    finish_reason: str
    latency_ms: float
    time_to_first_token_ms: float
    trace: tuple[Step, ...]
    route: str
    domain: str = ""
    trace_id: str = ""  # the OpenTelemetry trace id (hex) when the request was traced
    citations: tuple[Citation, ...] = ()  # the passages in the prompt (routes with retrieval)
    degraded: bool = False  # an edge answer kept because the hosted fallback could not answer
    degraded_reason: str = ""  # why (router.offline: hosted_unavailable, hosted_timeout, ...)


GenerateEvent = TextDelta | Retraction | GenerateFinal


class EdgeGenerator(Protocol):
    """Streams a generation from one edge LLM replica (KServe v2 ``ModelStreamInfer``,
    router.edge_client, or a fake in tests). Cancelling the iteration cancels the generation on the
    replica."""

    def generate(
        self,
        address: str,
        model: str,
        version: str,
        messages: Sequence[ChatMessage],
        params: SamplingParams,
        timeout_s: float,
        *,
        metadata: Sequence[tuple[str, str]] | None = None,
    ) -> AsyncIterator[GenerationChunk]:
        """The answer's chunks, the last one ``final``; raises router.errors.TargetError on failure.
        `metadata` (gRPC metadata, e.g. ``traceparent``) is only passed when there is some."""
        ...


class EdgeRetriever(Protocol):
    """Asks one retriever replica for passages (KServe v2 ``ModelInfer`` per
    edgefleet.kserve_retrieval: router.edge_client, or a fake in tests)."""

    async def retrieve(
        self, address: str, model: str, version: str, queries: Sequence[str], top_k: int, timeout_s: float
    ) -> list[Retrieved]:
        """Each query's passages, best first; raises router.errors.TargetError on failure."""
        ...


class HostedGenerator(Protocol):
    """The generation side of router.hosted.HostedClient (OpenAI chat completions, streamed)."""

    @property
    def circuit_state(self) -> str:
        """ "closed" | "open" | "half-open"."""
        ...

    def chat_stream(
        self,
        messages: Sequence[ChatMessage],
        params: SamplingParams,
        timeout_s: float,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[GenerationChunk]:
        """The answer's chunks (the last one ``final``, with token usage); raises TargetError on
        failure, also mid-stream (with the text received so far in its message)."""
        ...
