"""Sending one deferred escalation (:mod:`router.deferred`) to its hosted endpoint: the classify or
chat call, then the escalation-log record (schema :mod:`edgefleet.escalation_log`, marked
``deferred``) for the flywheel and the call's cost in the ledger as shadow spend."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from edgefleet.escalation_log import EdgeVerdict, EscalationRecord, HostedVerdict
from edgefleet.generation import ChatMessage, SamplingParams
from edgefleet.policy.schema import HostedConfig
from router.accounting import Accounting
from router.costs import hosted_call_cost
from router.errors import TargetError
from router.ledger import LedgerEntry


async def send_one(
    client: Any, cfg: HostedConfig, payload: Mapping[str, Any], accounting: Accounting, timeout_s: float
) -> None:
    """Ask `client` (a router.hosted.HostedClient of endpoint `cfg`) what the edge answered in
    `payload`; log the answer and its cost. Raises TargetError when the call fails."""
    if payload["task"] == "classify":
        answer = await client.classify(payload["text"], payload["labels"], timeout_s)
        if answer.label is None:
            raise TargetError(f"hosted:{cfg.name} returned no label")
        hosted = HostedVerdict(
            model=answer.model, label=answer.label, confidence=round(float(answer.confidence), 4),
            stand_in=bool(answer.stand_in),
        )  # fmt: skip
        tokens = (answer.input_tokens, answer.output_tokens)
        messages = None
    else:
        chat = [ChatMessage(m["role"], m["content"]) for m in payload["messages"]]
        params = dict(payload["params"])
        params["stop"] = tuple(params.get("stop", ()))
        chunk = await client.chat(chat, SamplingParams(**params), timeout_s)
        hosted = HostedVerdict(
            model=cfg.model, text=chunk.text, finish_reason=chunk.finish_reason,
            stand_in=bool(getattr(client, "stand_in", False)),
        )  # fmt: skip
        tokens = (chunk.prompt_tokens or 0, chunk.completion_tokens or 0)
        messages = [dict(m) for m in payload["messages"]]
    record = EscalationRecord(
        unix_ms=round(time.time() * 1000.0, 1),
        request_id=payload["request_id"],
        task=payload["task"],
        route=payload["route"],
        domain=payload.get("domain", ""),
        text=payload.get("text") or _last_user(payload),
        messages=messages,
        reasons=list(payload.get("reasons", [])),
        edge=[EdgeVerdict.model_validate(e) for e in payload.get("edge", [])],
        hosted=hosted,
        deferred=True,
    )
    if accounting.escalation_log is not None:
        accounting.escalation_log.write(record)
    cost = hosted_call_cost(cfg, *tokens)
    accounting.ledger.record(
        LedgerEntry(
            request_id=payload["request_id"], route=payload["route"], task=payload["task"], tier="hosted",
            model=hosted.model, cost_usd=cost, prompt_tokens=tokens[0], completion_tokens=tokens[1],
            shadow=True,
        )
    )  # fmt: skip


def _last_user(payload: Mapping[str, Any]) -> str:
    messages = payload.get("messages") or []
    return next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
