"""The edgefleet.v1.Router gRPC servicer: proto <-> domain objects, router errors
-> gRPC status codes. Never a traceback to the client, never a hang. Generate's translation is
in router.generate_servicer."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing

import grpc

from protos.edgefleet.v1 import router_pb2, router_pb2_grpc
from router.auth import ApiKeys, Principal
from router.domain import InferOutput, Result
from router.engine import RouterEngine
from router.errors import RouterError
from router.generate_servicer import generate_responses
from router.proto_convert import served_by_proto, status_of, steps_proto
from router.tracing import NO_TRACE, Trace, traceparent_of
from router.validate import RawRequest, validate_request

log = logging.getLogger(__name__)
INFER_SPAN = "edgefleet.v1.Router/Infer"
INFER_STREAM_SPAN = "edgefleet.v1.Router/InferStream"


def log_ids(request_id: str, trace_id: str) -> dict[str, str]:
    """A log record's request and trace ids (``extra=``; JSON logs show them)."""
    return {"request_id": request_id, "trace_id": trace_id}


def raw_request(msg: router_pb2.InferRequest) -> RawRequest:
    """Request fields from the proto (unset optional constraints stay None)."""
    c = msg.constraints
    has = msg.HasField("constraints")
    return RawRequest(
        request_id=msg.request_id,
        task=msg.task,
        text=msg.text,
        texts=tuple(msg.texts),
        domain=msg.domain,
        route=msg.route,
        max_latency_ms=c.max_latency_ms if has and c.HasField("max_latency_ms") else None,
        max_cost_usd=c.max_cost_usd if has and c.HasField("max_cost_usd") else None,
        min_confidence=c.min_confidence if has and c.HasField("min_confidence") else None,
    )


def result_proto(r: Result) -> router_pb2.Result:
    """Result -> proto."""
    msg = router_pb2.Result(
        confidence=r.confidence,
        served_by=served_by_proto(r.served_by),
        cost_usd=r.cost_usd,
        latency_ms=r.latency_ms,
        trace=steps_proto(r.trace),
        domain=r.domain,
        route=r.route,
        trace_id=r.trace_id,
        degraded=r.degraded,
        degraded_reason=r.degraded_reason,
    )
    if r.embedding is not None:
        msg.embedding.values.extend(r.embedding)
    else:
        msg.classification.label = r.label or ""
        msg.classification.scores.extend(router_pb2.LabelScore(label=lbl, score=s) for lbl, s in r.scores)
    return msg


def response_proto(out: InferOutput) -> router_pb2.InferResponse:
    """InferOutput -> proto."""
    return router_pb2.InferResponse(
        request_id=out.request_id,
        results=[result_proto(r) for r in out.results],
        cost_usd=out.cost_usd,
        latency_ms=out.latency_ms,
    )


