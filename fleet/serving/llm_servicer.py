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
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any, NoReturn

import grpc

from edgefleet.generation import GenerationChunk, GenerationInputError, GenerationSummary
from edgefleet.kserve_codec import BadRequest
from edgefleet.kserve_llm import (
    FINAL_PARAM,
    LOGPROBS_OUTPUT,
    MESSAGES_INPUT,
    TEXT_INPUT,
    TEXT_OUTPUT,
    chunk_response,
    empty_final_response,
    read_generate_request,
    wants_empty_final,
)
from fleet.serving.kserve_server import SERVER_NAME, SERVER_VERSION
from fleet.serving.llm_engine import EngineBusy, EngineClosed, GenerationFailed
from fleet.serving.llm_model import LLMModel
from fleet.serving.llm_request import GenerationRequest
from fleet.serving.llm_stats import GenerationStats
from protos.inference import grpc_service_pb2 as kserve_pb2
from protos.inference import grpc_service_pb2_grpc as kserve_grpc

POLL_S = 0.25  # how often a waiting handler checks that its client is still there
_READER_DONE = object()
Item = tuple[int, GenerationChunk] | kserve_pb2.ModelStreamInferResponse | object


def _abort(context: grpc.ServicerContext, code: grpc.StatusCode, message: str) -> NoReturn:
    context.abort(code, message)
    raise AssertionError("unreachable: context.abort raises")


def _status_of(exc: Exception) -> grpc.StatusCode:
    if isinstance(exc, (BadRequest, GenerationInputError)):
        return grpc.StatusCode.INVALID_ARGUMENT
    if isinstance(exc, EngineBusy):
        return grpc.StatusCode.RESOURCE_EXHAUSTED
    if isinstance(exc, EngineClosed):
        return grpc.StatusCode.UNAVAILABLE
    return grpc.StatusCode.INTERNAL


class LLMServicer(kserve_grpc.GRPCInferenceServiceServicer):
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

    @property
    def ready(self) -> bool:
        """True when the model is loaded."""
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
            _abort(context, grpc.StatusCode.UNAVAILABLE, f"model not loaded: {self.load_error or 'starting'}")
        problem = self._model_problem(model, name, version)
        if problem:
            _abort(context, grpc.StatusCode.NOT_FOUND, problem)
        return model

    @staticmethod
    def _model_problem(model: LLMModel, name: str, version: str) -> str:
        m = model.manifest
        if name != m.name:
            return f"unknown model {name!r}; this server serves {m.name!r}"
        if version and version != m.version:
            return f"model {name!r} has no version {version!r}; this server serves {m.version!r}"
        return ""

    def _finish_params(self, response: kserve_pb2.ModelInferResponse, model: LLMModel) -> None:
        params = response.parameters
        params["device"].string_param = model.device
        params["node"].string_param = self.node
        params["replica"].string_param = self.replica

    def _submit(
        self, model: LLMModel, request: kserve_pb2.ModelInferRequest, sink: Callable[[GenerationChunk], None]
    ) -> GenerationRequest:
        messages, params = read_generate_request(request)
        return model.engine.submit(messages, params, sink)

    # -- unary -------------------------------------------------------------------------------
    def ModelInfer(self, request: kserve_pb2.ModelInferRequest, context: grpc.ServicerContext) -> Any:
        model = self._check_model(request.model_name, request.model_version, context)
        started = time.perf_counter()
        self.stats.enter()
        ok = False
        try:
            chunks: queue.SimpleQueue[GenerationChunk] = queue.SimpleQueue()
            try:
                generation = self._submit(model, request, chunks.put)
            except (BadRequest, GenerationInputError, EngineBusy, EngineClosed, GenerationFailed) as exc:
                _abort(context, _status_of(exc), str(exc))
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
                _abort(context, grpc.StatusCode.INTERNAL, generation.error or "generation failed")
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
            self._finish_params(response, model)
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
            _abort(context, grpc.StatusCode.UNAVAILABLE, f"model not loaded: {self.load_error or 'starting'}")
        stream = _Stream(self, model, context)
        reader = threading.Thread(target=stream.read_requests, args=(request_iterator,), daemon=True)
        reader.start()
        yield from stream.responses()


class _Entry:
    """One request of a stream: the KServe request, its empty-final wish and its generation."""

    __slots__ = ("empty_final", "generation", "request")

    def __init__(self, request: kserve_pb2.ModelInferRequest) -> None:
        self.request = request
        self.empty_final = wants_empty_final(request)
        self.generation: GenerationRequest | None = None


