"""KServe v2 (``inference.GRPCInferenceService``) over one :class:`fleet.serving.runtime.TextModel`.

The servicer only translates proto <-> numpy (:mod:`edgefleet.kserve_codec`); inference runs in the
gRPC server's worker threads (OpenVINO releases the GIL), gated by a semaphore of `slots` so the
time spent waiting for a slot is reported as ``queue_ms`` and more than `max_queue` outstanding
requests are refused with RESOURCE_EXHAUSTED. :func:`start_kserve` starts a server (with gRPC
health checking and server reflection) for any servicer: LLM and retriever replicas use it. Text
models are served by :mod:`fleet.serving.kserve_aio` (grpc.aio, dynamic batching);
:func:`serve_kserve_threaded` serves one here, on the thread pool, for comparison in benchmarks.
"""

from __future__ import annotations

import time
from concurrent import futures
from dataclasses import dataclass
from typing import Any, Protocol

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from edgefleet.kserve_codec import BadRequest
from edgefleet.replica_guard import ReplicaGuard
from fleet.serving.grpc_guard import MalformedRequestInterceptor
from fleet.serving.replica_auth import FleetTokenInterceptor, server_credentials
from fleet.serving.runtime import TextModel
from fleet.serving.servicer_base import InferenceSlots, ReplicaServicer, abort
from fleet.serving.serving_stats import ServingStats
from fleet.serving.text_protocol import (
    decode_request,
    infer_response,
    metadata_response,
    model_problem,
    offered_outputs,
    queue_full,
)
from protos.inference import grpc_service_pb2 as kserve_pb2
from protos.inference import grpc_service_pb2_grpc as kserve_grpc

SERVICE_NAME = "inference.GRPCInferenceService"
SPARE_THREADS = 4  # beyond max_queue: health checks, metadata, reflection
MAX_THREADS = 32  # more threads only contend for the GIL; the rest wait inside gRPC


class InferenceServicer(Protocol):
    """What :func:`start_kserve` needs of a servicer (this module's, or the LLM one in
    :mod:`fleet.serving.llm_servicer`)."""

    max_queue: int

    @property
    def stats(self) -> ServingStats:
        """The servicer's serving statistics."""
        ...

    @property
    def ready(self) -> bool:
        """True when the model is loaded."""
        ...


class KServeServicer(ReplicaServicer):
    """Serves exactly one model; `model` None means not loaded (`load_error` says why)."""

    def __init__(
        self,
        model: TextModel | None,
        *,
        node: str = "",
        replica: str = "",
        load_error: str | None = None,
        max_queue: int = 64,
        slots: int = 2,
        stats: ServingStats | None = None,
        max_batch: int = 64,
    ) -> None:
        """`max_batch`: most texts in one ModelInfer request (more: INVALID_ARGUMENT)."""
        self.model = model
        self.max_batch = max_batch
        self.load_error = load_error
        self.node = node
        self.replica = replica
        self.max_queue = max_queue
        self.stats = stats or ServingStats()
        self._slots = InferenceSlots(slots, self.stats)
        self._outputs = offered_outputs(model)

    # -- model status ----------------------------------------------------------------------
    def ModelMetadata(self, request: Any, context: grpc.ServicerContext) -> kserve_pb2.ModelMetadataResponse:
        model = self._check_model(request.name, request.version, context)
        return metadata_response(model, self._outputs)

    # -- inference -------------------------------------------------------------------------
    def ModelInfer(self, request: kserve_pb2.ModelInferRequest, context: grpc.ServicerContext) -> Any:
        started = time.perf_counter()
        model = self._check_model(request.model_name, request.model_version, context)
        inflight = self.stats.enter()
        ok = False
        try:
            full = queue_full(self.replica, inflight, self.max_queue)
            if full is not None:
                context.abort(full.code, full.message)
            try:
                decoded = decode_request(request, model, self._outputs, self.max_batch)
                self.stats.batch(len(decoded.texts))
                queue_ms, outputs = self._slots.run(model.infer, decoded.texts)
            except (BadRequest, ValueError) as exc:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            response = infer_response(
                request, model, decoded, outputs, node=self.node, replica=self.replica, queue_ms=queue_ms
            )
            ok = True
            return response
        finally:
            self.stats.leave((time.perf_counter() - started) * 1000.0, ok)

    def _check_model(self, name: str, version: str, context: grpc.ServicerContext) -> TextModel:
        model = self.model
        problem = model_problem(model, self.load_error, name, version, need_ready=True)
        if problem is not None:
            abort(context, problem.code, problem.message)
        assert model is not None  # model_problem reports a model that is not loaded
        return model


