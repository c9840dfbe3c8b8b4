"""One ``ModelStreamInfer`` call of an LLM replica, and the helpers it shares with ``ModelInfer``.

A reader thread admits each request of the stream into the engine as it arrives (requests of one
stream run concurrently); the handler thread yields one response per chunk, in arrival order, and
returns once the client has half-closed and every request has ended. When the call ends (client
gone, deadline) every request still running is cancelled.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import grpc

from edgefleet.generation import GenerationChunk, GenerationInputError
from edgefleet.kserve_codec import BadRequest
from edgefleet.kserve_llm import (
    FINAL_PARAM,
    chunk_response,
    empty_final_response,
    read_generate_request,
    wants_empty_final,
)
from fleet.serving.llm_engine import EngineBusy, EngineClosed, GenerationFailed
from fleet.serving.llm_model import LLMModel
from fleet.serving.llm_request import ChunkSink, GenerationRequest
from fleet.serving.llm_stats import GenerationStats
from protos.inference import grpc_service_pb2 as kserve_pb2

POLL_S = 0.25  # how often a waiting handler checks that its client is still there
ADMISSION_ERRORS = (BadRequest, GenerationInputError, EngineBusy, EngineClosed, GenerationFailed)
_READER_DONE = object()
Item = tuple[int, GenerationChunk] | kserve_pb2.ModelStreamInferResponse | object


def status_of(exc: Exception) -> grpc.StatusCode:
    """The gRPC status of an admission error."""
    if isinstance(exc, (BadRequest, GenerationInputError)):
        return grpc.StatusCode.INVALID_ARGUMENT
    if isinstance(exc, EngineBusy):
        return grpc.StatusCode.RESOURCE_EXHAUSTED
    if isinstance(exc, EngineClosed):
        return grpc.StatusCode.UNAVAILABLE
    return grpc.StatusCode.INTERNAL


def model_problem(model: LLMModel, name: str, version: str) -> str:
    """Why a request naming `name`/`version` is not for this model ('' when it is)."""
    m = model.manifest
    if name != m.name:
        return f"unknown model {name!r}; this server serves {m.name!r}"
    if version and version != m.version:
        return f"model {name!r} has no version {version!r}; this server serves {m.version!r}"
    return ""


def submit(model: LLMModel, request: kserve_pb2.ModelInferRequest, sink: ChunkSink) -> GenerationRequest:
    """Admit a KServe request into the model's engine (raises one of ADMISSION_ERRORS)."""
    messages, params = read_generate_request(request)
    return model.engine.submit(messages, params, sink)


def finish_params(response: kserve_pb2.ModelInferResponse, model: LLMModel, node: str, replica: str) -> None:
    """Where the answer came from, on a final response."""
    params = response.parameters
    params["device"].string_param = model.device
    params["node"].string_param = node
    params["replica"].string_param = replica


class _Entry:
    """One request of a stream: the KServe request, its empty-final wish and its generation."""

    __slots__ = ("empty_final", "generation", "request")

    def __init__(self, request: kserve_pb2.ModelInferRequest) -> None:
        self.request = request
        self.empty_final = wants_empty_final(request)
        self.generation: GenerationRequest | None = None


class GenerateStream:
    """One ModelStreamInfer call: a reader thread admits requests, the handler yields responses."""

    def __init__(
        self,
        model: LLMModel,
        context: grpc.ServicerContext,
        stats: GenerationStats,
        keys: Iterator[int],
        where: tuple[str, str],
    ) -> None:
        self.model = model
        self.context = context
        self.stats = stats
        self.keys = keys
        self.where = where  # (node, replica) for the final response's parameters
        self.out: queue.SimpleQueue[Item] = queue.SimpleQueue()
        self.requests: dict[int, _Entry] = {}
        self.lock = threading.Lock()
        self.pending = 0
        self.closed = False
        context.add_callback(self.cancel_all)

    def run(
        self, request_iterator: Iterator[kserve_pb2.ModelInferRequest]
    ) -> Iterator[kserve_pb2.ModelStreamInferResponse]:
        """Read requests in a thread of their own; yield the responses."""
        threading.Thread(target=self.read_requests, args=(request_iterator,), daemon=True).start()
        yield from self.responses()

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
        stats = self.stats
        problem = model_problem(self.model, request.model_name, request.model_version)
        if problem:
            self.out.put(self.error(request, f"{grpc.StatusCode.NOT_FOUND.name}: {problem}"))
            return
        key = next(self.keys)
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
            entry.generation = submit(self.model, request, sink)
        except ADMISSION_ERRORS as exc:
            stats.leave((time.perf_counter() - started) * 1000.0, False)
            with self.lock:
                self.pending -= 1
                del self.requests[key]
            self.out.put(self.error(request, f"{status_of(exc).name}: {exc}"))
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
            finish_params(response, self.model, *self.where)
        yield kserve_pb2.ModelStreamInferResponse(infer_response=response)
