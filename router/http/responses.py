"""EdgeFleet's answer on the OpenAI wire: who served a request, at what cost, how sure, and why,
both as response headers (``X-EdgeFleet-*``) and as an ``edgefleet`` extension object of the body
(for a stream: of its last chunk). Plus the embeddings body (float or base64)."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import numpy as np

from edgefleet.tokens import estimate_tokens
from router.domain import GenerateFinal, InferOutput, Result, ServedBy, Step

H_REQUEST_ID = "X-EdgeFleet-Request-Id"
H_ROUTE = "X-EdgeFleet-Route"
H_SERVED_BY = "X-EdgeFleet-Served-By"
H_TIER = "X-EdgeFleet-Tier"
H_COST = "X-EdgeFleet-Cost-USD"
H_CONFIDENCE = "X-EdgeFleet-Confidence"
H_STAND_IN = "X-EdgeFleet-Stand-In"
H_LATENCY = "X-EdgeFleet-Latency-Ms"
H_TTFT = "X-EdgeFleet-TTFT-Ms"
H_DOMAIN = "X-EdgeFleet-Domain"
H_TRACE = "X-EdgeFleet-Trace"
H_TRACE_ID = "X-EdgeFleet-Trace-Id"
H_DEGRADED = "X-EdgeFleet-Degraded"  # the degraded reason, when the answer is degraded (offline mode)

MAX_HEADER_CHARS = 2000


def _header_safe(text: str) -> str:
    """Printable ASCII only (header values are latin-1 on the wire), bounded in length."""
    clean = "".join(c if " " <= c <= "~" else "?" for c in text)
    return clean if len(clean) <= MAX_HEADER_CHARS else clean[: MAX_HEADER_CHARS - 3] + "..."


def served_by_text(s: ServedBy) -> str:
    """``model:version replica=R node=N device=D`` (empty parts left out)."""
    parts = [f"{s.model}:{s.version}" if s.version else s.model]
    parts += [
        f"{key}={value}"
        for key, value in (("replica", s.replica), ("node", s.node), ("device", s.device))
        if value
    ]
    return " ".join(parts)


def trace_text(steps: Sequence[Step]) -> str:
    """The route trace in one line: ``target=outcome(ms); ...``."""
    return "; ".join(f"{s.target}={s.outcome}({s.ms:.1f}ms)" for s in steps)


def served_by_json(s: ServedBy) -> dict[str, Any]:
    """ServedBy as a JSON object."""
    return {
        "model": s.model,
        "version": s.version,
        "replica": s.replica,
        "node": s.node,
        "device": s.device,
        "tier": s.tier,
        "stand_in": s.stand_in,
    }


def trace_json(steps: Sequence[Step]) -> list[dict[str, Any]]:
    """The route trace as JSON objects."""
    return [
        {"target": s.target, "outcome": s.outcome, "reason": s.reason, "ms": round(s.ms, 3)} for s in steps
    ]


def generate_extension(final: GenerateFinal) -> dict[str, Any]:
    """The ``edgefleet`` object of a chat completion."""
    return {
        "request_id": final.request_id,
        "route": final.route,
        "domain": final.domain,
        "served_by": served_by_json(final.served_by),
        "tier": final.served_by.tier,
        "stand_in": final.served_by.stand_in,
        "cost_usd": final.cost_usd,
        "confidence": final.confidence,
        "latency_ms": final.latency_ms,
        "time_to_first_token_ms": final.time_to_first_token_ms,
        "trace": trace_json(final.trace),
        "trace_id": final.trace_id,
        "degraded": final.degraded,
        "degraded_reason": final.degraded_reason,
        "citations": [
            {
                "index": c.index,
                "collection": c.collection,
                "version": c.version,
                "document": c.doc,
                "chunk": c.chunk,
                "title": c.title,
                "score": round(c.score, 6),
            }
            for c in final.citations
        ],
    }


def generate_headers(final: GenerateFinal) -> dict[str, str]:
    """The ``X-EdgeFleet-*`` headers of a (non-streamed) chat completion."""
    headers = {
        H_REQUEST_ID: final.request_id,
        H_ROUTE: final.route,
        H_SERVED_BY: served_by_text(final.served_by),
        H_TIER: final.served_by.tier,
        H_COST: f"{final.cost_usd:.8f}",
        H_CONFIDENCE: f"{final.confidence:.4f}",
        H_STAND_IN: "1" if final.served_by.stand_in else "0",
        H_LATENCY: f"{final.latency_ms:.1f}",
        H_TTFT: f"{final.time_to_first_token_ms:.1f}",
        H_TRACE: trace_text(final.trace),
    }
    if final.domain:
        headers[H_DOMAIN] = final.domain
    if final.trace_id:
        headers[H_TRACE_ID] = final.trace_id
    if final.degraded:
        headers[H_DEGRADED] = final.degraded_reason
    return {k: _header_safe(v) for k, v in headers.items()}


def _result_json(r: Result) -> dict[str, Any]:
    return {
        "served_by": served_by_json(r.served_by),
        "tier": r.served_by.tier,
        "confidence": r.confidence,
        "cost_usd": r.cost_usd,
        "latency_ms": r.latency_ms,
        "domain": r.domain,
        "trace": trace_json(r.trace),
        "trace_id": r.trace_id,
        "degraded": r.degraded,
        "degraded_reason": r.degraded_reason,
    }


def infer_headers(out: InferOutput, route: str) -> dict[str, str]:
    """Headers of an embeddings answer; several inputs may be served differently ("mixed")."""
    tiers = {r.served_by.tier for r in out.results}
    served = dict.fromkeys(served_by_text(r.served_by) for r in out.results)
    headers = {
        H_REQUEST_ID: out.request_id,
        H_ROUTE: route,
        H_SERVED_BY: ", ".join(served),
        H_TIER: tiers.pop() if len(tiers) == 1 else "mixed",
        H_COST: f"{out.cost_usd:.8f}",
        H_STAND_IN: "1" if any(r.served_by.stand_in for r in out.results) else "0",
        H_LATENCY: f"{out.latency_ms:.1f}",
        H_TRACE: " | ".join(trace_text(r.trace) for r in out.results),
    }
    trace_id = next((r.trace_id for r in out.results if r.trace_id), "")
    if trace_id:
        headers[H_TRACE_ID] = trace_id
    degraded = ", ".join(dict.fromkeys(r.degraded_reason for r in out.results if r.degraded))
    if degraded:
        headers[H_DEGRADED] = degraded
    return {k: _header_safe(v) for k, v in headers.items()}


def embeddings_body(out: InferOutput, texts: Sequence[str], route: str, as_base64: bool) -> dict[str, Any]:
    """The ``/v1/embeddings`` answer (vectors as float lists, or base64 little-endian float32 as the
    OpenAI SDK asks by default)."""
    data = []
    for i, result in enumerate(out.results):
        vector = list(result.embedding or ())
        encoded: Any = (
            base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")
            if as_base64
            else vector
        )
        data.append({"object": "embedding", "index": i, "embedding": encoded})
    tokens = sum(estimate_tokens(t) for t in texts)
    return {
        "object": "list",
        "data": data,
        "model": route,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        "edgefleet": {
            "request_id": out.request_id,
            "route": route,
            "cost_usd": out.cost_usd,
            "latency_ms": out.latency_ms,
            "results": [_result_json(r) for r in out.results],
        },
    }
