"""KServe v2 over one :class:`fleet.serving.runtime.TextModel` on a grpc.aio server, with dynamic
batching (:class:`fleet.serving.batcher.DynamicBatcher`).

The threaded server of :mod:`fleet.serving.kserve_server` hands every request to a worker thread
and back, and contends for the GIL with gRPC's own threads; here requests are decoded on the
server's event loop (its own thread, uvloop when installed), queued, and coalesced into one
inference per batch. :class:`AioKServeEndpoint` owns that loop thread, so a plain (non-async)
caller such as a Ray actor starts and stops it like the threaded endpoint; :func:`serve_kserve`
starts one without Ray, for tests and benchmarks.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health, health_pb2

from edgefleet.kserve_codec import BadRequest
from edgefleet.policy.batching_options import BatchingOptions
from edgefleet.replica_guard import ReplicaGuard
from fleet.serving.batcher import DynamicBatcher
from fleet.serving.kserve_server import SERVICE_NAME, SPARE_THREADS, add_services, bind_port, message_limits
from fleet.serving.replica_auth import AioFleetTokenInterceptor
from fleet.serving.runtime import TextModel
from fleet.serving.serving_stats import ServingStats
from fleet.serving.text_protocol import (
    SERVER_NAME,
    SERVER_VERSION,
    decode_request,
    infer_response,
    metadata_response,
    model_problem,
    offered_outputs,
    queue_full,
)
from protos.aio_guard import MalformedRequestInterceptor
from protos.inference import grpc_service_pb2 as kserve_pb2
from protos.inference import grpc_service_pb2_grpc as kserve_grpc

T = TypeVar("T")


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop when installed (less per-callback overhead), else asyncio's."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency; still optional here
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class AioKServeServicer(kserve_grpc.GRPCInferenceServiceServicer):
    """Serves exactly one text model; `model` None means not loaded (`load_error` says why)."""

    def __init__(
        self,
        model: TextModel | None,
        *,
        node: str = "",
        replica: str = "",
        load_error: str | None = None,
        max_queue: int = 64,
        batching: BatchingOptions | None = None,
        stats: ServingStats | None = None,
        max_batch: int = 64,
    ) -> None:
        """`max_batch`: most texts in one ModelInfer request (more: INVALID_ARGUMENT); `batching`:
        how concurrent requests are merged into one inference."""
        self.model = model
        self.max_batch = max_batch
        self.load_error = load_error
        self.node = node
        self.replica = replica
        self.max_queue = max_queue
        self.stats = stats or ServingStats()
        self._outputs = offered_outputs(model)
        self.batcher: DynamicBatcher | None = None
        if model is not None:
            # hashed n-gram featurisation is Python (GIL-bound): a worker thread would only add hand-offs
            inline = model.manifest.featurizer.get("kind") == "hashed"
            self.batcher = DynamicBatcher(model.infer, batching, stats=self.stats, inline=inline)

    @property
    def ready(self) -> bool:
        """True when the model is loaded."""
        return self.model is not None

    async def ServerLive(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return kserve_pb2.ServerLiveResponse(live=True)

    async def ServerReady(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return kserve_pb2.ServerReadyResponse(ready=self.ready)

    async def ServerMetadata(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return kserve_pb2.ServerMetadataResponse(name=SERVER_NAME, version=SERVER_VERSION, extensions=[])

    async def ModelReady(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        await self._check_model(request.name, request.version, context, need_ready=False)
        return kserve_pb2.ModelReadyResponse(ready=self.ready)

    async def ModelMetadata(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        model = await self._check_model(request.name, request.version, context, need_ready=True)
        return metadata_response(model, self._outputs)

    async def ModelInfer(
        self, request: kserve_pb2.ModelInferRequest, context: grpc.aio.ServicerContext
    ) -> Any:
        started = time.perf_counter()
        model = await self._check_model(request.model_name, request.model_version, context, need_ready=True)
        stats = self.stats
        inflight = stats.enter()
        ok = False
        try:
            full = queue_full(self.replica, inflight, self.max_queue)
            if full is not None:
                await context.abort(full.code, full.message)
            try:
                decoded = decode_request(request, model, self._outputs, self.max_batch)
            except (BadRequest, ValueError) as exc:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            assert self.batcher is not None
            try:
                queue_ms, outputs = await self.batcher.submit(decoded.texts)
            except ValueError as exc:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            response = infer_response(
                request, model, decoded, outputs, node=self.node, replica=self.replica, queue_ms=queue_ms
            )
            ok = True
            return response
        finally:
            stats.leave((time.perf_counter() - started) * 1000.0, ok)

    async def _check_model(
        self, name: str, version: str, context: grpc.aio.ServicerContext, need_ready: bool
    ) -> TextModel:
        problem = model_problem(self.model, self.load_error, name, version, need_ready)
        if problem is not None:
            await context.abort(problem.code, problem.message)
        return self.model  # type: ignore[return-value]  # None only where need_ready is False


class AioKServeEndpoint:
    """A grpc.aio KServe v2 server (+ health + reflection) on its own event-loop thread; `guard`
    (default: no token, plaintext, default limits) sets the fleet token every call must carry, TLS
    and the largest message received or sent."""

    def __init__(
        self,
        servicer: AioKServeServicer,
        host: str = "127.0.0.1",
        port: int = 0,
        guard: ReplicaGuard | None = None,
    ) -> None:
        self.servicer = servicer
        self.guard = guard or ReplicaGuard()
        self._loop = new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="kserve-aio", daemon=True)
        self._thread.start()
        self.health = health.aio.HealthServicer()
        self._stopped = threading.Event()
        try:
            self.server, self.port = self._call(self._start(host, port), 30.0)
        except BaseException:
            self._loop.call_soon_threadsafe(self._loop.stop)
            raise
        self.set_serving(servicer.ready)

    def _call(self, coro: Coroutine[Any, Any, T], timeout_s: float) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout_s)

    async def _start(self, host: str, port: int) -> tuple[grpc.aio.Server, int]:
        guard = self.guard
        server = grpc.aio.server(
            options=message_limits(guard),
            maximum_concurrent_rpcs=self.servicer.max_queue + SPARE_THREADS,
            interceptors=[
                *([AioFleetTokenInterceptor(guard.token)] if guard.token else []),
                MalformedRequestInterceptor(),
            ],
        )
        add_services(server, self.servicer, self.health)
        bound = bind_port(server, host, port, guard)
        await server.start()
        return server, bound

    def set_serving(self, serving: bool) -> None:
        """Publish the gRPC health status of the server and the KServe service."""
        status = (
            health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        )

        async def publish() -> None:
            for service in ("", SERVICE_NAME):
                await self.health.set(service, status)

        self._call(publish(), 5.0)

    def stop(self, grace_s: float | None = 2.0) -> threading.Event:
        """Graceful stop: refuse new RPCs, let running ones finish within `grace_s`; the returned
        event is set once the server and its loop have stopped."""
        if self._stopped.is_set() or not self._thread.is_alive():
            self._stopped.set()
            return self._stopped

        async def shutdown() -> None:
            with contextlib.suppress(Exception):
                for service in ("", SERVICE_NAME):
                    await self.health.set(service, health_pb2.HealthCheckResponse.NOT_SERVING)
            await self.server.stop(grace_s)
            if self.servicer.batcher is not None:
                await self.servicer.batcher.close()

        def done(_: Any) -> None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._stopped.set()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).add_done_callback(done)
        return self._stopped


def serve_kserve(
    model: TextModel | None,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    node: str = "",
    replica: str = "",
    load_error: str | None = None,
    max_queue: int = 64,
    batching: BatchingOptions | None = None,
    guard: ReplicaGuard | None = None,
) -> tuple[AioKServeEndpoint, int]:
    """Serve `model` over KServe v2 gRPC (grpc.aio, dynamic batching) on host:port (0 = any free
    port), protected by `guard` (see :class:`AioKServeEndpoint`); returns (endpoint, port). Stop it
    with ``endpoint.stop(grace).wait()``."""
    guard = guard or ReplicaGuard()
    servicer = AioKServeServicer(
        model,
        node=node,
        replica=replica,
        load_error=load_error,
        max_queue=max_queue,
        batching=batching,
        max_batch=guard.max_batch,
    )
    endpoint = AioKServeEndpoint(servicer, host, port, guard=guard)
    return endpoint, endpoint.port
