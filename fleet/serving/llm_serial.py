"""The serial LLM engine: one request at a time on one worker thread, in arrival order.

It serves OpenVINO's LLMPipeline (``llm.continuous_batching: false``), the baseline continuous
batching is measured against. Admission, limits, stop strings and cancellation are the shared
:class:`fleet.serving.llm_engine.LLMEngine`'s; LLMPipeline streams token ids without
log-probabilities, so chunks carry none.
"""

from __future__ import annotations

import logging
import threading
from collections import deque

from edgefleet.policy.llm_options import LLMOptions
from fleet.serving.llm_engine import LLMEngine
from fleet.serving.llm_request import GenerationRequest
from fleet.serving.llm_stats import GenerationStats
from fleet.serving.llm_types import SerialPipeline

log = logging.getLogger("edgefleet.llm")


class SerialEngine(LLMEngine):
    """One request at a time, in arrival order, on one worker thread (no per-token logprobs)."""

    def __init__(
        self,
        pipeline: SerialPipeline,
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
        self._pending: deque[GenerationRequest] = deque()
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._loop, name="llm-serial", daemon=True)
        self._thread.start()

    def _enqueue(self, request: GenerationRequest) -> None:
        with self._cond:
            self._pending.append(request)
            self._cond.notify()

    def _cancelled(self, request: GenerationRequest) -> None:
        with self._cond:
            if request in self._pending:
                self._pending.remove(request)
            else:
                return
        request.finish("cancelled")

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closing:
                    self._cond.wait()
                if self._closing:
                    return
                request = self._pending.popleft()
            self._run(request)

    def _run(self, request: GenerationRequest) -> None:
        def on_tokens(ids: list[int]) -> bool:
            request.take(ids, [])
            return request.stop_hit or request.cancel_requested or self._closing

        try:
            self.pipeline.generate(request.prompt, request.params, on_tokens)
        except Exception as exc:
            log.exception("serial generation failed")
            request.finish("error", f"{type(exc).__name__}: {exc}")
            return
        if request.cancel_requested or self._closing:
            request.finish("cancelled")
        else:
            request.finish("stop" if request.stop_hit else request.natural_finish())

    def close(self) -> None:
        """Stop the worker after the current request; pending requests end as cancelled."""
        with self._cond:
            super().close()
            pending, self._pending = list(self._pending), deque()
            self._cond.notify_all()
        for request in pending:
            request.finish("cancelled")
        self._thread.join(timeout=30.0)
