"""KServe v2 (``inference.GRPCInferenceService``) for a retrieval collection, per the wire convention
in :mod:`edgefleet.kserve_retrieval`: texts in, each text's top-k passages, their hybrid, dense and
lexical scores and the query embedding out.

Like :class:`fleet.serving.kserve_server.KServeServicer`, retrieval runs in the server's worker
threads behind a semaphore of `slots` (the wait is reported as ``queue_ms``), and more than
`max_queue` outstanding requests are refused with RESOURCE_EXHAUSTED.
"""

from __future__ import annotations

import threading
import time
from typing import Any, NoReturn

import grpc
import numpy as np

from edgefleet import kserve_retrieval as kr
from edgefleet.kserve_codec import BadRequest, decode_texts, requested_outputs
from fleet.serving.retriever import QueryResult, RetrieverModel
from fleet.serving.serving_stats import ServingStats
from fleet.serving.text_protocol import SERVER_NAME, SERVER_VERSION
from protos.inference import grpc_service_pb2 as kserve_pb2
from protos.inference import grpc_service_pb2_grpc as kserve_grpc


def _abort(context: grpc.ServicerContext, code: grpc.StatusCode, message: str) -> NoReturn:
    context.abort(code, message)
    raise AssertionError("unreachable: context.abort raises")


class RetrieveServicer(kserve_grpc.GRPCInferenceServiceServicer):
    """Serves one collection; `model` None means not loaded (`load_error` says why)."""

    def __init__(
        self,
        model: RetrieverModel | None,
        *,
        node: str = "",
        replica: str = "",
        load_error: str | None = None,
        max_queue: int = 64,
        slots: int = 2,
        max_batch: int = 64,
    ) -> None:
        self.model = model
        self.max_batch = max_batch
        self.load_error = load_error
        self.node = node
        self.replica = replica
        self.max_queue = max_queue
        self.stats = ServingStats()
        self._slots = threading.Semaphore(slots)

    @property
    def ready(self) -> bool:
        """True when the collection is loaded."""
        return self.model is not None

    # -- server / model status -------------------------------------------------------------
    def ServerLive(self, request: Any, context: grpc.ServicerContext) -> kserve_pb2.ServerLiveResponse:
        return kserve_pb2.ServerLiveResponse(live=True)

    def ServerReady(self, request: Any, context: grpc.ServicerContext) -> kserve_pb2.ServerReadyResponse:
        return kserve_pb2.ServerReadyResponse(ready=self.ready)

    def ServerMetadata(
        self, request: Any, context: grpc.ServicerContext
    ) -> kserve_pb2.ServerMetadataResponse:
        return kserve_pb2.ServerMetadataResponse(name=SERVER_NAME, version=SERVER_VERSION, extensions=[])

    def ModelReady(self, request: Any, context: grpc.ServicerContext) -> kserve_pb2.ModelReadyResponse:
        if self.model is not None:
            self._check_model(request.name, request.version, context)
        return kserve_pb2.ModelReadyResponse(ready=self.ready)

    def ModelMetadata(self, request: Any, context: grpc.ServicerContext) -> kserve_pb2.ModelMetadataResponse:
        model = self._check_model(request.name, request.version, context)
        tensor = kserve_pb2.ModelMetadataResponse.TensorMetadata
        dim = model.spec.encoder.dim
        outputs = [tensor(name=kr.PASSAGES, datatype="BYTES", shape=[-1, -1])]
        outputs += [
            tensor(name=n, datatype="FP32", shape=[-1, -1])
            for n in (kr.SCORES, kr.DENSE_SCORES, kr.LEXICAL_SCORES)
        ]
        outputs.append(tensor(name=kr.EMBEDDING, datatype="FP32", shape=[-1, dim]))
        return kserve_pb2.ModelMetadataResponse(
            name=model.manifest.name,
            versions=[model.manifest.version],
            platform="edgefleet_retrieval",
            inputs=[tensor(name="TEXT", datatype="BYTES", shape=[-1])],
            outputs=outputs,
        )

    def _check_model(self, name: str, version: str, context: grpc.ServicerContext) -> RetrieverModel:
        model = self.model
        if model is None:
            _abort(
                context,
                grpc.StatusCode.UNAVAILABLE,
                f"collection not loaded: {self.load_error or 'starting'}",
            )
        if name != model.manifest.name:
            _abort(
                context,
                grpc.StatusCode.NOT_FOUND,
                f"unknown model {name!r}; this server serves the collection {model.manifest.name!r}",
            )
        if version and version != model.manifest.version:
            _abort(
                context,
                grpc.StatusCode.NOT_FOUND,
                f"collection {name!r} has no version {version!r}; this server serves {model.manifest.version!r}",
            )
        return model

    # -- inference -------------------------------------------------------------------------
    def ModelInfer(self, request: kserve_pb2.ModelInferRequest, context: grpc.ServicerContext) -> Any:
        started = time.perf_counter()
        model = self._check_model(request.model_name, request.model_version, context)
        inflight = self.stats.enter()
        ok = False
        try:
            if inflight > self.max_queue:
                _abort(
                    context,
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"replica {self.replica or '?'} has {inflight - 1} requests outstanding (max_queue "
                    f"{self.max_queue}); retry on another replica",
                )
            try:
                texts, raw = decode_texts(request)
                if len(texts) > self.max_batch:
                    raise BadRequest(
                        f"batch of {len(texts)} queries exceeds this replica's max_batch {self.max_batch}"
                    )
                k = kr.read_top_k(request)
                names = requested_outputs(request, kr.RETRIEVAL_OUTPUTS, kr.RETRIEVAL_OUTPUTS)
                queue_ms, results = self._retrieve(model, texts, k)
            except (BadRequest, ValueError) as exc:
                _abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            response = kserve_pb2.ModelInferResponse(
                model_name=model.manifest.name, model_version=model.manifest.version, id=request.id
            )
            values = _outputs(results)
            for name in names:
                kr.add_tensor(response, name, values[name], raw)
            params = response.parameters
            params["collection"].string_param = model.manifest.name
            params["collection_version"].string_param = model.manifest.version
            params["device"].string_param = model.device
            params["node"].string_param = self.node
            params["replica"].string_param = self.replica
            params["queue_ms"].double_param = queue_ms
            ok = True
            return response
        finally:
            self.stats.leave((time.perf_counter() - started) * 1000.0, ok)

    def _retrieve(self, model: RetrieverModel, texts: list[str], k: int) -> tuple[float, list[QueryResult]]:
        waited = time.perf_counter()
        self.stats.queued(+1)
        try:
            self._slots.acquire()
        finally:
            self.stats.queued(-1)
        queue_ms = (time.perf_counter() - waited) * 1000.0
        try:
            return queue_ms, model.retrieve(texts, k)
        finally:
            self._slots.release()


def _outputs(results: list[QueryResult]) -> dict[str, Any]:
    """Every output's value for a batch of query results (rows of equal width)."""
    passages = [[kr.passage_json(c.doc, c.chunk, c.title, c.text) for _, c in r.hits] for r in results]

    def scores(field: str) -> np.ndarray:
        return np.array([[getattr(h, field) for h, _ in r.hits] for r in results], dtype=np.float32).reshape(
            len(results), -1
        )

    return {
        kr.PASSAGES: passages,
        kr.SCORES: scores("score"),
        kr.DENSE_SCORES: scores("dense"),
        kr.LEXICAL_SCORES: scores("lexical"),
        kr.EMBEDDING: np.stack([r.embedding for r in results]).astype(np.float32),
    }
