"""Retry policy for hosted calls: which failures to retry and how long to wait.

Pure functions and a small frozen dataclass, so the decisions are unit-tested
without a network. Retried: connection errors, timeouts, HTTP 429 and 5xx.
Never retried: other 4xx (the request or the key is wrong; repeating it cannot
help). Waits grow exponentially (``backoff_s * 2**attempt``) with "equal
jitter" (half fixed, half random) so that many routers do not retry in step;
a server's ``Retry-After`` (or OpenAI's ``retry-after-ms``) is honoured when it
is short, and makes us give up at once when it is longer than we may wait.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass


def is_retryable_status(status: int) -> bool:
    """True for HTTP statuses worth retrying: 408, 409 (OpenAI: lock timeout), 429 and 5xx."""
    return status in (408, 409, 429) or 500 <= status <= 599


def parse_retry_after(headers: Mapping[str, str], now_unix: float | None = None) -> float | None:
    """Seconds the server asks us to wait, from ``retry-after-ms`` or ``Retry-After``.

    ``Retry-After`` may be delta-seconds or an HTTP date. Returns None when the
    headers carry no usable value; negative waits become 0.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    raw_ms = lowered.get("retry-after-ms")
    if raw_ms is not None:
        try:
            value = float(raw_ms) / 1000.0
            if math.isfinite(value):
                return max(0.0, value)
        except ValueError:
            pass
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        value = float(raw)
        return max(0.0, value) if math.isfinite(value) else None
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    now = time.time() if now_unix is None else now_unix
    return max(0.0, when.timestamp() - now)


@dataclass(frozen=True)
class RetryPolicy:
    """How many times to retry and how long to wait between attempts."""

    retries: int
    backoff_s: float
    max_backoff_s: float = 8.0
    max_retry_after_s: float = 5.0

    def backoff_delay_s(self, attempt: int, rng: random.Random | None = None) -> float:
        """Wait before retry number `attempt` (0-based): exponential with equal jitter."""
        base = min(self.max_backoff_s, self.backoff_s * (2**attempt))
        draw = (rng or random).random()
        return base / 2 + draw * base / 2

    def next_delay_s(
        self,
        attempt: int,
        remaining_s: float,
        retry_after_s: float | None = None,
        rng: random.Random | None = None,
    ) -> float | None:
        """Delay before the next attempt after failed attempt `attempt`, or None to give up.

        Gives up when the retries are used up, when the server's Retry-After is
        longer than `max_retry_after_s`, or when waiting would leave no time
        for the next attempt within `remaining_s` (the caller's budget).
        """
        if attempt >= self.retries:
            return None
        if retry_after_s is not None:
            if retry_after_s > self.max_retry_after_s:
                return None
            delay = retry_after_s
        else:
            delay = self.backoff_delay_s(attempt, rng)
        if delay >= remaining_s:
            return None
        return delay