class RouterServicer(router_pb2_grpc.RouterServicer):
    """Infer, InferStream and Generate over a RouterEngine."""

    def __init__(self, engine: RouterEngine, api_keys: Callable[[], ApiKeys]) -> None:
        self.engine = engine
        self._api_keys = api_keys

    async def _answer(
        self,
        msg: router_pb2.InferRequest,
        time_remaining: float | None,
        trace: Trace = NO_TRACE,
        key_id: str = "",
        admit: Principal | None = None,
    ) -> router_pb2.InferResponse:
        """Validate and route one request of key `key_id`; `admit`: count it against that
        caller's rate limit first (a stream's requests)."""
        engine = self.engine
        domains = await engine.known_domains()
        with trace.step("validate"):
            try:
                if admit is not None:
                    engine.gate.admit(admit.key_id, admit.limits)
                req = validate_request(raw_request(msg), engine.policy, domains)
            except RouterError as exc:
                if engine.metrics is not None:
                    engine.metrics.rejected(msg.task, exc)
                raise
        if trace.enabled:
            req = dataclasses.replace(req, trace=trace)
        if key_id:
            req = dataclasses.replace(req, key_id=key_id)
        return response_proto(await engine.infer(req, time_remaining))

    def _check_keys(self, context: grpc.aio.ServicerContext, task: str, *, admit: bool = True) -> Principal:
        """Authenticate the call and count it against the key's rate limit (`admit`); refusals are
        counted as requests refused before routing."""
        keys = self._api_keys()
        try:
            caller = keys.check(context.invocation_metadata() if keys.enabled else None)
            if admit:
                self.engine.gate.admit(caller.key_id, caller.limits)
            return caller
        except RouterError as exc:
            if self.engine.metrics is not None:
                self.engine.metrics.rejected(task, exc)
            raise

    def _trace(self, name: str, context: grpc.aio.ServicerContext, request_id: str) -> Trace:
        """The request's trace, continuing the caller's ``traceparent`` (NO_TRACE when off)."""
        tracing = self.engine.tracing
        if not tracing.enabled:
            return NO_TRACE
        parent = traceparent_of(context.invocation_metadata())
        return tracing.start(name, parent, {"edgefleet.request_id": request_id, "rpc.system": "grpc"})

    async def Infer(
        self, request: router_pb2.InferRequest, context: grpc.aio.ServicerContext
    ) -> router_pb2.InferResponse:
        """One request, one response; failures as gRPC status."""
        trace = self._trace(INFER_SPAN, context, request.request_id)
        error: BaseException | None = None
        try:
            caller = self._check_keys(context, request.task)
            return await self._answer(request, context.time_remaining(), trace, caller.key_id)
        except RouterError as exc:
            error = exc
            await context.abort(status_of(exc), str(exc))
        except Exception as exc:
            error = exc
            log.exception("Infer failed", extra=log_ids(request.request_id, trace.trace_id))
            await context.abort(grpc.StatusCode.INTERNAL, "internal router error (see the router log)")
        finally:
            trace.end(error)
        raise AssertionError("unreachable")  # context.abort always raises

    async def _stream_one(
        self,
        msg: router_pb2.InferRequest,
        time_remaining: float | None,
        trace: Trace = NO_TRACE,
        caller: Principal | None = None,
    ) -> router_pb2.InferResponse:
        start = time.perf_counter()
        error: BaseException | None = None
        try:
            key_id = caller.key_id if caller is not None else ""
            return await self._answer(msg, time_remaining, trace, key_id, caller)
        except Exception as exc:
            error = exc
            if isinstance(exc, RouterError):
                code, text = exc.code, str(exc)
            else:
                log.exception("InferStream request failed", extra=log_ids(msg.request_id, trace.trace_id))
                code, text = "INTERNAL", "internal router error (see the router log)"
            return router_pb2.InferResponse(
                request_id=msg.request_id,
                latency_ms=(time.perf_counter() - start) * 1000.0,
                error=router_pb2.Error(code=code, message=text),
            )
        finally:
            trace.end(error)

    async def InferStream(
        self, request_iterator: AsyncIterator[router_pb2.InferRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[router_pb2.InferResponse]:
        """Many requests, responses as they complete (each carries its request_id).

        Bounded: at most ``router.limits.stream_window`` requests are routed or answered-but-unread
        at once; a slot frees only when its answer has been written to the client, so a client that
        stops reading stops the router reading its requests (gRPC flow control then holds the
        client's writes), and the router's memory for the stream stays bounded."""
        caller: Principal | None = None
        try:
            caller = self._check_keys(context, "", admit=False)
        except RouterError as exc:
            await context.abort(status_of(exc), str(exc))
        done: asyncio.Queue[router_pb2.InferResponse | None] = asyncio.Queue()
        slots = asyncio.Semaphore(self.engine.policy.router.limits.stream_window)
        tasks: set[asyncio.Task[None]] = set()

        async def run(msg: router_pb2.InferRequest) -> None:
            trace = self._trace(INFER_STREAM_SPAN, context, msg.request_id)
            done.put_nowait(await self._stream_one(msg, context.time_remaining(), trace, caller))

        async def read() -> None:
            try:
                async for msg in request_iterator:
                    await slots.acquire()
                    task = asyncio.create_task(run(msg))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                if tasks:
                    await asyncio.gather(*tasks, return_exceptions=True)
            finally:
                await done.put(None)

        reader = asyncio.create_task(read())
        try:
            while (item := await done.get()) is not None:
                yield item  # returns once the answer is written to the client
                slots.release()
        finally:
            reader.cancel()
            for task in list(tasks):
                task.cancel()

    async def Generate(
        self, request: router_pb2.GenerateRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[router_pb2.GenerateResponse]:
        """One conversation, the answer streamed (router.generate_servicer)."""
        responses = generate_responses(self.engine, self._api_keys(), request, context)
        async with aclosing(responses) as stream:
            async for response in stream:
                yield response
