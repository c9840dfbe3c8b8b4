"""Endpoint: the transport of one OpenAI-compatible endpoint, shared by every kind of call.

It holds the API key (read from the env var named in the config; never logged: every message
goes through :meth:`Endpoint.redact`), the HTTP connection pool, the retry policy
(:mod:`router.hosted.retry`) and the circuit breaker (:mod:`router.circuit`), and makes

- unary calls (:meth:`Endpoint.call`): POST a JSON body, retry failed attempts with backoff
  within the caller's budget, parse the JSON answer;
- streamed calls (:meth:`Endpoint.open_stream`): POST with ``stream: true`` and retry, the same
  way, only until the first line of the answer has arrived; from then on the caller reads the
  stream (:mod:`router.hosted.stream`) and a failure is final.

Timeouts: each attempt may take at most ``min(cfg.timeout_ms, time left of the caller's
timeout_s)``. A timeout counts against the endpoint when the attempt waited at least
``cfg.circuit.slow_call_ms`` (or its whole ``timeout_ms``): a hung endpoint opens the breaker even
when every caller's budget is shorter than ``timeout_ms``; a shorter wait was cut by the caller and
does not count. Neither does a call refused before sending (missing API key), a cancelled call, nor
a rate-limited one: HTTP 429 is retried after its ``Retry-After`` when that fits the budget, and
until it has passed the endpoint refuses calls at once (:meth:`Endpoint.admit`) without opening
the breaker. One call (all its retries together) is one success or one failure.

Every POST of one call carries the same idempotency key (``cfg.idempotency_header``, default
``Idempotency-Key``), so an API that supports it can tell a retried attempt from a new request.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from edgefleet import openai_wire as wire
from edgefleet.policy.schema import HostedConfig
from edgefleet.policy.security_options import TlsClientConfig
from router.circuit import CircuitBreaker
from router.errors import TargetError
from router.hosted.retry import RetryPolicy, is_retryable_status, parse_retry_after
from router.tls import is_loopback

log = logging.getLogger("edgefleet.hosted")

T = TypeVar("T")


class AttemptFailure(Exception):
    """One failed attempt; `retryable` and `retry_after_s` drive the retry loop, `counts` says
    whether it tells that the endpoint is unhealthy (circuit breaker); `rate_limited`: HTTP 429."""

    def __init__(
        self,
        message: str,
        *,
        timeout: bool = False,
        retryable: bool = True,
        retry_after_s: float | None = None,
        counts: bool = True,
        rate_limited: bool = False,
    ) -> None:
        super().__init__(message)
        self.timeout = timeout
        self.retryable = retryable
        self.retry_after_s = retry_after_s
        self.counts = counts
        self.rate_limited = rate_limited


def client_ssl_context(tls: TlsClientConfig) -> ssl.SSLContext:
    """Verify the endpoint with `tls.ca` (else the system's roots); present `tls.cert` for mutual TLS."""
    context = ssl.create_default_context(cafile=tls.ca)
    if tls.cert and tls.key:
        context.load_cert_chain(tls.cert, tls.key)
    return context


def key_may_travel(url: str) -> bool:
    """True when a bearer key may be sent to `url`: https, or plain http to a loopback host."""
    parsed = httpx.URL(url)
    return parsed.scheme == "https" or (parsed.scheme == "http" and is_loopback(parsed.host))


def url_host(url: str) -> str:
    """``host:port`` of a URL, never its user-info ("" for none)."""
    if not url:
        return ""
    parsed = httpx.URL(url)
    return f"{parsed.host}:{parsed.port}" if parsed.port else parsed.host


def display_url(url: str) -> str:
    """The URL without user-info or query (which could hold credentials)."""
    parsed = httpx.URL(url)
    return str(parsed.copy_with(userinfo=b"", query=None))


@dataclass
class OpenStream:
    """A streamed answer whose first line has arrived: read `first`, then `lines`; close it."""

    response: httpx.Response
    lines: AsyncIterator[str]
    first: str

    async def aclose(self) -> None:
        """Release the connection."""
        await self.response.aclose()


class Endpoint:
    """Key, HTTP pool, retries and circuit breaker of one hosted endpoint."""

    def __init__(
        self,
        cfg: HostedConfig,
        base_url: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.cfg = cfg
        self.base_url = base_url.rstrip("/")
        self.where = f"hosted endpoint {cfg.name!r} ({display_url(self.base_url)})"
        self.api_key: str | None = None
        self.key_problem: str | None = None
        if cfg.api_key_env:
            key = os.environ.get(cfg.api_key_env, "").strip()
            if not key:
                self.key_problem = f"environment variable {cfg.api_key_env} (its API key) is not set"
            elif not key_may_travel(self.base_url):
                self.key_problem = (
                    f"refusing to send the API key over plain HTTP to {display_url(self.base_url)}: use an "
                    "https:// base_url (plain HTTP only to a loopback address)"
                )
            else:
                self.api_key = key
        self.config_timeout_s = cfg.timeout_ms / 1000.0
        self.slow_call_s = min(cfg.circuit.slow_call_ms / 1000.0, 0.95 * self.config_timeout_s)
        self.rng = rng or random.Random()
        self.policy = RetryPolicy(retries=cfg.retries, backoff_s=cfg.backoff_ms / 1000.0)
        self.breaker = CircuitBreaker(cfg.circuit.failures, cfg.circuit.reset_s, clock=clock)
        self._clock = clock
        self.limited_until: float | None = None  # on `clock`: no call before (Retry-After of a 429)
        self.rate_limited_calls = 0
        self.http = httpx.AsyncClient(
            transport=transport,
            verify=client_ssl_context(cfg.tls) if cfg.tls is not None else True,
            timeout=self.config_timeout_s,
            headers={"User-Agent": "edgefleet-hosted/0.1"},
            follow_redirects=False,
        )

    def redact(self, message: str) -> str:
        """`message` with the API key masked."""
        if self.api_key and self.api_key in message:
            message = message.replace(self.api_key, "***")
        return message

    def headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """Request headers: the bearer key when there is one, plus `extra` (e.g. ``traceparent``)."""
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        if extra:
            headers.update(extra)
        return headers

    def call_headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """`extra` plus a new idempotency key for one call (all of its attempts send the same)."""
        headers = dict(extra or {})
        if self.cfg.idempotency_header:
            headers[self.cfg.idempotency_header] = uuid.uuid4().hex
        return headers

    def rate_limited_for_s(self) -> float:
        """Seconds until the endpoint's Retry-After has passed (0: not rate limited)."""
        if self.limited_until is None:
            return 0.0
        left = self.limited_until - self._clock()
        if left <= 0:
            self.limited_until = None
            return 0.0
        return left

    def note_rate_limit(self, retry_after_s: float | None) -> None:
        """A 429 arrived: refuse calls for its Retry-After (none: the next call may go)."""
        self.rate_limited_calls += 1
        if retry_after_s is not None and retry_after_s > 0:
            until = self._clock() + retry_after_s
            self.limited_until = max(until, self.limited_until or until)

    def timeout_counts(self, waited_s: float) -> bool:
        """Does a timeout after waiting `waited_s` say the endpoint is unhealthy (see the module doc)?"""
        return waited_s >= self.slow_call_s

    def admit(self) -> None:
        """Raise TargetError when a call must not even be tried (no key, rate limited, circuit open)."""
        if self.key_problem:
            raise TargetError(f"{self.where}: {self.key_problem}")
        wait_s = self.rate_limited_for_s()
        if wait_s > 0:
            raise TargetError(
                f"{self.where}: rate limited (HTTP 429), Retry-After ends in {wait_s:.1f}s", rate_limited=True
            )
        if not self.breaker.allow():
            raise TargetError(
                f"{self.where}: circuit open after {self.breaker.consecutive_failures} consecutive "
                f"failures; next probe in {self.breaker.retry_in_s():.1f}s"
            )

    def failed(self, failure: AttemptFailure) -> TargetError:
        """Record a failed call with the breaker; the TargetError to raise for it."""
        if failure.counts:
            self.breaker.record_failure()
        else:
            self.breaker.record_ignored()
        return TargetError(
            f"{self.where}: {self.redact(str(failure))}",
            timeout=failure.timeout,
            rate_limited=failure.rate_limited,
        )

    async def call(
        self,
        path: str,
        body: dict[str, Any],
        timeout_s: float,
        parse: Callable[[httpx.Response, Any], T],
        headers: Mapping[str, str] | None = None,
    ) -> T:
        """POST `body` with retries under the circuit breaker; `parse` turns the answer into T."""
        self.admit()
        recorded = False
        headers = self.call_headers(headers)
        try:
            result = await self.retrying(lambda t: self._post(path, body, t, parse, headers), timeout_s)
            self.breaker.record_success()
            recorded = True
            return result
        except AttemptFailure as failure:
            recorded = True
            raise self.failed(failure) from None
        finally:
            if not recorded:  # cancelled or an unexpected error: free a half-open probe slot
                self.breaker.record_ignored()

    async def open_stream(
        self, path: str, body: dict[str, Any], timeout_s: float, headers: Mapping[str, str] | None = None
    ) -> OpenStream:
        """POST `body` and wait for the first line of a 2xx answer, retrying failed attempts
        within `timeout_s`; raises AttemptFailure (the caller settles the breaker)."""
        headers = self.call_headers(headers)
        return await self.retrying(lambda t: self._open(path, body, t, headers), timeout_s)

    async def retrying(self, attempt: Callable[[float], Awaitable[T]], timeout_s: float) -> T:
        """Run `attempt(attempt_timeout_s)` until it succeeds, a failure is not retryable, the
        retries are used up, or the budget `timeout_s` is spent."""
        deadline = time.monotonic() + max(0.0, timeout_s)
        number = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AttemptFailure(
                    f"no time left for attempt {number + 1} (budget {timeout_s:.3f}s)",
                    timeout=True,
                    counts=False,
                )
            attempt_timeout = min(self.config_timeout_s, remaining)
            try:
                return await attempt(attempt_timeout)
            except AttemptFailure as failure:
                if failure.timeout and not self.timeout_counts(attempt_timeout):
                    failure.counts = False  # the caller's budget, not the endpoint, was too short
                if failure.rate_limited:
                    self.note_rate_limit(failure.retry_after_s)
                if not failure.retryable:
                    raise
                delay = self.policy.next_delay_s(
                    number, deadline - time.monotonic(), failure.retry_after_s, self.rng
                )
                if delay is None:
                    if number:
                        failure.args = (f"{failure} (after {number + 1} attempts)",)
                    raise
                log.info(
                    "%s: attempt %d failed (%s); retrying in %.3fs",
                    self.where,
                    number + 1,
                    self.redact(str(failure)),
                    delay,
                )
                await asyncio.sleep(delay)
                number += 1

    async def _post(
        self,
        path: str,
        body: dict[str, Any],
        timeout_s: float,
        parse: Callable[[httpx.Response, Any], T],
        headers: Mapping[str, str] | None = None,
    ) -> T:
        try:
            async with asyncio.timeout(timeout_s):
                response = await self.http.post(
                    self.base_url + path, json=body, headers=self.headers(headers), timeout=timeout_s
                )
        except (httpx.TimeoutException, TimeoutError):
            raise AttemptFailure(
                f"POST {path} timed out after {timeout_s * 1000:.0f} ms", timeout=True
            ) from None
        except (httpx.TransportError, ssl.SSLError) as exc:  # TLS 1.3 reports a refused certificate late
            raise AttemptFailure(f"POST {path} failed: {_describe(exc)}") from None
        payload = _json_or_none(response)
        if response.is_success:
            if payload is None:
                raise AttemptFailure(
                    f"POST {path} answered {response.status_code} with a body that is not JSON",
                    retryable=False,
                )
            try:
                return parse(response, payload)
            except wire.WireError as exc:
                raise AttemptFailure(f"bad answer to POST {path}: {exc}", retryable=False) from None
        raise _status_failure(path, response, payload)

    async def _open(
        self, path: str, body: dict[str, Any], timeout_s: float, headers: Mapping[str, str] | None = None
    ) -> OpenStream:
        request = self.http.build_request(
            "POST",
            self.base_url + path,
            json=body,
            headers=self.headers(headers),
            timeout=self.config_timeout_s,
        )
        try:
            async with asyncio.timeout(timeout_s):
                response = await self.http.send(request, stream=True)
                try:
                    if not response.is_success:
                        await response.aread()
                        raise _status_failure(path, response, _json_or_none(response))
                    lines = response.aiter_lines()
                    first = await anext(lines, None)
                    if first is None:
                        raise AttemptFailure(
                            f"POST {path} answered {response.status_code} with an empty stream"
                        )
                except BaseException:
                    await response.aclose()
                    raise
        except (httpx.TimeoutException, TimeoutError):
            raise AttemptFailure(
                f"POST {path} sent no data within {timeout_s * 1000:.0f} ms", timeout=True
            ) from None
        except (httpx.TransportError, ssl.SSLError) as exc:  # TLS 1.3 reports a refused certificate late
            raise AttemptFailure(f"POST {path} failed: {_describe(exc)}") from None
        return OpenStream(response, lines, first)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.http.aclose()


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {str(exc) or type(exc).__name__}"


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _status_failure(path: str, response: httpx.Response, payload: Any) -> AttemptFailure:
    """The failure of a non-2xx answer: retryable for 408/409/429/5xx (honouring Retry-After); a 429
    (rate limited) never counts against the endpoint's health."""
    detail = wire.error_detail(payload) or response.reason_phrase
    message = f"POST {path} answered HTTP {response.status_code}: {detail}"
    if response.status_code == 429:
        retry_after = parse_retry_after(response.headers)
        return AttemptFailure(message, retry_after_s=retry_after, counts=False, rate_limited=True)
    if is_retryable_status(response.status_code):
        return AttemptFailure(message, retry_after_s=parse_retry_after(response.headers))
    return AttemptFailure(message, retryable=False)
