"""HostedClient: one OpenAI-compatible endpoint (real, or the offline stand-in).

Every lower-level failure (connection refused, timeout, HTTP error, malformed
answer, open circuit) is translated here, in one place, into
:class:`router.errors.TargetError` whose message names the endpoint (name and
URL) and never the API key. Retries, backoff and Retry-After follow
:mod:`router.hosted.retry`; the circuit breaker is :mod:`router.circuit`.

Timeouts: each attempt may take at most ``min(cfg.timeout_ms, time left of the
caller's timeout_s)``; retries stop when the caller's budget is spent.

Circuit accounting: one call (all its retries together) is one success or one
failure. A timeout that happened only because the caller's budget was shorter
than ``cfg.timeout_ms`` does not count against the endpoint, nor does a call
refused before sending (missing API key). Token counts come from the server's
``usage``; without it they are estimated (:mod:`edgefleet.tokens`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from edgefleet import openai_wire as wire
from edgefleet.policy.schema import HostedConfig
from edgefleet.tokens import estimate_chat_tokens, estimate_tokens, split_tokens
from router.circuit import CircuitBreaker, CircuitStateName
from router.errors import TargetError
from router.hosted.retry import RetryPolicy, is_retryable_status, parse_retry_after

log = logging.getLogger("edgefleet.hosted")

T = TypeVar("T")


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


class _Failure(Exception):
    """One failed attempt (internal); `retryable` and `retry_after_s` drive the retry loop."""

    def __init__(
        self,
        message: str,
        *,
        timeout: bool = False,
        retryable: bool = True,
        retry_after_s: float | None = None,
        counts: bool = True,
    ) -> None:
        super().__init__(message)
        self.timeout = timeout
        self.retryable = retryable
        self.retry_after_s = retry_after_s
        self.counts = counts  # does this failure say the endpoint is unhealthy?


def _display_url(url: str) -> str:
    """The URL without user-info or query (which could hold credentials)."""
    parsed = httpx.URL(url)
    return str(parsed.copy_with(userinfo=b"", query=None))


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
        self._where = f"hosted endpoint {cfg.name!r} ({_display_url(self.base_url)})"
        self._api_key: str | None = None
        self._key_problem: str | None = None
        if cfg.api_key_env:
            key = os.environ.get(cfg.api_key_env, "").strip()
            if key:
                self._api_key = key
            else:
                self._key_problem = f"environment variable {cfg.api_key_env} (its API key) is not set"
        self._clock = clock
        self._rng = rng or random.Random()
        self._policy = RetryPolicy(retries=cfg.retries, backoff_s=cfg.backoff_ms / 1000.0)
        self._breaker = CircuitBreaker(cfg.circuit.failures, cfg.circuit.reset_s, clock=clock)
        self._http = httpx.AsyncClient(
            transport=transport,
            timeout=cfg.timeout_ms / 1000.0,
            headers={"User-Agent": "edgefleet-hosted/0.1"},
            follow_redirects=False,
        )

    @property
    def circuit_state(self) -> CircuitStateName:
        """ "closed" | "open" | "half-open"."""
        return self._breaker.state

    @property
    def breaker(self) -> CircuitBreaker:
        """The endpoint's circuit breaker (read it; the client records outcomes)."""
        return self._breaker

    def __repr__(self) -> str:
        key = "set" if self._api_key else ("missing" if self._key_problem else "none")
        return f"HostedClient(name={self.name!r}, base_url={_display_url(self.base_url)!r}, api_key={key})"

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def classify(self, text: str, labels: Sequence[str], timeout_s: float) -> HostedAnswer:
        """Ask the endpoint to pick one of `labels` for `text` (structured output)."""
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

        return await self._call("/chat/completions", body, timeout_s, parse)

    async def embed(self, texts: Sequence[str], timeout_s: float) -> list[HostedAnswer]:
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

        return await self._call(
            "/embeddings", wire.embeddings_request(self.cfg.model, inputs), timeout_s, parse
        )

    def _model_of(self, payload: Any) -> str:
        model = payload.get("model") if isinstance(payload, dict) else None
        return model if isinstance(model, str) and model else self.cfg.model

    @staticmethod
    def _is_stand_in(response: httpx.Response, payload: Any) -> bool:
        fingerprint = payload.get("system_fingerprint") if isinstance(payload, dict) else None
        return fingerprint == wire.STAND_IN_FINGERPRINT or wire.STAND_IN_HEADER in response.headers

    def _redact(self, message: str) -> str:
        if self._api_key and self._api_key in message:
            message = message.replace(self._api_key, "***")
        return message

    async def _call(
        self,
        path: str,
        body: dict[str, Any],
        timeout_s: float,
        parse: Callable[[httpx.Response, Any], T],
    ) -> T:
        """POST `body` with retries under the circuit breaker; `parse` turns the answer into T."""
        if self._key_problem:
            raise TargetError(f"{self._where}: {self._key_problem}")
        if not self._breaker.allow():
            raise TargetError(
                f"{self._where}: circuit open after {self._breaker.consecutive_failures} consecutive "
                f"failures; next probe in {self._breaker.retry_in_s():.1f}s"
            )
        recorded = False
        try:
            result = await self._attempts(path, body, timeout_s, parse)
            self._breaker.record_success()
            recorded = True
            return result
        except _Failure as failure:
            if failure.counts:
                self._breaker.record_failure()
            else:
                self._breaker.record_ignored()
            recorded = True
            raise TargetError(
                f"{self._where}: {self._redact(str(failure))}", timeout=failure.timeout
            ) from None
        finally:
            if not recorded:  # cancelled or an unexpected error: free a half-open probe slot
                self._breaker.record_ignored()

    async def _attempts(
        self,
        path: str,
        body: dict[str, Any],
        timeout_s: float,
        parse: Callable[[httpx.Response, Any], T],
    ) -> T:
        config_timeout_s = self.cfg.timeout_ms / 1000.0
        deadline = time.monotonic() + max(0.0, timeout_s)
        attempt = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _Failure(
                    f"no time left for attempt {attempt + 1} (budget {timeout_s:.3f}s)",
                    timeout=True,
                    counts=False,
                )
            attempt_timeout = min(config_timeout_s, remaining)
            try:
                return await self._attempt(path, body, attempt_timeout, parse)
            except _Failure as failure:
                if failure.timeout and attempt_timeout < 0.95 * config_timeout_s:
                    failure.counts = False  # the caller's budget, not the endpoint, was too short
                if not failure.retryable:
                    raise
                delay = self._policy.next_delay_s(
                    attempt, deadline - time.monotonic(), failure.retry_after_s, self._rng
                )
                if delay is None:
                    if attempt:
                        failure.args = (f"{failure} (after {attempt + 1} attempts)",)
                    raise
                log.info(
                    "%s: attempt %d failed (%s); retrying in %.3fs",
                    self._where,
                    attempt + 1,
                    self._redact(str(failure)),
                    delay,
                )
                await asyncio.sleep(delay)
                attempt += 1

    async def _attempt(
        self,
        path: str,
        body: dict[str, Any],
        timeout_s: float,
        parse: Callable[[httpx.Response, Any], T],
    ) -> T:
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        try:
            async with asyncio.timeout(timeout_s):
                response = await self._http.post(
                    self.base_url + path, json=body, headers=headers, timeout=timeout_s
                )
        except (httpx.TimeoutException, TimeoutError):
            raise _Failure(f"POST {path} timed out after {timeout_s * 1000:.0f} ms", timeout=True) from None
        except httpx.TransportError as exc:
            detail = str(exc) or type(exc).__name__
            raise _Failure(f"POST {path} failed: {type(exc).__name__}: {detail}") from None
        payload = self._json_or_none(response)
        if response.is_success:
            if payload is None:
                raise _Failure(
                    f"POST {path} answered {response.status_code} with a body that is not JSON",
                    retryable=False,
                )
            try:
                return parse(response, payload)
            except wire.WireError as exc:
                raise _Failure(f"bad answer to POST {path}: {exc}", retryable=False) from None
        detail = wire.error_detail(payload) or response.reason_phrase
        message = f"POST {path} answered HTTP {response.status_code}: {detail}"
        if is_retryable_status(response.status_code):
            raise _Failure(message, retry_after_s=parse_retry_after(response.headers))
        raise _Failure(message, retryable=False)

    @staticmethod
    def _json_or_none(response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            return None
