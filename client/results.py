"""Typed results of the router's calls (frozen dataclasses) and their conversion from the protos.

Every result keeps the message it came from as ``raw`` (for fields this SDK does not map, or to
print it as JSON). Citations are mapped when the router's protos carry them (a ``citations``
field on ``Result``/``GenerateResult``), as plain dicts of the citation's fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from protos.edgefleet.v1 import common_pb2, fleet_pb2, router_pb2


class Tier(StrEnum):
    """Where an answer came from."""

    UNSPECIFIED = "UNSPECIFIED"
    EDGE = "EDGE"  # a specialist or LLM replica on an edge node
    HOSTED = "HOSTED"  # the hosted model (a real endpoint or the offline stand-in)


@dataclass(frozen=True)
class ServedBy:
    """The model instance that produced an answer."""

    model: str
    version: str
    replica: str  # replica id (edge) or endpoint name (hosted)
    node: str  # node name (edge) or endpoint host (hosted)
    device: str
    tier: Tier
    stand_in: bool  # the hosted tier is the offline stand-in


@dataclass(frozen=True)
class TraceStep:
    """One step of the route decision: what was tried and what came of it."""

    target: str
    outcome: str  # "ok", "escalate", "skip", "error", "timeout"
    reason: str
    ms: float


@dataclass(frozen=True)
class LabelScore:
    """A label and its score."""

    label: str
    score: float


@dataclass(frozen=True)
class InferResult:
    """The answer for one text: a classification (`label`, `scores`) or an `embedding`."""

    label: str | None
    scores: tuple[LabelScore, ...]
    embedding: tuple[float, ...] | None
    confidence: float
    served_by: ServedBy
    cost_usd: float
    latency_ms: float
    trace: tuple[TraceStep, ...]
    domain: str
    route: str
    citations: tuple[dict[str, Any], ...] = ()
    raw: router_pb2.Result | None = field(default=None, repr=False, compare=False)
    degraded: bool = False  # offline mode: the best edge answer, the hosted fallback could not answer
    degraded_reason: str = ""  # hosted_unavailable, hosted_rate_limited, hosted_timeout, latency_budget

    @property
    def escalated(self) -> bool:
        """True when a step of the route escalated (e.g. low confidence at the edge)."""
        return any(step.outcome == "escalate" for step in self.trace)


@dataclass(frozen=True)
class InferResponse:
    """The answer to one Infer call: one result per input text, in input order."""

    request_id: str
    results: tuple[InferResult, ...]
    cost_usd: float
    latency_ms: float
    raw: router_pb2.InferResponse | None = field(default=None, repr=False, compare=False)

    @property
    def result(self) -> InferResult:
        """The result of a one-text call (ValueError when there are several)."""
        if len(self.results) != 1:
            raise ValueError(f"the response has {len(self.results)} results: use .results")
        return self.results[0]


@dataclass(frozen=True)
class TextDelta:
    """Generate: new answer text; append it to the text received so far."""

    text: str


@dataclass(frozen=True)
class Retraction:
    """Generate: discard ALL the text received so far (`chars` code points); another model's
    answer follows. Only sent when the request allowed retraction."""

    chars: int
    reason: str  # e.g. "low_confidence", "error", "first_token_timeout"


@dataclass(frozen=True)
class GenerateResult:
    """Generate's last event: the whole answer, who gave it, what it cost and why."""

    request_id: str
    text: str
    served_by: ServedBy
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    confidence: float
    finish_reason: str  # "stop" or "length"
    latency_ms: float
    time_to_first_token_ms: float
    trace: tuple[TraceStep, ...]
    route: str
    domain: str
    citations: tuple[dict[str, Any], ...] = ()
    raw: router_pb2.GenerateResult | None = field(default=None, repr=False, compare=False)
    degraded: bool = False  # offline mode (see InferResult.degraded)
    degraded_reason: str = ""


