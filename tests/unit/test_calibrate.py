"""bench.calibrate: targets (hosted share, cost per 1k, minimum accuracy), floors on figures, the
Pareto front: pure, no models."""

from __future__ import annotations

import pytest

from bench.calibrate import OperatingPoint, Target, choose, pareto


def _point(accuracy: float, cost: float, hosted: float, t: float) -> OperatingPoint:
    return OperatingPoint({"min_confidence": t}, 1000, accuracy, cost, hosted)


POINTS = [_point(0.85, 0.1, 0.02, 0.0), _point(0.90, 0.5, 0.08, 0.3), _point(0.92, 1.0, 0.15, 0.5)]


def test_targets_pick_the_best_point_that_meets_them() -> None:
    assert choose(POINTS, Target("hosted-share", 0.10)) is POINTS[1]
    assert choose(POINTS, Target("cost-per-1k", 1.0)) is POINTS[2]  # 1.0 USD over 1000 requests = 1.0 per 1k
    assert choose(POINTS, Target("min-accuracy", 0.88)) is POINTS[1]  # the cheapest that is accurate enough
    assert choose(POINTS, Target("min-accuracy", 0.99)) is None


def test_unknown_targets_are_refused() -> None:
    with pytest.raises(ValueError, match="target must be one of"):
        Target("accuracy", 0.9)
    with pytest.raises(ValueError, match=">= 0"):
        Target("hosted-share", -1)


def test_pareto_keeps_points_not_beaten_on_both_axes() -> None:
    worse = _point(0.80, 0.6, 0.1, 0.2)
    assert pareto([*POINTS, worse]) == POINTS


def test_floors_on_figures_narrow_the_choice() -> None:
    a = OperatingPoint({"t": 0.1}, 100, 0.95, 0.1, 0.01, {"oos_recall": 0.70})
    b = OperatingPoint({"t": 0.2}, 100, 0.93, 0.2, 0.02, {"oos_recall": 0.90})
    assert choose([a, b], Target("hosted-share", 0.5)) is a
    assert choose([a, b], Target("hosted-share", 0.5, (("oos_recall", 0.85),))) is b
    assert choose([a, b], Target("hosted-share", 0.5, (("oos_recall", 0.95),))) is None
    assert "oos_recall >= 0.85" in str(Target("hosted-share", 0.5, (("oos_recall", 0.85),)))