class _Stream:
    """One ModelStreamInfer call: a reader thread admits requests, the handler yields responses."""

    def __init__(self, servicer: LLMServicer, model: LLMModel, context: grpc.ServicerContext) -> None:
        self.servicer = servicer
        self.model = model
        self.context = context
        self.out: queue.SimpleQueue[Item] = queue.SimpleQueue()
        self.requests: dict[int, _Entry] = {}
        self.lock = threading.Lock()
        self.pending = 0
        self.closed = False
        context.add_callback(self.cancel_all)

    def cancel_all(self) -> None:
        """The call ended (client gone, deadline, or done): cancel whatever still runs."""
        with self.lock:
            self.closed = True
            running = [e.generation for e in self.requests.values() if e.generation is not None]
        for generation in running:
            generation.cancel()

    def read_requests(self, request_iterator: Iterator[kserve_pb2.ModelInferRequest]) -> None:
        try:
            for request in request_iterator:
                self.admit(request)
        except Exception:  # noqa: BLE001 - the client cancelled or broke the stream: stop reading
            pass
        finally:
            self.out.put(_READER_DONE)

    def admit(self, request: kserve_pb2.ModelInferRequest) -> None:
        servicer, stats = self.servicer, self.servicer.stats
        problem = servicer._model_problem(self.model, request.model_name, request.model_version)
        if problem:
            self.out.put(self.error(request, f"{grpc.StatusCode.NOT_FOUND.name}: {problem}"))
            return
        key = next(servicer._keys)
        started = time.perf_counter()

        def sink(chunk: GenerationChunk) -> None:
            if chunk.final:
                stats.leave((time.perf_counter() - started) * 1000.0, chunk.finish_reason != "error")
            self.out.put((key, chunk))

        entry = _Entry(request)
        with self.lock:
            if self.closed:
                return
            self.pending += 1
            self.requests[key] = entry  # before submit: its chunks may come at once
        stats.enter()
        try:
            entry.generation = servicer._submit(self.model, request, sink)
        except (BadRequest, GenerationInputError, EngineBusy, EngineClosed, GenerationFailed) as exc:
            stats.leave((time.perf_counter() - started) * 1000.0, False)
            with self.lock:
                self.pending -= 1
                del self.requests[key]
            self.out.put(self.error(request, f"{_status_of(exc).name}: {exc}"))
            return
        with self.lock:
            closed = self.closed
        if closed:
            entry.generation.cancel()

    def error(
        self, request: kserve_pb2.ModelInferRequest, message: str
    ) -> kserve_pb2.ModelStreamInferResponse:
        response = kserve_pb2.ModelStreamInferResponse(error_message=message)
        infer = response.infer_response
        infer.model_name, infer.model_version, infer.id = (
            request.model_name,
            request.model_version,
            request.id,
        )
        infer.parameters[FINAL_PARAM].bool_param = True
        return response

    def responses(self) -> Iterator[kserve_pb2.ModelStreamInferResponse]:
        reader_done = False
        while True:
            with self.lock:
                if reader_done and self.pending == 0:
                    return
            try:
                item = self.out.get(timeout=POLL_S)
            except queue.Empty:
                if not self.context.is_active():
                    self.cancel_all()
                    return
                continue
            if item is _READER_DONE:
                reader_done = True
            elif isinstance(item, kserve_pb2.ModelStreamInferResponse):
                yield item
            elif isinstance(item, tuple):
                key, chunk = item
                with self.lock:
                    entry = self.requests[key]
                    if chunk.final:
                        self.pending -= 1
                        del self.requests[key]
                yield from self.chunk_responses(entry, chunk)

    def chunk_responses(
        self, entry: _Entry, chunk: GenerationChunk
    ) -> Iterator[kserve_pb2.ModelStreamInferResponse]:
        request = entry.request
        m = self.model.manifest
        raw = bool(request.raw_input_contents)
        if chunk.final and chunk.finish_reason == "error":
            reason = (entry.generation.error if entry.generation else None) or "generation failed"
            yield self.error(request, f"{grpc.StatusCode.INTERNAL.name}: {reason}")
            return
        if chunk.final and entry.empty_final:
            if chunk.text or chunk.logprobs:
                part = replace(chunk, final=False)
                yield kserve_pb2.ModelStreamInferResponse(
                    infer_response=chunk_response(m.name, m.version, request.id, part, raw=raw)
                )
            response = empty_final_response(m.name, m.version, request.id, chunk)
        else:
            response = chunk_response(m.name, m.version, request.id, chunk, raw=raw)
        if chunk.final:
            self.servicer._finish_params(response, self.model)
        yield kserve_pb2.ModelStreamInferResponse(infer_response=response)