GenerateEvent = TextDelta | Retraction | GenerateResult
"""What iterating a generation yields: deltas, maybe a retraction, and the result last."""


@dataclass(frozen=True)
class ActionResult:
    """The outcome of a Fleet action (Scale, Drain, ReloadPolicy): refused actions have ok=False."""

    ok: bool
    message: str
    snapshot_version: int
    raw: fleet_pb2.ActionResult | None = field(default=None, repr=False, compare=False)


_TIERS = {common_pb2.EDGE: Tier.EDGE, common_pb2.HOSTED: Tier.HOSTED}


def served_by(msg: common_pb2.ServedBy) -> ServedBy:
    """ServedBy from its message (an unknown tier number reads as UNSPECIFIED)."""
    tier = _TIERS.get(msg.tier, Tier.UNSPECIFIED)
    return ServedBy(msg.model, msg.version, msg.replica, msg.node, msg.device, tier, msg.stand_in)


def trace(steps: Any) -> tuple[TraceStep, ...]:
    """TraceSteps from a repeated TraceStep field."""
    return tuple(TraceStep(s.target, s.outcome, s.reason, s.ms) for s in steps)


def citations(msg: Message) -> tuple[dict[str, Any], ...]:
    """The message's citations as dicts, when its type has a ``citations`` field (else ())."""
    if "citations" not in msg.DESCRIPTOR.fields_by_name:
        return ()
    items = getattr(msg, "citations", ())
    return tuple(json_format.MessageToDict(c, preserving_proto_field_name=True) for c in items)


def infer_result(msg: router_pb2.Result) -> InferResult:
    """InferResult from a router Result."""
    output = msg.WhichOneof("output")
    label = msg.classification.label if output == "classification" else None
    scores = tuple(LabelScore(s.label, s.score) for s in msg.classification.scores)
    embedding = tuple(msg.embedding.values) if output == "embedding" else None
    return InferResult(
        label=label,
        scores=scores,
        embedding=embedding,
        confidence=msg.confidence,
        served_by=served_by(msg.served_by),
        cost_usd=msg.cost_usd,
        latency_ms=msg.latency_ms,
        trace=trace(msg.trace),
        domain=msg.domain,
        route=msg.route,
        citations=citations(msg),
        raw=msg,
        degraded=msg.degraded,
        degraded_reason=msg.degraded_reason,
    )


def infer_response(msg: router_pb2.InferResponse) -> InferResponse:
    """InferResponse from the router's message."""
    results = tuple(infer_result(r) for r in msg.results)
    return InferResponse(msg.request_id, results, msg.cost_usd, msg.latency_ms, raw=msg)


def generate_event(msg: router_pb2.GenerateResponse) -> GenerateEvent | None:
    """The event a GenerateResponse carries (None for an empty one, which clients skip)."""
    kind = msg.WhichOneof("event")
    if kind == "delta":
        return TextDelta(msg.delta.text)
    if kind == "retraction":
        return Retraction(msg.retraction.chars, msg.retraction.reason)
    if kind == "final":
        f = msg.final
        return GenerateResult(
            request_id=msg.request_id,
            text=f.text,
            served_by=served_by(f.served_by),
            prompt_tokens=f.prompt_tokens,
            completion_tokens=f.completion_tokens,
            cost_usd=f.cost_usd,
            confidence=f.confidence,
            finish_reason=f.finish_reason,
            latency_ms=f.latency_ms,
            time_to_first_token_ms=f.time_to_first_token_ms,
            trace=trace(f.trace),
            route=f.route,
            domain=f.domain,
            citations=citations(f),
            raw=f,
            degraded=f.degraded,
            degraded_reason=f.degraded_reason,
        )
    return None


def action_result(msg: fleet_pb2.ActionResult) -> ActionResult:
    """ActionResult from the Fleet service's message."""
    return ActionResult(msg.ok, msg.message, msg.snapshot_version, raw=msg)
