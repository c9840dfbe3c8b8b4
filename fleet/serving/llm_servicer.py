"""KServe v2 (``inference.GRPCInferenceService``) for a generative model, per the wire convention in
:mod:`edgefleet.kserve_llm`.

``ModelInfer`` answers a request with the whole answer. ``ModelStreamInfer`` answers each request
of the stream with one response per chunk, the last one flagged ``triton_final_response`` (or, when
the request sets ``triton_enable_empty_final_response``, followed by an empty final response), so
``tritonclient.grpc``'s ``start_stream``/``async_stream_infer`` works. Requests on one stream run
concurrently. A problem with one request is answered as ``error_message`` (prefixed with the gRPC
status it would have, e.g. ``INVALID_ARGUMENT: ...``) and the stream goes on; a model that is not
loaded aborts the stream with UNAVAILABLE. When the client goes away (cancel, deadline, closed
channel) every request of its call is cancelled in the engine, which frees its KV cache.
"""

from __future__ import annotations

import itertools
import queue
import time
from collections.abc import Iterator
from typing import Any

import grpc

from edgefleet.generation import GenerationChunk, GenerationSummary
from edgefleet.kserve_llm import LOGPROBS_OUTPUT, MESSAGES_INPUT, TEXT_INPUT, TEXT_OUTPUT, chunk_response
from fleet.serving.llm_model import LLMModel
from fleet.serving.llm_stats import GenerationStats
from fleet.serving.llm_stream import (
    ADMISSION_ERRORS,
    POLL_S,
    GenerateStream,
    finish_params,
    model_problem,
    status_of,
    submit,
)
from fleet.serving.servicer_base import ReplicaServicer, abort
from protos.inference import grpc_service_pb2 as kserve_pb2


class LLMServicer(ReplicaServicer):
    """Serves one generative model; `model` None means not loaded (`load_error` says why)."""

    def __init__(
        self,
        model: LLMModel | None,
        *,
        node: str = "",
        replica: str = "",
        load_error: str | None = None,
        max_queue: int = 64,
    ) -> None:
        self.model = model
        self.load_error = load_error
        self.node = node
        self.replica = replica
        self.max_queue = max_queue
        self.stats: GenerationStats = model.engine.stats if model is not None else GenerationStats()
        self._keys = itertools.count(1)

    # -- model status ----------------------------------------------------------------------
    def ModelMetadata(self, request: Any, context: grpc.ServicerContext) -> kserve_pb2.ModelMetadataResponse:
        model = self._check_model(request.name, request.version, context)
        tensor = kserve_pb2.ModelMetadataResponse.TensorMetadata
        return kserve_pb2.ModelMetadataResponse(
            name=model.manifest.name,
            versions=[model.manifest.version],
            platform="openvino_genai",
            inputs=[
                tensor(name=TEXT_INPUT, datatype="BYTES", shape=[1]),
                tensor(name=MESSAGES_INPUT, datatype="BYTES", shape=[1]),
            ],
            outputs=[
                tensor(name=TEXT_OUTPUT, datatype="BYTES", shape=[1]),
                tensor(name=LOGPROBS_OUTPUT, datatype="FP32", shape=[-1]),
            ],
        )

    def _check_model(self, name: str, version: str, context: grpc.ServicerContext) -> LLMModel:
        model = self.model
        if model is None:
            abort(context, grpc.StatusCode.UNAVAILABLE, f"model not loaded: {self.load_error or 'starting'}")
        problem = model_problem(model, name, version)
        if problem:
            abort(context, grpc.StatusCode.NOT_FOUND, problem)
        return model

    # -- unary -------------------------------------------------------------------------------
    def ModelInfer(self, request: kserve_pb2.ModelInferRequest, context: grpc.ServicerContext) -> Any:
        model = self._check_model(request.model_name, request.model_version, context)
        started = time.perf_counter()
        self.stats.enter()
        ok = False
        try:
            chunks: queue.SimpleQueue[GenerationChunk] = queue.SimpleQueue()
            try:
                generation = submit(model, request, chunks.put)
            except ADMISSION_ERRORS as exc:
                abort(context, status_of(exc), str(exc))
            context.add_callback(generation.cancel)  # the client went away: stop generating
            summary = GenerationSummary()
            while summary.finish_reason is None:
                try:
                    summary.add(chunks.get(timeout=POLL_S))
                except queue.Empty:
                    if not context.is_active():
                        generation.cancel()
                        return kserve_pb2.ModelInferResponse()
            if summary.finish_reason == "error":
                abort(context, grpc.StatusCode.INTERNAL, generation.error or "generation failed")
            final = GenerationChunk(
                text=summary.text,
                logprobs=tuple(summary.logprobs),
                final=True,
                finish_reason=summary.finish_reason,
                prompt_tokens=summary.prompt_tokens,
                completion_tokens=summary.completion_tokens,
            )
            response = chunk_response(
                model.manifest.name,
                model.manifest.version,
                request.id,
                final,
                raw=bool(request.raw_input_contents),
            )
            finish_params(response, model, self.node, self.replica)
            ok = True
            return response
        finally:
            self.stats.leave((time.perf_counter() - started) * 1000.0, ok)

    # -- streaming ---------------------------------------------------------------------------
    def ModelStreamInfer(
        self, request_iterator: Iterator[kserve_pb2.ModelInferRequest], context: grpc.ServicerContext
    ) -> Iterator[kserve_pb2.ModelStreamInferResponse]:
        model = self.model
        if model is None:
            abort(context, grpc.StatusCode.UNAVAILABLE, f"model not loaded: {self.load_error or 'starting'}")
        stream = GenerateStream(model, context, self.stats, self._keys, (self.node, self.replica))
        yield from stream.run(request_iterator)
