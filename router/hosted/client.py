"""HostedClient: one OpenAI-compatible endpoint (real, or the offline stand-in).

Calls: ``classify`` (structured output), ``embed``, and generation: ``chat`` (one whole answer)
and ``chat_stream`` (``stream: true``, server-sent events, a final chunk with the token usage).
Every lower-level failure (connection refused, timeout, HTTP error, malformed answer, open
circuit, a stream that breaks half-way) is translated here, in one place, into
:class:`router.errors.TargetError` whose message names the endpoint (name and URL) and never the
API key. The transport, retries with backoff and the circuit breaker are
:mod:`router.hosted.endpoint` (the same for every call); reading streams is
:mod:`router.hosted.stream`. Token counts come from the server's ``usage``; without it they are
estimated (:mod:`edgefleet.tokens`); cost is :mod:`router.costs`' business.
"""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from edgefleet import openai_wire as wire
from edgefleet.generation import ChatMessage, GenerationChunk, SamplingParams
from edgefleet.policy.schema import HostedConfig
from edgefleet.tokens import estimate_chat_tokens, estimate_tokens, split_tokens
from router.circuit import CircuitBreaker, CircuitStateName
from router.errors import TargetError
from router.hosted.endpoint import AttemptFailure, Endpoint, display_url
from router.hosted.stream import ChatStreamParser, read_chunks

CHAT_PATH = "/chat/completions"


@dataclass
class HostedAnswer:
    """One hosted answer: a label (classify) or an embedding (embed), with its cost inputs."""

    label: str | None
    confidence: float
    embedding: list[float] | None
    input_tokens: int
    output_tokens: int
    latency_ms: float
    model: str
    stand_in: bool


