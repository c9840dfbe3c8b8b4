"""KServe v2 (``inference.GRPCInferenceService``) for a retrieval collection, per the wire convention
in :mod:`edgefleet.kserve_retrieval`: texts in, each text's top-k passages, their hybrid, dense and
lexical scores and the query embedding out.

Like :class:`fleet.serving.kserve_server.KServeServicer`, retrieval runs in the server's worker
threads behind a semaphore of `slots` (the wait is reported as ``queue_ms``), and more than
`max_queue` outstanding requests are refused with RESOURCE_EXHAUSTED.
"""

from __future__ import annotations

import time
from typing import Any

import grpc
import numpy as np

from edgefleet import kserve_retrieval as kr
from edgefleet.kserve_codec import BadRequest, decode_texts, requested_outputs
from fleet.serving.retriever import QueryResult, RetrieverModel
from fleet.serving.servicer_base import InferenceSlots, ReplicaServicer, abort
from fleet.serving.serving_stats import ServingStats
from fleet.serving.text_protocol import queue_full
from protos.inference import grpc_service_pb2 as kserve_pb2


class RetrieveServicer(ReplicaServicer):
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
        self._slots = InferenceSlots(slots, self.stats)

    # -- model status ----------------------------------------------------------------------
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
            abort(
                context,
                grpc.StatusCode.UNAVAILABLE,
                f"collection not loaded: {self.load_error or 'starting'}",
            )
        if name != model.manifest.name:
            abort(
                context,
                grpc.StatusCode.NOT_FOUND,
                f"unknown model {name!r}; this server serves the collection {model.manifest.name!r}",
            )
        if version and version != model.manifest.version:
            abort(
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
            full = queue_full(self.replica, inflight, self.max_queue)
            if full is not None:
                abort(context, full.code, full.message)
            try:
                texts, raw = decode_texts(request)
                if len(texts) > self.max_batch:
                    raise BadRequest(
                        f"batch of {len(texts)} queries exceeds this replica's max_batch {self.max_batch}"
                    )
                k = kr.read_top_k(request)
                names = requested_outputs(request, kr.RETRIEVAL_OUTPUTS, kr.RETRIEVAL_OUTPUTS)
                queue_ms, results = self._slots.run(model.retrieve, texts, k)
            except (BadRequest, ValueError) as exc:
                abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
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
