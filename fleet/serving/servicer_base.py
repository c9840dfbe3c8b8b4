"""What the threaded KServe v2 servicers of a replica share (text models in
:mod:`fleet.serving.kserve_server`, LLMs in :mod:`fleet.serving.llm_servicer`, collections in
:mod:`fleet.serving.retrieve_servicer`): the server status RPCs, ``ModelReady``, an abort that
type-checks as not returning, and the inference slots whose wait is reported as ``queue_ms``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import grpc

from fleet.serving.serving_stats import ServingStats
from fleet.serving.text_protocol import SERVER_NAME, SERVER_VERSION
from protos.inference import grpc_service_pb2 as kserve_pb2
from protos.inference import grpc_service_pb2_grpc as kserve_grpc

T = TypeVar("T")


def abort(context: grpc.ServicerContext, code: grpc.StatusCode, message: str) -> NoReturn:
    """End the RPC with `code` (``context.abort`` raises; this says so to the type checker)."""
    context.abort(code, message)
    raise AssertionError("unreachable: context.abort raises")


class ReplicaServicer(kserve_grpc.GRPCInferenceServiceServicer):
    """The status RPCs of a servicer of one model; `model` None means not loaded. Subclasses set
    ``model`` and implement :meth:`_check_model` (and the inference RPCs)."""

    model: Any

    @property
    def ready(self) -> bool:
        """True when the model is loaded."""
        return self.model is not None

    def _check_model(self, name: str, version: str, context: grpc.ServicerContext) -> Any:
        """The loaded model when `name`/`version` ask for it; else abort (UNAVAILABLE, NOT_FOUND)."""
        raise NotImplementedError

    def ServerLive(self, request: Any, context: grpc.ServicerContext) -> kserve_pb2.ServerLiveResponse:
        return kserve_pb2.ServerLiveResponse(live=True)

    def ServerReady(self, request: Any, context: grpc.ServicerContext) -> kserve_pb2.ServerReadyResponse:
        return kserve_pb2.ServerReadyResponse(ready=self.ready)

    def ServerMetadata(
        self, request: Any, context: grpc.ServicerContext
    ) -> kserve_pb2.ServerMetadataResponse:
        return kserve_pb2.ServerMetadataResponse(name=SERVER_NAME, version=SERVER_VERSION, extensions=[])

    def ModelReady(self, request: Any, context: grpc.ServicerContext) -> kserve_pb2.ModelReadyResponse:
        if self.model is not None:  # a loaded replica still says NOT_FOUND for another model
            self._check_model(request.name, request.version, context)
        return kserve_pb2.ModelReadyResponse(ready=self.ready)


class InferenceSlots:
    """At most `slots` inferences at once; the time a call waited for its slot is its ``queue_ms``
    (and the number waiting is in `stats`)."""

    def __init__(self, slots: int, stats: ServingStats) -> None:
        self._slots = threading.Semaphore(slots)
        self._stats = stats

    def run(self, fn: Callable[..., T], *args: Any) -> tuple[float, T]:
        """(ms waited for a slot, ``fn(*args)``)."""
        waited = time.perf_counter()
        self._stats.queued(+1)
        try:
            self._slots.acquire()
        finally:
            self._stats.queued(-1)
        queue_ms = (time.perf_counter() - waited) * 1000.0
        try:
            return queue_ms, fn(*args)
        finally:
            self._slots.release()
