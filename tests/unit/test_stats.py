"""edgefleet.stats: one meaning of a percentile everywhere (linear interpolation), empty inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgefleet.stats import percentile, percentiles, summarize


def test_percentile_interpolates_linearly_like_numpy() -> None:
    values = [5.0, 1.0, 4.0, 2.0, 3.0, 10.0]
    for q in (0, 25, 50, 90, 95, 99, 100):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))
    assert percentile([1.0, 2.0], 50) == 1.5  # between ranks, not the nearest rank
    assert percentiles(iter(values), (50, 95)) == [percentile(values, 50), percentile(values, 95)]


def test_empty_inputs_give_the_chosen_value() -> None:
    assert math.isnan(percentile([], 50))
    assert percentile([], 50, empty=0.0) == 0.0
    assert percentiles([], (50, 95), empty=0.0) == [0.0, 0.0]
    summary = summarize([])
    assert summary["n"] == 0 and math.isnan(summary["p50_ms"])


def test_summarize() -> None:
    s = summarize(float(v) for v in range(1, 101))
    assert s["n"] == 100 and s["min_ms"] == 1.0 and s["max_ms"] == 100.0
    assert s["p50_ms"] == pytest.approx(50.5) and s["mean_ms"] == pytest.approx(50.5)
    assert s["p50_ms"] <= s["p95_ms"] <= s["p99_ms"] <= s["max_ms"]
