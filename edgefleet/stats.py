"""The one statistics helper: percentiles (linear interpolation between closest ranks, numpy's
default and the meaning every figure in EdgeFleet has) and latency summaries, in milliseconds."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np


def percentile(values: Iterable[float], q: float, *, empty: float = math.nan) -> float:
    """The q-th percentile (0..100) of `values`, interpolating linearly; `empty` when there are none."""
    arr = np.fromiter(values, dtype=np.float64)
    if arr.size == 0:
        return empty
    return float(np.percentile(arr, q))


def percentiles(values: Iterable[float], qs: Sequence[float], *, empty: float = math.nan) -> list[float]:
    """Several percentiles of `values` in one pass (see :func:`percentile`)."""
    arr = np.fromiter(values, dtype=np.float64)
    if arr.size == 0:
        return [empty for _ in qs]
    return [float(v) for v in np.percentile(arr, list(qs))]


def summarize(values_ms: Iterable[float]) -> dict[str, float]:
    """n, mean, min, p50, p95, p99 and max of latencies (ms); NaN figures when there are none."""
    arr = np.fromiter(values_ms, dtype=np.float64)
    if arr.size == 0:
        nan = math.nan
        return {
            "n": 0,
            "mean_ms": nan,
            "min_ms": nan,
            "p50_ms": nan,
            "p95_ms": nan,
            "p99_ms": nan,
            "max_ms": nan,
        }
    p50, p95, p99 = np.percentile(arr, [50, 95, 99])
    return {
        "n": int(arr.size),
        "mean_ms": float(arr.mean()),
        "min_ms": float(arr.min()),
        "p50_ms": float(p50),
        "p95_ms": float(p95),
        "p99_ms": float(p99),
        "max_ms": float(arr.max()),
    }
