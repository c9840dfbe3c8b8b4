"""Threshold search, targets and routing curves (edgefleet.route_calibration)."""

from __future__ import annotations

import pytest

from edgefleet.route_calibration import (
    RoutedOutcome,
    apgr,
    choose,
    cpt,
    curve,
    evaluate,
    oracle_scores,
    pgr,
    random_curve,
    sweep,
)

# score, edge F1, hosted F1, edge cost, hosted cost
OUTCOMES = [
    RoutedOutcome(0.9, 1.0, 1.0, 0.001, 0.01),
    RoutedOutcome(0.8, 1.0, 1.0, 0.001, 0.01),
    RoutedOutcome(0.3, 0.0, 1.0, 0.001, 0.01),
    RoutedOutcome(0.1, 0.0, 1.0, 0.001, 0.01),
]


def test_evaluate_and_sweep_go_from_all_edge_to_all_hosted() -> None:
    point = evaluate(OUTCOMES, 0.5)
    assert (point.hosted_share, point.quality) == (0.5, 1.0)
    assert point.cost_per_1k == pytest.approx((0.001 * 2 + 0.01 * 2) / 4 * 1000)
    points = sweep(OUTCOMES)
    assert points[0].hosted_share == 0.0 and points[-1].hosted_share == 1.0
    assert [p.hosted_share for p in points] == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_targets_pick_the_best_point_within_the_limit() -> None:
    points = sweep(OUTCOMES)
    assert choose(points, "hosted-share", 0.5).quality == 1.0
    assert choose(points, "hosted-share", 0.3).hosted_share == 0.25
    cheap = choose(points, "cost-per-1k", 4.0)
    assert cheap.cost_per_1k <= 4.0 and cheap.hosted_share == 0.25
    assert choose(points, "min-f1", 0.7).hosted_share == 0.25  # the cheapest point with F1 >= 0.7
    with pytest.raises(ValueError, match="no threshold reaches"):
        choose(points, "min-f1", 1.5)
    with pytest.raises(ValueError, match="no threshold meets"):
        choose(points, "cost-per-1k", 0.1)
    with pytest.raises(ValueError, match="unknown target"):
        choose(points, "latency", 1.0)


def test_curves_apgr_and_cpt() -> None:
    edge = [o.edge_quality for o in OUTCOMES]
    hosted = [o.hosted_quality for o in OUTCOMES]
    good = curve([o.score for o in OUTCOMES], edge, hosted)
    assert good[0] == (0.0, 0.5) and good[2] == (0.5, 1.0) and good[-1] == (1.0, 1.0)
    bad = curve([-o.score for o in OUTCOMES], edge, hosted)  # worst router: sends the good ones first
    e, h = 0.5, 1.0
    assert apgr(random_curve(edge, hosted), e, h) == pytest.approx(0.5)
    assert apgr(good, e, h) > 0.5 > apgr(bad, e, h)
    assert apgr(curve(oracle_scores(edge, hosted), edge, hosted), e, h) == pytest.approx(apgr(good, e, h))
    assert cpt(good, e, h, 0.5) == pytest.approx(0.25)
    assert cpt(good, e, h, 0.25) == pytest.approx(0.125)
    assert cpt(good, e, h, 1.0) == pytest.approx(0.5)
    assert cpt(bad, e, h, 0.5) == pytest.approx(0.75)
    assert cpt([(0.0, 0.5), (1.0, 0.6)], e, h, 0.8) is None
    assert pgr(0.75, 0.5, 1.0) == 0.5 and pgr(1.0, 1.0, 1.0) == 0.0
