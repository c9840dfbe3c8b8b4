"""Benchmark statistics: ratios, concurrency sweeps and saturation (percentiles and latency
summaries are :mod:`edgefleet.stats`, re-exported here for the suites).

Latencies are handled in milliseconds throughout.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgefleet.stats import percentile, summarize


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, NaN when either is missing or the denominator is not positive."""
    if not (math.isfinite(numerator) and math.isfinite(denominator)) or denominator <= 0:
        return math.nan
    return numerator / denominator


@dataclass(frozen=True)
class SweepPoint:
    """One level of a closed-loop concurrency sweep."""

    concurrency: int
    requests: int
    errors: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for results.json."""
        return dict(self.__dict__)


def saturation(points: Sequence[SweepPoint], max_error_share: float = 0.01) -> SweepPoint | None:
    """The point with the highest sustained throughput.

    A level counts only when at most `max_error_share` of its requests failed; the saturation
    throughput is the best such level (the knee is where adding concurrency stops adding rps).
    """
    good = [p for p in points if p.requests > 0 and p.errors <= max_error_share * (p.requests + p.errors)]
    if not good:
        return None
    return max(good, key=lambda p: p.rps)


def knee_concurrency(points: Sequence[SweepPoint], gain: float = 0.05) -> int | None:
    """The smallest concurrency after which doubling concurrency gains less than `gain` in rps."""
    ordered = sorted(points, key=lambda p: p.concurrency)
    for prev, nxt in itertools.pairwise(ordered):
        if prev.rps > 0 and nxt.rps < prev.rps * (1 + gain):
            return prev.concurrency
    return ordered[-1].concurrency if ordered else None


def clean_floats(value: Any) -> Any:
    """Recursively turn NaN/inf into None so results.json is strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): clean_floats(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_floats(v) for v in value]
    if isinstance(value, np.generic):
        return clean_floats(value.item())
    return value


__all__ = ["SweepPoint", "clean_floats", "knee_concurrency", "percentile", "ratio", "saturation", "summarize"]
