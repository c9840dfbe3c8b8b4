"""Reading a streamed chat completion (``stream: true``): server-sent events in, generation
chunks out, and never a silent truncation.

:class:`ChatStreamParser` is the pure part: it takes the stream's lines and returns
:class:`edgefleet.generation.GenerationChunk` objects; the last one (``final``) is produced by
the ``[DONE]`` event and carries the finish reason and the token usage (the server's, from the
``stream_options.include_usage`` chunk, or estimated with :mod:`edgefleet.tokens`).
:func:`read_chunks` drives it over an open HTTP stream within a deadline. A stream that breaks
(connection dropped, malformed event, an error event, or no ``[DONE]``) raises
:class:`StreamBroken`, whose message says how much text had been received.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence

import httpx

from edgefleet import openai_wire as wire
from edgefleet.generation import FinishReason, GenerationChunk
from edgefleet.sse import SseDecoder
from edgefleet.tokens import estimate_chat_tokens, estimate_tokens
from router.hosted.endpoint import AttemptFailure, OpenStream


class StreamBroken(AttemptFailure):
    """A stream that failed after its first line: not retried; says how much text arrived."""

    def __init__(
        self, received_chars: int, reason: str, *, timeout: bool = False, counts: bool = True
    ) -> None:
        super().__init__(
            f"hosted stream broke after {received_chars} characters: {reason}",
            timeout=timeout,
            retryable=False,
            counts=counts,
        )
        self.received_chars = received_chars


class ChatStreamParser:
    """Turns the lines of one chat completion stream into generation chunks."""

    def __init__(self, prompt_contents: Sequence[str]) -> None:
        self._decoder = SseDecoder()
        self._prompt_contents = list(prompt_contents)
        self._text: list[str] = []
        self.received_chars = 0
        self.done = False
        self.finish_reason: FinishReason | None = None
        self.prompt_tokens: int | None = None
        self.completion_tokens: int | None = None
        self.stand_in = False
        self.replay = False

    def feed(self, line: str) -> list[GenerationChunk]:
        """Chunks completed by `line`; raises StreamBroken on a malformed or error event."""
        event = self._decoder.feed(line)
        return self._event(event.data) if event is not None else []

    def finish(self) -> list[GenerationChunk]:
        """At the end of the stream: the final chunk, or StreamBroken when no ``[DONE]`` came."""
        event = self._decoder.finish()
        chunks = self._event(event.data) if event is not None else []
        if not self.done:
            raise StreamBroken(self.received_chars, "the stream ended without [DONE]")
        return chunks

    def _event(self, data: str) -> list[GenerationChunk]:
        if self.done:
            return []
        if data.strip() == wire.SSE_DONE:
            self.done = True
            return [self._final()]
        try:
            chunk = wire.parse_chat_chunk(data)
        except wire.WireError as exc:
            raise StreamBroken(self.received_chars, f"bad event: {exc}") from None
        fingerprint = chunk.system_fingerprint or ""
        if fingerprint.startswith(wire.STAND_IN_FINGERPRINT):  # the stand-in, or its replay
            self.stand_in = True
        self.replay = self.replay or fingerprint == wire.REPLAY_FINGERPRINT
        if chunk.prompt_tokens is not None:
            self.prompt_tokens = chunk.prompt_tokens
        if chunk.completion_tokens is not None:
            self.completion_tokens = chunk.completion_tokens
        if chunk.finish_reason is not None:
            self.finish_reason = chunk.finish_reason
        if not chunk.text and not chunk.logprobs:
            return []
        self._text.append(chunk.text)
        self.received_chars += len(chunk.text)
        return [GenerationChunk(chunk.text, chunk.logprobs)]

    def _final(self) -> GenerationChunk:
        prompt = self.prompt_tokens
        if prompt is None:
            prompt = estimate_chat_tokens(self._prompt_contents)
        completion = self.completion_tokens
        if completion is None:
            completion = estimate_tokens("".join(self._text))
        return GenerationChunk(
            "",
            final=True,
            finish_reason=self.finish_reason or "stop",
            prompt_tokens=prompt,
            completion_tokens=completion,
            source="replay" if self.replay else "",
        )


async def read_chunks(
    stream: OpenStream,
    parser: ChatStreamParser,
    deadline: float,
    read_timeout_s: float,
    slow_call_s: float | None = None,
) -> AsyncIterator[GenerationChunk]:
    """The chunks of an open stream until ``[DONE]``. Each read waits at most `read_timeout_s`
    (the endpoint's timeout: a stalled server counts as a failure) and never past `deadline`
    (``time.monotonic()``). Running out of the caller's budget counts against the endpoint only
    when the stream had been silent for `slow_call_s` or more (None: never)."""
    line: str | None = stream.first
    last_data = time.monotonic()
    while True:
        if line is None:
            for chunk in parser.finish():
                yield chunk
            return
        for chunk in parser.feed(line):
            yield chunk
        if parser.done:
            return
        remaining = deadline - time.monotonic()
        wait = min(read_timeout_s, remaining)
        try:
            if wait <= 0:
                raise TimeoutError
            async with asyncio.timeout(wait):
                line = await anext(stream.lines, None)
            last_data = time.monotonic()
        except (httpx.TimeoutException, TimeoutError):
            by_caller = remaining <= read_timeout_s
            why = "the caller's time budget ran out" if by_caller else f"no data for {read_timeout_s:.1f}s"
            silent_s = time.monotonic() - last_data
            counts = not by_caller or (slow_call_s is not None and silent_s >= slow_call_s)
            raise StreamBroken(parser.received_chars, why, timeout=True, counts=counts) from None
        except (httpx.HTTPError, httpx.StreamError) as exc:
            detail = str(exc) or type(exc).__name__
            raise StreamBroken(parser.received_chars, f"{type(exc).__name__}: {detail}") from None
