"""The OpenAI-compatible API of the router (a Starlette app): ``POST /v1/chat/completions``
(whole, or streamed as server-sent events), ``POST /v1/embeddings`` and ``GET /v1/models``.

Requests are authenticated with the router's API keys (``Authorization: Bearer KEY``, as on gRPC)
and routed through a :class:`router.http.port.RoutingPort`. Generation is always buffered
(``allow_retraction=False``): a stream's first event is awaited before the response starts, so a
request the router refuses gets a proper HTTP status; a failure after that is sent as an ``error``
event and the stream ends without ``[DONE]``. Errors are OpenAI's format
(:mod:`router.http.errors`); EdgeFleet's answer is in ``X-EdgeFleet-*`` headers and the
``edgefleet`` field (:mod:`router.http.responses`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from edgefleet.openai_serve import Completion, OpenAIError, bad
from edgefleet.openai_wire import SSE_DONE
from edgefleet.sse import encode_data, encode_json
from router.auth import ApiKeys
from router.domain import GenerateEvent, GenerateFinal, Retraction, TextDelta
from router.errors import DeadlineExceeded, RouterError
from router.http import errors, responses
from router.http.port import RoutingPort
from router.http.requests import AUTO_MODEL, ChatCall, chat_call, embed_call, request_id
from router.metrics import RouterMetrics
from router.tracing import NO_TRACE, TRACEPARENT, Trace, Tracing

log = logging.getLogger("edgefleet.router.http")
T = TypeVar("T")

MAX_BODY_BYTES = 4 * 1024 * 1024
DEADLINE_SLACK_S = 5.0  # how long past the caller's timeout the front door waits for the engine
_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def error_response(error: OpenAIError, headers: dict[str, str] | None = None) -> JSONResponse:
    """An OpenAI-format error with its status."""
    extra = dict(headers or {})
    if error.status == 401:
        extra["WWW-Authenticate"] = "Bearer"
    return JSONResponse(error.body(), status_code=error.status, headers=extra)


def _guarded(
    handler: Callable[[Request], Any],
) -> Callable[[Request], Any]:
    """Every failure becomes an OpenAI error response; never a traceback."""

    async def endpoint(request: Request) -> Response:
        try:
            response: Response = await handler(request)
            return response
        except OpenAIError as exc:
            return error_response(exc)
        except RouterError as exc:
            return error_response(errors.from_router_error(exc))
        except Exception:
            log.exception("front door request %s %s failed", request.method, request.url.path)
            return error_response(errors.internal())

    return endpoint


class OpenAIApi:
    """The front door's request handling over a RoutingPort."""

    def __init__(
        self,
        port: RoutingPort,
        api_keys: Callable[[], ApiKeys],
        *,
        tracing: Tracing | None = None,
        metrics: RouterMetrics | None = None,
    ) -> None:
        self.port = port
        self._api_keys = api_keys
        self.created = int(time.time())
        self.tracing = tracing or Tracing()
        self.metrics = metrics

    def app(self, lifespan: Any = None, extra_routes: Sequence[BaseRoute] = ()) -> Starlette:
        """The Starlette application (plus `extra_routes`, e.g. ``/metrics``)."""
        routes = [
            Route("/v1/chat/completions", _guarded(self.chat), methods=["POST"]),
            Route("/v1/embeddings", _guarded(self.embeddings), methods=["POST"]),
            Route("/v1/models", _guarded(self.models), methods=["GET"]),
            *extra_routes,
        ]
        app = Starlette(routes=routes, lifespan=lifespan)
        app.add_exception_handler(404, self._not_found)
        app.add_exception_handler(405, self._not_allowed)
        return app

    async def _not_found(self, request: Request, exc: Exception) -> Response:
        return error_response(OpenAIError(404, f"unknown path {request.url.path}", code="not_found"))

    async def _not_allowed(self, request: Request, exc: Exception) -> Response:
        return error_response(OpenAIError(405, f"method {request.method} not allowed on {request.url.path}"))

    def _authorise(self, request: Request) -> str:
        """Check the API key (a role that may route) and its rate limit; returns the key's id."""
        keys = self._api_keys()
        caller = keys.check(request.headers.items() if keys.enabled else None)
        self.port.admit(caller.key_id, caller.limits)
        return caller.key_id

    async def _authorised_body(self, request: Request) -> Any:
        """Check the API key, then read and decode the JSON body."""
        request.state.key_id = self._authorise(request)
        if int(request.headers.get("content-length") or 0) > MAX_BODY_BYTES:
            raise OpenAIError(413, f"request body larger than {MAX_BODY_BYTES} bytes")
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            raise OpenAIError(413, f"request body larger than {MAX_BODY_BYTES} bytes")
        try:
            return json.loads(raw, parse_constant=_no_constant)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise bad(f"request body is not valid JSON: {exc}") from None
        except (RecursionError, ValueError) as exc:  # nested too deeply; NaN/Infinity (not JSON)
            raise bad(f"request body is not valid JSON: {exc or 'nested too deeply'}") from None

    async def models(self, request: Request) -> Response:
        """``GET /v1/models``: every route, and ``edgefleet/auto``."""
        self._authorise(request)
        policy = self.port.policy
        data = [
            {
                "id": r.name,
                "object": "model",
                "created": self.created,
                "owned_by": "edgefleet",
                "edgefleet": {"task": r.task, "domains": list(r.domains), "fallback": r.fallback},
            }
            for r in policy.routes
        ]
        first = {
            task: next((r.name for r in policy.routes if r.task == task), None)
            for task in ("generate", "embed")
        }
        data.append(
            {
                "id": AUTO_MODEL,
                "object": "model",
                "created": self.created,
                "owned_by": "edgefleet",
                "edgefleet": {"task": "auto", "routes": first},
            }
        )
        return JSONResponse({"object": "list", "data": data})

    def _trace(self, name: str, request: Request) -> Trace:
        """The request's trace, continuing the caller's ``traceparent`` header (NO_TRACE when off)."""
        if not self.tracing.enabled:
            return NO_TRACE
        attributes = {"http.request.method": request.method, "url.path": request.url.path}
        return self.tracing.start(name, request.headers.get(TRACEPARENT), attributes)

    async def _checked(self, request: Request, task: str, trace: Trace, check: Callable[[Any], T]) -> T:
        """Authenticate, read the body and validate it (`check`) within the ``validate`` step;
        refusals are counted as requests refused before routing."""
        with trace.step("validate"):
            try:
                return check(await self._authorised_body(request))
            except (OpenAIError, RouterError) as exc:
                if self.metrics is not None:
                    self.metrics.rejected(task, exc)
                raise

    async def embeddings(self, request: Request) -> Response:
        """``POST /v1/embeddings`` through the embed route."""
        trace = self._trace("POST /v1/embeddings", request)
        error: BaseException | None = None
        try:
            domains = await self.port.known_domains()
            rid = request_id(request.headers)
            call = await self._checked(
                request, "embed", trace, lambda body: embed_call(body, self.port.policy, domains, rid)
            )
            if request.state.key_id:
                call = dataclasses.replace(
                    call, request=dataclasses.replace(call.request, key_id=request.state.key_id)
                )
            if trace.enabled:
                call = dataclasses.replace(call, request=dataclasses.replace(call.request, trace=trace))
            route = call.request.route or ""
            out = await _bounded(self.port.infer(call.request, call.timeout_s), call.timeout_s)
            payload = responses.embeddings_body(out, call.request.texts, route, call.base64)
            return JSONResponse(payload, headers=responses.infer_headers(out, route))
        except BaseException as exc:
            error = exc
            raise
        finally:
            trace.end(error)

    async def chat(self, request: Request) -> Response:
        """``POST /v1/chat/completions`` through a generate route."""
        trace = self._trace("POST /v1/chat/completions", request)
        try:
            domains = await self.port.known_domains()
            rid = request_id(request.headers)
            call = await self._checked(
                request, "generate", trace, lambda body: chat_call(body, self.port.policy, domains, rid)
            )
            if request.state.key_id:
                call = dataclasses.replace(
                    call, request=dataclasses.replace(call.request, key_id=request.state.key_id)
                )
            if trace.enabled:
                call = dataclasses.replace(call, request=dataclasses.replace(call.request, trace=trace))
            events = self.port.generate(call.request, call.timeout_s)
            if not call.stream:
                try:
                    response = await _bounded(self._whole(call, events), call.timeout_s)
                finally:
                    await _close(events)
                trace.end()
                return response
            try:
                first = await _bounded(anext(events, None), call.timeout_s)
                if first is None:
                    raise RouterError("the routing engine ended a generation without any event")
            except BaseException:
                await _close(events)
                raise
        except BaseException as exc:
            trace.end(exc)
            raise
        head = {responses.H_REQUEST_ID: call.request.request_id, responses.H_ROUTE: call.request.route or ""}
        if trace.trace_id:
            head[responses.H_TRACE_ID] = trace.trace_id
        return StreamingResponse(
            self._stream(call, first, events, trace),
            media_type="text/event-stream",
            headers={**_SSE_HEADERS, **head},
        )

    async def _whole(self, call: ChatCall, events: AsyncIterator[GenerateEvent]) -> Response:
        text: list[str] = []
        async for event in events:
            if isinstance(event, TextDelta):
                text.append(event.text)
            elif isinstance(event, Retraction):  # not expected (buffered), but harmless here
                joined = "".join(text)
                text = [joined[: max(0, len(joined) - event.chars)]]
            elif isinstance(event, GenerateFinal):
                completion = Completion(f"chatcmpl-{event.request_id}", event.route)
                payload = completion.body(
                    "".join(text),
                    _finish(event.finish_reason),
                    event.prompt_tokens,
                    event.completion_tokens,
                    responses.generate_extension(event),
                )
                return JSONResponse(payload, headers=responses.generate_headers(event))
        raise RouterError("the routing engine ended a generation without a final event")

    async def _stream(
        self, call: ChatCall, first: GenerateEvent, events: AsyncIterator[GenerateEvent], trace: Trace
    ) -> AsyncIterator[bytes]:
        completion = Completion(f"chatcmpl-{call.request.request_id}", call.request.route or "")
        started = False
        event: GenerateEvent | None = first
        error: BaseException | None = None
        try:
            while event is not None:
                if isinstance(event, TextDelta):
                    yield encode_json(completion.chunk(event.text, first=not started))
                    started = True
                elif isinstance(event, Retraction):
                    raise RouterError("the routing engine retracted text on a buffered stream")
                else:
                    yield from_final(completion, event, call.include_usage, started)
                    return
                event = await anext(events, None)
            raise RouterError("the routing engine ended a generation without a final event")
        except RouterError as exc:
            error = exc
            yield encode_json(errors.from_router_error(exc).body())
        except Exception as exc:
            error = exc
            log.exception(
                "front door stream %s failed",
                call.request.request_id,
                extra={"request_id": call.request.request_id, "trace_id": trace.trace_id},
            )
            yield encode_json(errors.internal().body())
        finally:
            await _close(events)
            trace.end(error)


