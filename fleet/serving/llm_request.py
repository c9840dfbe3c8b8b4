"""One generation request inside an LLM engine: its token accounting, text stream and sink.

:meth:`GenerationRequest.take` (new token ids and log-probabilities) and
:meth:`GenerationRequest.finish` run on the engine's thread; :meth:`GenerationRequest.cancel` on
any thread. ``finish`` delivers the final chunk exactly once, whoever calls it first.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from edgefleet.generation import FinishReason, GenerationChunk, SamplingParams
from fleet.serving.llm_stats import GenerationStats
from fleet.serving.llm_text import IncrementalDecoder, StopMatcher
from fleet.serving.llm_types import EncodedPrompt, GenTokenizer

ChunkSink = Callable[[GenerationChunk], None]


class GenerationRequest:
    """See the module docstring. ``handle`` is the pipeline's handle (batching engines only)."""

    def __init__(
        self,
        request_id: int,
        prompt: EncodedPrompt,
        params: SamplingParams,
        sink: ChunkSink,
        tokenizer: GenTokenizer,
        stats: GenerationStats,
        on_release: Callable[[GenerationRequest], None],
        on_cancel: Callable[[GenerationRequest], None],
    ) -> None:
        self.request_id = request_id
        self.prompt = prompt
        self.params = params
        self.handle: Any = None
        self.error: str | None = None
        self.finish_reason: FinishReason | None = None
        self.cancel_requested = False
        self.completion_tokens = 0
        self.submitted = time.perf_counter()
        self.first_token_at: float | None = None
        self._sink = sink
        self._stats = stats
        self._eos = tokenizer.eos_token_id
        self._decoder = IncrementalDecoder(tokenizer.decode)
        self._stops = StopMatcher(params.stop)
        self._logprobs: list[float] = []
        self._finished = False
        self._finish_lock = threading.Lock()
        self._on_release = on_release
        self._on_cancel = on_cancel
        self._saw_eos = False
        stats.waiting(+1)

    @property
    def done(self) -> bool:
        """True once the final chunk has been delivered."""
        return self._finished

    @property
    def stop_hit(self) -> bool:
        """True when a stop string has been generated."""
        return self._stops.matched is not None

    def cancel(self) -> None:
        """Stop generating (the client has gone); the final chunk says ``cancelled``."""
        if self._finished or self.cancel_requested:
            return
        self.cancel_requested = True
        self._on_cancel(self)

    def take(self, ids: Sequence[int], logprobs: Sequence[float]) -> None:
        """New token ids (and their log-probabilities, if any) from the pipeline."""
        if self._finished or self.stop_hit:
            return
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()
            self._stats.waiting(-1)
            self._stats.first_token((self.first_token_at - self.submitted) * 1000.0)
        kept = [i for i in ids if i != self._eos]
        if len(kept) != len(ids):
            self._saw_eos = True
            logprobs = [lp for i, lp in zip(ids, logprobs, strict=False) if i != self._eos]
        self.completion_tokens += len(kept)
        self._stats.tokens(len(kept))
        if self.params.logprobs:
            self._logprobs.extend(logprobs[: len(kept)])
        text = self._stops.feed(self._decoder.push(kept))
        if text:
            chunk = GenerationChunk(text=text, logprobs=tuple(self._logprobs))
            self._logprobs = []
            self._deliver(chunk)

    def natural_finish(self) -> FinishReason:
        """``length`` when max_tokens ran out before an end token, else ``stop``."""
        if not self._saw_eos and self.completion_tokens >= self.params.max_tokens:
            return "length"
        return "stop"

    def finish(self, reason: FinishReason, error: str | None = None) -> None:
        """Deliver the final chunk (once): the held-back text, finish reason and token counts."""
        with self._finish_lock:
            if self._finished:
                return
            self._finished = True
        if self.first_token_at is None:
            self._stats.waiting(-1)
        else:
            self._stats.stopped_generating()
        self.finish_reason = reason
        self.error = error
        text = ""
        if reason in ("stop", "length"):
            text = self._stops.feed(self._decoder.flush())
            if not self.stop_hit:
                text += self._stops.flush()
        chunk = GenerationChunk(
            text=text,
            logprobs=tuple(self._logprobs),
            final=True,
            finish_reason=reason,
            prompt_tokens=self.prompt.tokens,
            completion_tokens=self.completion_tokens,
        )
        self._logprobs = []
        try:
            self._deliver(chunk)
        finally:
            self._on_release(self)

    def _deliver(self, chunk: GenerationChunk) -> None:
        try:
            self._sink(chunk)
        except Exception:  # noqa: BLE001 - a broken consumer cancels its own request only
            self.cancel_requested = True