@dataclass
class KServeEndpoint:
    """A running KServe v2 gRPC server: the server, its port, servicer and health servicer."""

    server: grpc.Server
    port: int
    servicer: InferenceServicer
    health: health.HealthServicer

    def set_serving(self, serving: bool) -> None:
        """Publish the gRPC health status of the server and the KServe service."""
        status = (
            health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for service in ("", SERVICE_NAME):
            self.health.set(service, status)

    def stop(self, grace_s: float = 2.0) -> None:
        """Graceful stop: refuse new RPCs, let running ones finish within `grace_s`."""
        self.set_serving(False)
        self.server.stop(grace_s).wait(grace_s + 1.0)


def message_limits(guard: ReplicaGuard) -> list[tuple[str, int]]:
    """gRPC options: the largest message a replica receives or sends (``fleet.kserve``)."""
    size = guard.max_message_bytes
    return [("grpc.max_receive_message_length", size), ("grpc.max_send_message_length", size)]


def add_services(server: Any, servicer: Any, health_servicer: Any) -> None:
    """KServe v2, gRPC health and server reflection on `server` (threaded or grpc.aio)."""
    kserve_grpc.add_GRPCInferenceServiceServicer_to_server(servicer, server)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
        server,
    )


def bind_port(server: Any, host: str, port: int, guard: ReplicaGuard) -> int:
    """Bind `server` (threaded or grpc.aio) to host:port, with TLS when `guard` has it; the port."""
    credentials = server_credentials(guard)
    if credentials is None:
        bound = int(server.add_insecure_port(f"{host}:{port}"))
    else:
        bound = int(server.add_secure_port(f"{host}:{port}", credentials))
    if bound == 0:
        raise OSError(f"cannot bind KServe gRPC server to {host}:{port}")
    return bound


def start_kserve(
    servicer: InferenceServicer,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    max_workers: int | None = None,
    guard: ReplicaGuard | None = None,
) -> KServeEndpoint:
    """Start a gRPC server for `servicer` (+ health + reflection) on host:port (0 = any).

    gRPC refuses more than `max_queue` (+ a few for health and metadata) concurrent RPCs with
    RESOURCE_EXHAUSTED. Up to `max_workers` (default min(max_queue + 4, 32)) of them run in
    threads, where waiting for an inference slot is measured (queue depth, ``queue_ms``).
    `guard` (default: no token, plaintext, default limits) sets the fleet token every call must
    carry, TLS, and the largest message received or sent.
    """
    guard = guard or ReplicaGuard()
    limit = servicer.max_queue + SPARE_THREADS
    workers = max_workers or min(limit, MAX_THREADS)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kserve"),
        options=message_limits(guard),
        maximum_concurrent_rpcs=limit,
        interceptors=[
            *([FleetTokenInterceptor(guard.token)] if guard.token else []),
            MalformedRequestInterceptor(),
        ],
    )
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    add_services(server, servicer, health_servicer)
    bound = bind_port(server, host, port, guard)
    server.start()
    endpoint = KServeEndpoint(server, bound, servicer, health_servicer)
    endpoint.set_serving(servicer.ready)
    return endpoint


def serve_kserve_threaded(
    model: TextModel | None,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    node: str = "",
    replica: str = "",
    load_error: str | None = None,
    max_queue: int = 64,
    max_workers: int | None = None,
) -> tuple[grpc.Server, int]:
    """Serve `model` over KServe v2 gRPC on the threaded server (no dynamic batching; for comparison
    with :func:`fleet.serving.kserve_aio.serve_kserve`) on host:port (0 = any free port); returns (server, port).

    Stop it with ``server.stop(grace)``.
    """
    servicer = KServeServicer(model, node=node, replica=replica, load_error=load_error, max_queue=max_queue)
    endpoint = start_kserve(servicer, host, port, max_workers=max_workers)
    return endpoint.server, endpoint.port