def _no_constant(name: str) -> float:
    """NaN, Infinity and -Infinity are not JSON (Python's json module accepts them)."""
    raise ValueError(f"{name} is not a JSON value")


def from_final(completion: Completion, final: GenerateFinal, include_usage: bool, started: bool) -> bytes:
    """The closing events of a stream: the finish chunk, the usage chunk when asked for, ``[DONE]``;
    the ``edgefleet`` object rides on the last chunk."""
    extension = responses.generate_extension(final)
    out = b"" if started else encode_json(completion.chunk("", first=True))
    finish = _finish(final.finish_reason)
    if include_usage:
        out += encode_json(completion.chunk(finish_reason=finish))
        out += encode_json(completion.usage_chunk(final.prompt_tokens, final.completion_tokens, extension))
    else:
        out += encode_json(completion.chunk(finish_reason=finish, extension=extension))
    return out + encode_data(SSE_DONE)


def _finish(reason: str) -> str:
    """Our finish reason on OpenAI's wire (stop/length/content_filter; anything else is stop)."""
    return reason if reason in ("stop", "length", "content_filter") else "stop"


async def _bounded(awaitable: Awaitable[T], timeout_s: float | None) -> T:
    """Await with a safety net: the engine owns the deadline, the front door stops waiting
    DEADLINE_SLACK_S after it."""
    if timeout_s is None:
        return await awaitable
    try:
        async with asyncio.timeout(timeout_s + DEADLINE_SLACK_S):
            return await awaitable
    except TimeoutError:
        raise DeadlineExceeded(f"no answer within the caller's {timeout_s * 1000:.0f} ms") from None


async def _close(events: AsyncIterator[GenerateEvent]) -> None:
    """Close the engine's iteration (cancels its generation), even while being cancelled."""
    aclose = getattr(events, "aclose", None)
    if aclose is not None:
        with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
            await aclose()
