"""The edge LLM engine: admission, one generation thread, per-request streams and cancellation.

:class:`BatchingEngine` drives a continuous-batching pipeline from ONE step thread: every
``step()`` advances all running requests, then each request's new tokens are decoded, checked for
stop strings and handed to its sink as a :class:`GenerationChunk`.
:class:`fleet.serving.llm_serial.SerialEngine` runs a pipeline that generates one request at a
time (OpenVINO's LLMPipeline, for comparison).

Both admit a request only if it fits: valid messages and sampling settings, prompt tokens plus
``max_tokens`` within the context (else :class:`GenerationInputError`), fewer than ``max_queue``
requests outstanding (else :class:`EngineBusy`). A sink is called from the engine thread and must
not block (``queue.put``, ``loop.call_soon_threadsafe``); ContinuousBatchingPipeline.step() holds
the GIL, so the per-step Python work is kept to a few calls per request.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import queue
import threading
from collections.abc import AsyncIterator, Iterator, Sequence

from edgefleet.generation import (
    ChatMessage,
    GenerationChunk,
    GenerationInputError,
    GenerationSummary,
    SamplingParams,
    check_messages,
    check_sampling,
    raw_prompt,
)
from edgefleet.policy.llm_options import LLMOptions
from fleet.errors import FleetError
from fleet.serving.llm_request import ChunkSink, GenerationRequest
from fleet.serving.llm_stats import GenerationStats
from fleet.serving.llm_types import BatchPipeline, EncodedPrompt, GenTokenizer, HandleStatus

log = logging.getLogger("edgefleet.llm")
CHARS_PER_TOKEN_LIMIT = 16  # a prompt with more characters than this x context cannot fit


class EngineBusy(FleetError):
    """Too many requests outstanding (RESOURCE_EXHAUSTED)."""


class EngineClosed(FleetError):
    """The engine has been closed (UNAVAILABLE)."""


class GenerationFailed(FleetError):
    """The pipeline could not serve a request it had admitted (e.g. the KV cache cannot hold it)."""


class LLMEngine:
    """What both engines share; see the module docstring."""

    def __init__(
        self,
        tokenizer: GenTokenizer,
        *,
        context_length: int,
        options: LLMOptions | None = None,
        max_queue: int = 64,
        stats: GenerationStats | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.context_length = context_length
        self.options = options or LLMOptions()
        self.max_queue = max_queue
        self.stats = stats or GenerationStats()
        self._ids = itertools.count(1)
        self._admit_lock = threading.Lock()
        self._outstanding = 0
        self._closing = False

    # -- admission ---------------------------------------------------------------------------
    def prepare(self, messages: Sequence[ChatMessage], params: SamplingParams) -> EncodedPrompt:
        """Validate and template a request and count its prompt tokens; GenerationInputError
        (INVALID_ARGUMENT) names what is wrong."""
        ctx = self.context_length
        msgs = check_messages(messages, max_chars=ctx * CHARS_PER_TOKEN_LIMIT)
        check_sampling(params, min(self.options.max_tokens_limit, max(1, ctx - 1)))
        text = self.tokenizer.apply_chat_template(msgs) if params.chat_template else raw_prompt(msgs)
        prompt = self.tokenizer.encode(text)
        if prompt.tokens >= ctx:  # GGUF tokenizers truncate at the context length: then "at least"
            at_least = "at least " if prompt.tokens == ctx else ""
            raise GenerationInputError(
                f"the prompt has {at_least}{prompt.tokens} tokens; the model's context is {ctx} tokens"
            )
        if prompt.tokens + params.max_tokens > ctx:
            raise GenerationInputError(
                f"the prompt has {prompt.tokens} tokens and max_tokens is {params.max_tokens}: "
                f"{prompt.tokens + params.max_tokens} > the model's context of {ctx} tokens; "
                f"ask for at most {ctx - prompt.tokens} tokens or shorten the prompt"
            )
        return prompt

    def submit(
        self, messages: Sequence[ChatMessage], params: SamplingParams, sink: ChunkSink
    ) -> GenerationRequest:
        """Admit a request; its chunks go to `sink` (from the engine thread), the last one with
        ``final`` set. Raises GenerationInputError, EngineBusy or EngineClosed."""
        if self._closing:
            raise EngineClosed("the LLM engine is shutting down")
        prompt = self.prepare(messages, params)
        with self._admit_lock:
            if self._outstanding >= self.max_queue:
                raise EngineBusy(
                    f"{self._outstanding} generation requests outstanding (max_queue {self.max_queue}); "
                    "retry on another replica"
                )
            self._outstanding += 1
        request = GenerationRequest(
            next(self._ids), prompt, params, sink, self.tokenizer, self.stats, self._released, self._cancelled
        )
        try:
            self._enqueue(request)
        except Exception as exc:
            request.finish("error", f"the pipeline refused the request: {exc}")
            raise GenerationFailed(f"the pipeline refused the request: {exc}") from exc
        return request

    def _released(self, request: GenerationRequest) -> None:
        with self._admit_lock:
            self._outstanding -= 1

    @property
    def outstanding(self) -> int:
        """Requests admitted and not yet finished."""
        return self._outstanding

    # -- consuming -----------------------------------------------------------------------------
    def stream(
        self, messages: Sequence[ChatMessage], params: SamplingParams, timeout_s: float | None = None
    ) -> Iterator[GenerationChunk]:
        """The chunks of one request (blocking); closing the iterator early cancels the request.
        Raises GenerationFailed when the pipeline fails it, TimeoutError after `timeout_s`
        without a chunk."""
        chunks: queue.SimpleQueue[GenerationChunk] = queue.SimpleQueue()
        request = self.submit(messages, params, chunks.put)
        try:
            while True:
                try:
                    chunk = chunks.get(timeout=timeout_s)
                except queue.Empty:
                    raise TimeoutError(f"no token within {timeout_s}s") from None
                if chunk.finish_reason == "error":
                    raise GenerationFailed(request.error or "generation failed")
                yield chunk
                if chunk.final:
                    return
        finally:
            request.cancel()

    def generate(
        self, messages: Sequence[ChatMessage], params: SamplingParams, timeout_s: float | None = None
    ) -> GenerationSummary:
        """The whole answer of one request (blocking)."""
        summary = GenerationSummary()
        for chunk in self.stream(messages, params, timeout_s):
            summary.add(chunk)
        return summary

    async def astream(
        self, messages: Sequence[ChatMessage], params: SamplingParams
    ) -> AsyncIterator[GenerationChunk]:
        """The chunks of one request on the running event loop (handed over with
        ``call_soon_threadsafe``); leaving the loop early cancels the request."""
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue[GenerationChunk] = asyncio.Queue()

        def sink(chunk: GenerationChunk) -> None:
            loop.call_soon_threadsafe(chunks.put_nowait, chunk)

        request = self.submit(messages, params, sink)
        try:
            while True:
                chunk = await chunks.get()
                if chunk.finish_reason == "error":
                    raise GenerationFailed(request.error or "generation failed")
                yield chunk
                if chunk.final:
                    return
        finally:
            request.cancel()

    # -- engine specifics ----------------------------------------------------------------------
    def _enqueue(self, request: GenerationRequest) -> None:
        raise NotImplementedError

    def _cancelled(self, request: GenerationRequest) -> None:
        """A client cancelled `request` (called from the client's thread)."""

    def close(self) -> None:
        """Stop the engine thread; outstanding requests end as cancelled."""
        self._closing = True


class BatchingEngine(LLMEngine):
    """Continuous batching: one step thread drives the pipeline for all requests."""

    def __init__(
        self,
        pipeline: BatchPipeline,
        *,
        context_length: int,
        options: LLMOptions | None = None,
        max_queue: int = 64,
        stats: GenerationStats | None = None,
    ) -> None:
        super().__init__(
            pipeline.tokenizer,
            context_length=context_length,
            options=options,
            max_queue=max_queue,
            stats=stats,
        )
        self.pipeline = pipeline
        self.steps = 0
        self._active: dict[int, GenerationRequest] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="llm-step", daemon=True)
        self._thread.start()

    def _enqueue(self, request: GenerationRequest) -> None:
        request.handle = self.pipeline.add_request(request.request_id, request.prompt, request.params)
        with self._lock:
            self._active[request.request_id] = request
        self._wake.set()

    def _cancelled(self, request: GenerationRequest) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._closing:
            try:
                if self.pipeline.has_unfinished():
                    self.pipeline.step()
                    self.steps += 1
                else:
                    self._wake.wait(0.05)
                    self._wake.clear()
                self._dispatch()
            except Exception:
                log.exception("LLM step failed; failing the running requests")
                self._fail_all("the model failed while generating")

    def _dispatch(self) -> None:
        with self._lock:
            requests = list(self._active.values())
        for request in requests:
            try:
                self._service(request)
            except Exception as exc:
                log.exception("request %d failed", request.request_id)
                request.finish("error", f"{type(exc).__name__}: {exc}")
            if request.done:
                with self._lock:
                    self._active.pop(request.request_id, None)

    def _service(self, request: GenerationRequest) -> None:
        handle = request.handle
        if request.cancel_requested:
            handle.cancel()  # KV blocks are freed at the next step
            request.finish("cancelled")
            return
        ids, logprobs = handle.read()
        if ids:
            request.take(ids, logprobs)
        if request.stop_hit:
            handle.stop()
            request.finish("stop")
            return
        status = handle.status()
        if status == HandleStatus.RUNNING:
            return
        if status in (HandleStatus.FINISHED, HandleStatus.STOP):
            request.finish(request.natural_finish())
        elif status == HandleStatus.CANCEL:
            request.finish("cancelled")
        else:  # IGNORED without a cancel
            request.finish(
                "error",
                f"the scheduler dropped the request ({request.prompt.tokens} prompt tokens): "
                "the KV cache cannot hold it (raise llm.kv_cache_blocks or send a shorter prompt)",
            )

    def _fail_all(self, reason: str) -> None:
        with self._lock:
            requests, self._active = list(self._active.values()), {}
        for request in requests:
            try:
                request.handle.cancel()
            except Exception:
                log.debug("cancel failed", exc_info=True)
            request.finish("error", reason)

    def running(self) -> int:
        """Requests in the pipeline (admitted and not finished)."""
        with self._lock:
            return len(self._active)

    def close(self) -> None:
        """Stop the step thread; outstanding requests end as cancelled."""
        super().close()
        self._wake.set()
        self._thread.join(timeout=30.0)
        with self._lock:
            requests, self._active = list(self._active.values()), {}
        for request in requests:
            request.finish("cancelled")
