"""Request messages built from plain Python arguments (shared by the sync and asyncio clients)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypedDict, Unpack

from protos.edgefleet.v1 import router_pb2


@dataclass(frozen=True)
class ChatMessage:
    """One turn of a conversation: role "system", "user" or "assistant"; the last must be "user"."""

    role: str
    content: str


Messages = str | Sequence[ChatMessage | Mapping[str, str] | tuple[str, str]]
"""A conversation: one user message as a string, or turns as ChatMessage, {"role", "content"}
dicts or (role, content) pairs."""


class InferOptions(TypedDict, total=False):
    """Optional arguments of an Infer call (a constraint given as None is not sent)."""

    task: str  # "classify" (default) or "embed"
    domain: str  # skip domain detection
    route: str  # force a named route
    request_id: str  # echoed back; the router makes one when empty
    max_latency_ms: float | None
    max_cost_usd: float | None
    min_confidence: float | None


class GenerateOptions(TypedDict, total=False):
    """Optional arguments of a Generate call (None: not sent; the router checks the values and
    answers INVALID_ARGUMENT)."""

    temperature: float | None  # 0..2, default 0 (greedy)
    top_p: float | None
    stop: Sequence[str]  # at most 4 stop strings
    seed: int | None
    route: str
    domain: str
    request_id: str
    allow_retraction: bool  # this client handles Retraction events (a route may then stream early)
    max_time_to_first_token_ms: float | None
    max_latency_ms: float | None
    max_cost_usd: float | None
    min_confidence: float | None


_INFER_CONSTRAINTS = ("max_latency_ms", "max_cost_usd", "min_confidence")
_GENERATE_CONSTRAINTS = ("max_time_to_first_token_ms", "max_latency_ms", "max_cost_usd", "min_confidence")


def infer_request(text: str | Sequence[str], **options: Unpack[InferOptions]) -> router_pb2.InferRequest:
    """An InferRequest for one text (a str) or a batch (a sequence of str)."""
    req = router_pb2.InferRequest(
        request_id=options.get("request_id", ""),
        task=options.get("task", "classify"),
        domain=options.get("domain", ""),
        route=options.get("route", ""),
    )
    if isinstance(text, str):
        req.text = text
    else:
        req.texts.extend(text)
    for name in _INFER_CONSTRAINTS:
        value = options.get(name)
        if value is not None:
            setattr(req.constraints, name, value)
    return req


def chat_messages(messages: Messages) -> list[router_pb2.ChatMessage]:
    """ChatMessage protos from any accepted form of a conversation."""
    if isinstance(messages, str):
        return [router_pb2.ChatMessage(role="user", content=messages)]
    out = []
    for m in messages:
        if isinstance(m, ChatMessage):
            role, content = m.role, m.content
        elif isinstance(m, Mapping):
            role, content = m["role"], m["content"]
        else:
            role, content = m
        out.append(router_pb2.ChatMessage(role=role, content=content))
    return out


def generate_request(
    messages: Messages, *, max_tokens: int, **options: Unpack[GenerateOptions]
) -> router_pb2.GenerateRequest:
    """A GenerateRequest for a conversation."""
    req = router_pb2.GenerateRequest(
        request_id=options.get("request_id", ""),
        messages=chat_messages(messages),
        max_tokens=max_tokens,
        stop=list(options.get("stop", ())),
        route=options.get("route", ""),
        domain=options.get("domain", ""),
        allow_retraction=options.get("allow_retraction", False),
    )
    for name in ("temperature", "top_p", "seed"):
        value = options.get(name)
        if value is not None:
            setattr(req, name, value)
    for name in _GENERATE_CONSTRAINTS:
        value = options.get(name)
        if value is not None:
            setattr(req.constraints, name, value)
    return req
