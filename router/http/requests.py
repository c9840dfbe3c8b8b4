"""OpenAI requests to router inputs: the ``model`` field names a route (``edgefleet/auto``: the
first route of the task), chat bodies become a :class:`router.domain.GenerateInput` (always
buffered: ``allow_retraction=False``, an SSE client cannot take text back), embedding bodies a
validated :class:`router.domain.InferInput`. EdgeFleet's own knobs ride in an ``edgefleet``
object of the body (``extra_body`` in the OpenAI SDK): ``domain``, ``max_latency_ms``,
``max_time_to_first_token_ms``, ``max_cost_usd``, ``min_confidence``, ``timeout_ms``. Every
problem raises :class:`edgefleet.openai_serve.OpenAIError` naming the field."""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from edgefleet.openai_serve import OpenAIError, bad, parse_chat_request
from edgefleet.policy.schema import Policy
from router.domain import GenerateConstraints, GenerateInput, InferInput
from router.errors import InvalidRequest
from router.http.errors import unknown_model
from router.validate import RawRequest, validate_request

AUTO_MODEL = "edgefleet/auto"
"""The model name that means "the first route of the task"."""

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_LIMITS = ("max_latency_ms", "max_time_to_first_token_ms", "max_cost_usd", "min_confidence", "timeout_ms")


def resolve_route(policy: Policy, model: str, task: str) -> str:
    """The route `model` names for `task`: 404 when no route has that name (or no route serves the
    task for ``edgefleet/auto``), 400 when the route serves another task."""
    routes = [r for r in policy.routes if r.task == task]
    if model == AUTO_MODEL:
        if not routes:
            raise OpenAIError(
                404,
                f"no route serves task {task!r}, so {AUTO_MODEL} has nothing to pick",
                param="model",
                code="model_not_found",
            )
        return routes[0].name
    for route in policy.routes:
        if route.name == model:
            if route.task != task:
                raise bad(f"route {model!r} serves task {route.task!r}, not {task!r}", "model")
            return route.name
    raise unknown_model(model, task, [r.name for r in routes])


def request_id(headers: Mapping[str, str]) -> str:
    """The caller's ``X-Request-Id`` when it is a sane token, else a fresh one."""
    given = headers.get("x-request-id", "").strip()
    return given if _REQUEST_ID.match(given) else secrets.token_hex(8)


@dataclass(frozen=True)
class Options:
    """The ``edgefleet`` extension object of a request, checked."""

    domain: str | None = None
    max_latency_ms: float | None = None
    max_time_to_first_token_ms: float | None = None
    max_cost_usd: float | None = None
    min_confidence: float | None = None
    timeout_ms: float | None = None

    @property
    def timeout_s(self) -> float | None:
        """The caller's deadline in seconds (timeout_ms, else max_latency_ms), None for none."""
        ms = self.timeout_ms if self.timeout_ms is not None else self.max_latency_ms
        return None if ms is None else ms / 1000.0


def options(extension: Any) -> Options:
    """Check the ``edgefleet`` object: known keys, finite non-negative numbers, confidence <= 1."""
    if extension is None:
        return Options()
    if not isinstance(extension, dict):
        raise bad("'edgefleet' must be an object", "edgefleet")
    unknown = sorted(set(extension) - {"domain", *_LIMITS})
    if unknown:
        raise bad(f"unknown edgefleet option(s) {unknown}; known: domain, {', '.join(_LIMITS)}", "edgefleet")
    values: dict[str, Any] = {}
    domain = extension.get("domain")
    if domain is not None and (not isinstance(domain, str) or not domain.strip()):
        raise bad("edgefleet.domain must be a non-empty string", "edgefleet.domain")
    values["domain"] = domain.strip() if domain else None
    for key in _LIMITS:
        value = extension.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise bad(f"edgefleet.{key} must be a finite number", f"edgefleet.{key}")
        positive = key != "max_cost_usd" and key != "min_confidence"
        if value < 0 or (positive and value == 0) or (key == "min_confidence" and value > 1):
            raise bad(f"edgefleet.{key} is out of range: {value}", f"edgefleet.{key}")
        values[key] = float(value)
    return Options(**values)


@dataclass(frozen=True)
class ChatCall:
    """A chat completions request ready for the engine."""

    request: GenerateInput
    stream: bool
    include_usage: bool
    timeout_s: float | None


def chat_call(body: Any, policy: Policy, domains: Collection[str], rid: str) -> ChatCall:
    """Validate a chat completions body against the policy (route, text limit, domain)."""
    chat = parse_chat_request(body, max_chars=policy.router.max_text_chars)
    route = resolve_route(policy, chat.model, "generate")
    opts = options(chat.extension)
    if opts.domain is not None and opts.domain not in domains:
        raise bad(
            f"unknown domain {opts.domain!r}; known: {', '.join(sorted(domains)) or 'none'}",
            "edgefleet.domain",
        )
    constraints = GenerateConstraints(
        max_time_to_first_token_ms=opts.max_time_to_first_token_ms,
        max_latency_ms=opts.max_latency_ms,
        max_cost_usd=opts.max_cost_usd,
        min_confidence=opts.min_confidence,
    )
    request = GenerateInput(
        request_id=rid,
        messages=chat.messages,
        params=chat.params,
        route=route,
        domain=opts.domain,
        constraints=constraints,
        allow_retraction=False,
    )
    return ChatCall(request, chat.stream, chat.include_usage, opts.timeout_s)


@dataclass(frozen=True)
class EmbedCall:
    """An embeddings request ready for the engine."""

    request: InferInput
    base64: bool
    timeout_s: float | None


def embed_call(body: Any, policy: Policy, domains: Collection[str], rid: str) -> EmbedCall:
    """Validate an embeddings body: a string or a list of strings (token arrays are refused)."""
    if not isinstance(body, dict):
        raise bad("request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise bad("'model' must be a non-empty string", "model")
    raw = body.get("input")
    texts = [raw] if isinstance(raw, str) else raw
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise bad(
            "'input' must be a string or a non-empty list of strings (token arrays are not supported)",
            "input",
        )
    encoding = body.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        raise bad("'encoding_format' must be 'float' or 'base64'", "encoding_format")
    if body.get("dimensions") is not None:
        raise bad("'dimensions' is not supported: the route's model decides", "dimensions")
    route = resolve_route(policy, model, "embed")
    opts = options(body.get("edgefleet"))
    raw_request = RawRequest(
        request_id=rid,
        task="embed",
        texts=tuple(texts),
        domain=opts.domain or "",
        route=route,
        max_latency_ms=opts.max_latency_ms,
        max_cost_usd=opts.max_cost_usd,
        min_confidence=opts.min_confidence,
    )
    try:
        request = validate_request(raw_request, policy, domains)
    except InvalidRequest as exc:
        raise bad(str(exc), "input" if "text" in str(exc) or "batch" in str(exc) else None) from None
    return EmbedCall(request, encoding == "base64", opts.timeout_s)
