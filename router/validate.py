"""Request validation: turn raw request fields into an :class:`InferInput` or a
:class:`GenerateInput`, or raise :class:`router.errors.InvalidRequest` with a message that says
what is wrong."""

from __future__ import annotations

import math
import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import cast

from edgefleet.generation import (
    ChatMessage,
    GenerationInputError,
    Role,
    SamplingParams,
    check_messages,
    check_sampling,
)
from edgefleet.policy.schema import Policy
from router.domain import Constraints, GenerateConstraints, GenerateInput, InferInput
from router.errors import InvalidRequest

SUPPORTED_TASKS = ("classify", "embed")
RESERVED_TASKS = ("generate",)  # served by the Generate rpc, not Infer
MAX_REQUEST_ID_CHARS = 128


@dataclass(frozen=True)
class RawRequest:
    """Request fields as received (the servicer fills it from the proto)."""

    request_id: str = ""
    task: str = ""
    text: str = ""
    texts: Sequence[str] = field(default_factory=tuple)
    domain: str = ""
    route: str = ""
    max_latency_ms: float | None = None
    max_cost_usd: float | None = None
    min_confidence: float | None = None


@dataclass(frozen=True)
class RawGenerateRequest:
    """Generate request fields as received (the servicer fills it from the proto)."""

    request_id: str = ""
    messages: Sequence[tuple[str, str]] = field(default_factory=tuple)  # (role, content)
    max_tokens: int = 0
    temperature: float | None = None
    top_p: float | None = None
    stop: Sequence[str] = field(default_factory=tuple)
    seed: int | None = None
    route: str = ""
    domain: str = ""
    allow_retraction: bool = False
    max_time_to_first_token_ms: float | None = None
    max_latency_ms: float | None = None
    max_cost_usd: float | None = None
    min_confidence: float | None = None


def known_domains(policy: Policy, extra: Collection[str] = ()) -> set[str]:
    """Every domain the policy names (route domains, specialist keys) plus `extra`
    (e.g. the labels of domain-router models); "*" is not a domain."""
    names: set[str] = set(extra)
    for route in policy.routes:
        names.update(d for d in route.domains if d != "*")
        names.update(route.specialists)
    return names


def validate_request(raw: RawRequest, policy: Policy, domains: Collection[str]) -> InferInput:
    """Check `raw` against the policy; return the validated request."""
    _check_request_id(raw.request_id, policy)
    task = raw.task.strip()
    _check_task(task)
    texts = _check_texts(raw, policy)
    domain, route = _check_domain_and_route(task, raw.domain, raw.route, policy, domains)
    constraints = Constraints(
        max_latency_ms=_check_limit("max_latency_ms", raw.max_latency_ms, positive=True),
        max_cost_usd=_check_limit("max_cost_usd", raw.max_cost_usd, positive=False),
        min_confidence=_check_confidence(raw.min_confidence),
    )
    request_id = raw.request_id or secrets.token_hex(8)  # 16 hex chars, cheaper than uuid4
    return InferInput(request_id, task, texts, domain, route, constraints)


def validate_generate(raw: RawGenerateRequest, policy: Policy, domains: Collection[str]) -> GenerateInput:
    """Check a generation request against the policy; return the validated request. Temperature
    defaults to 0 (greedy), top_p to 1; token log-probabilities are always asked for (they are
    the edge answer's confidence)."""
    _check_request_id(raw.request_id, policy)
    try:
        messages = check_messages(
            [ChatMessage(cast(Role, role), content) for role, content in raw.messages],
            policy.router.max_prompt_chars,
        )
        params = check_sampling(
            SamplingParams(
                max_tokens=raw.max_tokens,
                temperature=0.0 if raw.temperature is None else raw.temperature,
                top_p=1.0 if raw.top_p is None else raw.top_p,
                stop=tuple(raw.stop),
                seed=raw.seed,
                logprobs=True,
            )
        )
    except GenerationInputError as exc:
        raise InvalidRequest(str(exc)) from exc
    domain, route = _check_domain_and_route("generate", raw.domain, raw.route, policy, domains)
    constraints = GenerateConstraints(
        max_time_to_first_token_ms=_check_limit(
            "max_time_to_first_token_ms", raw.max_time_to_first_token_ms, positive=True
        ),
        max_latency_ms=_check_limit("max_latency_ms", raw.max_latency_ms, positive=True),
        max_cost_usd=_check_limit("max_cost_usd", raw.max_cost_usd, positive=False),
        min_confidence=_check_confidence(raw.min_confidence),
    )
    request_id = raw.request_id or secrets.token_hex(8)
    return GenerateInput(
        request_id, tuple(messages), params, route, domain, constraints, raw.allow_retraction
    )