class HostedClient:
    """Client of one OpenAI-compatible endpoint described by a HostedConfig entry."""

    def __init__(
        self,
        cfg: HostedConfig,
        base_url: str | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        """`base_url` overrides cfg.base_url (the stand-in's address); `transport`,
        `clock` and `rng` are for tests (httpx.MockTransport, fake time, seeded jitter)."""
        url = base_url or cfg.base_url
        if not url:
            raise ValueError(
                f"hosted endpoint {cfg.name!r} has no base_url: start its stand-in and pass base_url"
            )
        self.cfg = cfg
        self.name = cfg.name
        self.base_url = url.rstrip("/")
        self._endpoint = Endpoint(cfg, self.base_url, transport=transport, clock=clock, rng=rng)
        self._where = self._endpoint.where
        self._seen_stand_in = False

    @property
    def circuit_state(self) -> CircuitStateName:
        """ "closed" | "open" | "half-open"."""
        return self._endpoint.breaker.state

    @property
    def unavailable_reason(self) -> str | None:
        """Why a call would be refused right now without being sent ("circuit open ...", "rate
        limited ..."), None when one may go out."""
        endpoint = self._endpoint
        wait_s = endpoint.rate_limited_for_s()
        if wait_s > 0:
            return f"rate limited (HTTP 429), Retry-After ends in {wait_s:.1f}s"
        if endpoint.breaker.state == "open":
            return f"circuit open, next probe in {endpoint.breaker.retry_in_s():.1f}s"
        return None

    @property
    def breaker(self) -> CircuitBreaker:
        """The endpoint's circuit breaker (read it; the client records outcomes)."""
        return self._endpoint.breaker

    @property
    def stand_in(self) -> bool:
        """True when this endpoint is the offline stand-in: configured as one, or an answer said so
        (``system_fingerprint`` or header). Generation chunks carry no such flag: read it here."""
        return self.cfg.stand_in is not None or self._seen_stand_in

    def __repr__(self) -> str:
        endpoint = self._endpoint
        key = "set" if endpoint.api_key else ("missing" if endpoint.key_problem else "none")
        return f"HostedClient(name={self.name!r}, base_url={display_url(self.base_url)!r}, api_key={key})"

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._endpoint.aclose()

    async def classify(
        self, text: str, labels: Sequence[str], timeout_s: float, *, headers: Mapping[str, str] | None = None
    ) -> HostedAnswer:
        """Ask the endpoint to pick one of `labels` for `text` (structured output); `headers` are
        added to the request (e.g. the W3C ``traceparent``)."""
        candidates = list(dict.fromkeys(labels))
        if not candidates:
            raise TargetError(f"{self._where}: classify called with no candidate labels")
        body = wire.classify_request(self.cfg.model, text, candidates)
        started = time.perf_counter()

        def parse(response: httpx.Response, payload: Any) -> HostedAnswer:
            parsed = wire.parse_classification(payload, candidates)
            prompt, completion = wire.usage_tokens(payload)
            return HostedAnswer(
                label=parsed.label,
                confidence=parsed.confidence,
                embedding=None,
                input_tokens=prompt
                if prompt is not None
                else estimate_chat_tokens([m["content"] for m in body["messages"]]),
                output_tokens=completion if completion is not None else estimate_tokens(parsed.content),
                latency_ms=(time.perf_counter() - started) * 1000.0,
                model=self._model_of(payload),
                stand_in=self._is_stand_in(response, payload),
            )

        return await self._endpoint.call(CHAT_PATH, body, timeout_s, parse, headers)

    async def embed(
        self, texts: Sequence[str], timeout_s: float, *, headers: Mapping[str, str] | None = None
    ) -> list[HostedAnswer]:
        """Embeddings of `texts`, one HostedAnswer each (batch usage shared out by size)."""
        inputs = list(texts)
        if not inputs:
            return []
        started = time.perf_counter()

        def parse(response: httpx.Response, payload: Any) -> list[HostedAnswer]:
            vectors = wire.parse_embeddings(payload, len(inputs))
            prompt, _ = wire.usage_tokens(payload)
            per_text = (
                split_tokens(prompt, inputs) if prompt is not None else [estimate_tokens(t) for t in inputs]
            )
            latency_ms = (time.perf_counter() - started) * 1000.0
            model, stand_in = self._model_of(payload), self._is_stand_in(response, payload)
            return [
                HostedAnswer(
                    label=None,
                    confidence=1.0,
                    embedding=vec,
                    input_tokens=tokens,
                    output_tokens=0,
                    latency_ms=latency_ms,
                    model=model,
                    stand_in=stand_in,
                )
                for vec, tokens in zip(vectors, per_text, strict=True)
            ]

        return await self._endpoint.call(
            "/embeddings", wire.embeddings_request(self.cfg.model, inputs), timeout_s, parse, headers
        )

    def _model_of(self, payload: Any) -> str:
        model = payload.get("model") if isinstance(payload, dict) else None
        return model if isinstance(model, str) and model else self.cfg.model

    def _is_stand_in(self, response: httpx.Response, payload: Any) -> bool:
        fingerprint = payload.get("system_fingerprint") if isinstance(payload, dict) else None
        said = (
            isinstance(fingerprint, str) and fingerprint.startswith(wire.STAND_IN_FINGERPRINT)
        ) or wire.STAND_IN_HEADER in response.headers
        self._seen_stand_in = self._seen_stand_in or said
        return said

    async def chat(
        self, messages: Sequence[ChatMessage], params: SamplingParams, timeout_s: float
    ) -> GenerationChunk:
        """One whole generated answer (``stream: false``) as a single final chunk with the token
        usage; retried like classify. Raises TargetError on failure."""
        body = wire.chat_request(self.cfg.model, messages, params, stream=False)

        def parse(response: httpx.Response, payload: Any) -> GenerationChunk:
            answer = wire.parse_chat_completion(payload)
            prompt, completion = wire.usage_tokens(payload)
            self._is_stand_in(response, payload)
            return GenerationChunk(
                answer.text,
                answer.logprobs,
                final=True,
                finish_reason=answer.finish_reason,
                prompt_tokens=prompt
                if prompt is not None
                else estimate_chat_tokens(m.content for m in messages),
                completion_tokens=completion if completion is not None else estimate_tokens(answer.text),
            )

        return await self._endpoint.call(CHAT_PATH, body, timeout_s, parse)

    async def chat_stream(
        self,
        messages: Sequence[ChatMessage],
        params: SamplingParams,
        timeout_s: float,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[GenerationChunk]:
        """The answer's chunks as the endpoint streams them (``stream: true``); the last one is
        ``final``, with the finish reason and the token usage. Attempts are retried only until the
        stream's first line arrives; a stream that breaks after that raises TargetError saying how
        many characters had arrived ("hosted stream broke after 37 characters: ..."). Closing the
        iteration early closes the connection (and does not count against the endpoint)."""
        endpoint = self._endpoint
        body = wire.chat_request(self.cfg.model, messages, params, stream=True)
        deadline = time.monotonic() + max(0.0, timeout_s)
        endpoint.admit()
        settled = False
        try:
            stream = await endpoint.open_stream(CHAT_PATH, body, timeout_s, headers)
            try:
                if wire.STAND_IN_HEADER in stream.response.headers:
                    self._seen_stand_in = True
                parser = ChatStreamParser([m.content for m in messages])
                reading = read_chunks(
                    stream, parser, deadline, endpoint.config_timeout_s, endpoint.slow_call_s
                )
                async for chunk in reading:
                    yield chunk
                self._seen_stand_in = self._seen_stand_in or parser.stand_in
            finally:
                await stream.aclose()
            endpoint.breaker.record_success()
            settled = True
        except AttemptFailure as failure:
            settled = True
            raise endpoint.failed(failure) from None
        finally:
            if not settled:  # closed early, cancelled or an unexpected error: free a probe slot
                endpoint.breaker.record_ignored()
