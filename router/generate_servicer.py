"""The Generate rpc's translation: GenerateRequest -> :class:`GenerateInput` (validated by
router.validate), the engine's events -> GenerateResponse messages, router errors -> the gRPC
status that ends the stream. Authentication as for Infer."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncGenerator
from contextlib import aclosing

import grpc

from protos.edgefleet.v1 import router_pb2
from router.auth import ApiKeys
from router.domain import GenerateEvent, GenerateFinal, Retraction, TextDelta
from router.engine import RouterEngine
from router.errors import RouterError
from router.proto_convert import served_by_proto, status_of, steps_proto
from router.tracing import NO_TRACE, Trace, traceparent_of
from router.validate import RawGenerateRequest, validate_generate

log = logging.getLogger(__name__)
GENERATE_SPAN = "edgefleet.v1.Router/Generate"


def raw_generate_request(msg: router_pb2.GenerateRequest) -> RawGenerateRequest:
    """Request fields from the proto (unset optional fields stay None)."""
    c = msg.constraints
    has = msg.HasField("constraints")

    def limit(name: str) -> float | None:
        return float(getattr(c, name)) if has and c.HasField(name) else None

    return RawGenerateRequest(
        request_id=msg.request_id,
        messages=tuple((m.role, m.content) for m in msg.messages),
        max_tokens=msg.max_tokens,
        temperature=msg.temperature if msg.HasField("temperature") else None,
        top_p=msg.top_p if msg.HasField("top_p") else None,
        stop=tuple(msg.stop),
        seed=msg.seed if msg.HasField("seed") else None,
        route=msg.route,
        domain=msg.domain,
        allow_retraction=msg.allow_retraction,
        max_time_to_first_token_ms=limit("max_time_to_first_token_ms"),
        max_latency_ms=limit("max_latency_ms"),
        max_cost_usd=limit("max_cost_usd"),
        min_confidence=limit("min_confidence"),
    )


def final_proto(final: GenerateFinal) -> router_pb2.GenerateResult:
    """GenerateFinal -> proto."""
    return router_pb2.GenerateResult(
        text=final.text,
        served_by=served_by_proto(final.served_by),
        prompt_tokens=final.prompt_tokens,
        completion_tokens=final.completion_tokens,
        cost_usd=final.cost_usd,
        confidence=final.confidence,
        finish_reason=final.finish_reason,
        latency_ms=final.latency_ms,
        time_to_first_token_ms=final.time_to_first_token_ms,
        trace=steps_proto(final.trace),
        route=final.route,
        domain=final.domain,
        trace_id=final.trace_id,
        citations=[
            router_pb2.Citation(
                index=c.index,
                collection=c.collection,
                version=c.version,
                document=c.doc,
                chunk=c.chunk,
                title=c.title,
                score=c.score,
            )
            for c in final.citations
        ],
        degraded=final.degraded,
        degraded_reason=final.degraded_reason,
    )


def event_proto(request_id: str, event: GenerateEvent) -> router_pb2.GenerateResponse:
    """One engine event -> the GenerateResponse carrying it."""
    if isinstance(event, TextDelta):
        return router_pb2.GenerateResponse(request_id=request_id, delta=router_pb2.TextDelta(text=event.text))
    if isinstance(event, Retraction):
        retraction = router_pb2.Retraction(chars=event.chars, reason=event.reason)
        return router_pb2.GenerateResponse(request_id=request_id, retraction=retraction)
    return router_pb2.GenerateResponse(request_id=request_id, final=final_proto(event))


async def generate_responses(
    engine: RouterEngine,
    keys: ApiKeys,
    request: router_pb2.GenerateRequest,
    context: grpc.aio.ServicerContext,
) -> AsyncGenerator[router_pb2.GenerateResponse, None]:
    """The responses of one Generate call; failures abort the call with their status (events
    already sent stay sent). When the call is cancelled, the engine's iteration is closed, which
    cancels the target's stream."""
    metrics, tracing = engine.metrics, engine.tracing
    trace: Trace = NO_TRACE
    if tracing.enabled:
        parent = traceparent_of(context.invocation_metadata())
        attributes = {"edgefleet.request_id": request.request_id, "rpc.system": "grpc"}
        trace = tracing.start(GENERATE_SPAN, parent, attributes)
    error: BaseException | None = None
    try:
        with trace.step("validate"):
            try:
                caller = keys.check(context.invocation_metadata() if keys.enabled else None)
                engine.gate.admit(caller.key_id, caller.limits)
                domains = await engine.known_domains()
                req = validate_generate(raw_generate_request(request), engine.policy, domains)
                if caller.key_id:
                    req = dataclasses.replace(req, key_id=caller.key_id)
            except RouterError as exc:
                if metrics is not None:
                    metrics.rejected("generate", exc)
                raise
        if trace.enabled:
            req = dataclasses.replace(req, trace=trace)
        async with aclosing(engine.generate(req, context.time_remaining())) as events:
            async for event in events:
                yield event_proto(req.request_id, event)
    except RouterError as exc:
        error = exc
        await context.abort(status_of(exc), str(exc))
    except Exception as exc:
        error = exc
        log.exception("Generate failed", extra={"request_id": request.request_id, "trace_id": trace.trace_id})
        await context.abort(grpc.StatusCode.INTERNAL, "internal router error (see the router log)")
    except BaseException as exc:  # cancelled, or the stream closed
        error = exc
        raise
    finally:
        trace.end(error)