def _check_request_id(request_id: str, policy: Policy) -> None:
    """A request id is kept (recent requests, logs, the ledger): bounded and printable."""
    limit = policy.router.limits.max_request_id_chars
    if len(request_id) > limit:
        raise InvalidRequest(
            f"request_id has {len(request_id)} characters; the limit is {limit} "
            "(router.limits.max_request_id_chars)"
        )
    if request_id and not request_id.isprintable():
        raise InvalidRequest("request_id has control characters")


def _check_domain_and_route(
    task: str, domain_field: str, route_field: str, policy: Policy, domains: Collection[str]
) -> tuple[str | None, str | None]:
    domain = domain_field.strip() or None
    if domain is not None and domain not in domains:
        raise InvalidRequest(f"unknown domain {domain!r}; known: {_names(domains)}")
    route = route_field.strip() or None
    if route is not None:
        by_name = {r.name: r for r in policy.routes}
        if route not in by_name:
            raise InvalidRequest(f"unknown route {route!r}; known: {_names(by_name)}")
        if by_name[route].task != task:
            raise InvalidRequest(f"route {route!r} serves task {by_name[route].task!r}, not {task!r}")
    return domain, route


def _check_task(task: str) -> None:
    if task in SUPPORTED_TASKS:
        return
    if task in RESERVED_TASKS:
        raise InvalidRequest(
            f"task {task!r} is not supported by Infer: call the Generate rpc; Infer serves {list(SUPPORTED_TASKS)}"
        )
    if not task:
        raise InvalidRequest(f"task is empty; use one of {list(SUPPORTED_TASKS)}")
    raise InvalidRequest(f"unknown task {task!r}; use one of {list(SUPPORTED_TASKS)}")


def _check_texts(raw: RawRequest, policy: Policy) -> tuple[str, ...]:
    has_text = raw.text != ""
    has_texts = len(raw.texts) > 0
    if has_text and has_texts:
        raise InvalidRequest("set either `text` or `texts`, not both")
    if not has_text and not has_texts:
        raise InvalidRequest("no input: set `text` (one text) or `texts` (a batch)")
    limit = policy.router.max_text_chars
    if has_text:
        _check_one("text", raw.text, limit)
        return (raw.text,)
    if len(raw.texts) > policy.router.max_batch:
        raise InvalidRequest(
            f"batch of {len(raw.texts)} texts exceeds router.max_batch={policy.router.max_batch}"
        )
    for i, text in enumerate(raw.texts):
        _check_one(f"texts[{i}]", text, limit)
    return tuple(raw.texts)


def _check_one(where: str, text: str, limit: int) -> None:
    if not text.strip():
        raise InvalidRequest(f"{where} is empty or blank")
    if len(text) > limit:
        raise InvalidRequest(f"{where} has {len(text)} characters, more than router.max_text_chars={limit}")


def _check_limit(name: str, value: float | None, *, positive: bool) -> float | None:
    if value is None:
        return None
    if math.isnan(value) or math.isinf(value):
        raise InvalidRequest(f"constraints.{name} must be a finite number, got {value}")
    if value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise InvalidRequest(f"constraints.{name} must be {bound}, got {value}")
    return float(value)


def _check_confidence(value: float | None) -> float | None:
    if value is None:
        return None
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        raise InvalidRequest(f"constraints.min_confidence must be within [0, 1], got {value}")
    return float(value)


def _names(names: Collection[str]) -> str:
    return ", ".join(sorted(names)) or "none"
