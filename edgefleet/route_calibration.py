"""Choosing a routing threshold from outcomes, RouteLLM-style, and the routing curves that judge a
router. Pure functions over per-request outcomes, whatever the task and wherever the outcomes come
from (the tune split's out-of-fold policy predictions, or live shadow traffic): an
:class:`OutcomeSource` gives them per route. This is the 1-D search of a generate route's
``escalation_policy.threshold``; a classify route's keys are searched on a grid by
:mod:`bench.calibrate`, which takes its targets from here (:func:`best`).

A request whose ``score`` is under the threshold goes to the hosted model. Sweeping the threshold
over the scores gives the operating points (share sent to the hosted model, mean quality, cost per
1,000 requests); a target picks one (:func:`best`, for the operating points of either search):

- ``hosted-share X``: the highest quality with at most X of the requests hosted;
- ``cost-per-1k X``: the highest quality at most X dollars per 1,000 requests;
- ``min-quality X`` (here also ``min-f1 X``; ``min-accuracy X`` for classify routes): the cheapest
  point with mean quality at least X.

Ties go to the cheaper point (for a minimum quality: the better one), then to the earlier point.

Curves (quality against hosted share, sending the lowest scores first) give APGR, the average
performance gap recovered (RouteLLM: the mean over hosted shares of PGR = (quality - all-edge) /
(all-hosted - all-edge); a random router scores 0.5), and CPT(p), the smallest hosted share whose
PGR reaches p.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple, Protocol, TypeVar

Target = Literal["hosted-share", "cost-per-1k", "min-f1", "min-quality"]
TARGETS: tuple[str, ...] = ("hosted-share", "cost-per-1k", "min-f1", "min-quality")
BOUNDS: tuple[str, ...] = ("hosted-share", "cost-per-1k", "min-quality")  # what :func:`best` takes
P = TypeVar("P")


@dataclass(frozen=True)
class RoutedOutcome:
    """One request: the router's score (higher: keep at the edge), the quality and cost it gets
    at each tier (the hosted cost includes what was spent before escalating)."""

    score: float
    edge_quality: float
    hosted_quality: float
    edge_cost: float
    hosted_cost: float


class OutcomeSource(Protocol):
    """Where a route's outcomes come from (a task's own kind of record)."""

    def outcomes(self, route: str) -> list[RoutedOutcome]:
        """The outcomes of `route`."""
        ...


@dataclass(frozen=True)
class OperatingPoint:
    """What a threshold gives on the outcomes."""

    threshold: float
    hosted_share: float
    quality: float
    cost_per_1k: float


def evaluate(outcomes: Sequence[RoutedOutcome], threshold: float) -> OperatingPoint:
    """The operating point of `threshold` (requests with score < threshold go hosted)."""
    n = max(len(outcomes), 1)
    hosted = [o.score < threshold for o in outcomes]
    quality = sum(o.hosted_quality if h else o.edge_quality for o, h in zip(outcomes, hosted, strict=True))
    cost = sum(o.hosted_cost if h else o.edge_cost for o, h in zip(outcomes, hosted, strict=True))
    return OperatingPoint(threshold, sum(hosted) / n, quality / n, cost / n * 1000.0)


def sweep(outcomes: Sequence[RoutedOutcome]) -> list[OperatingPoint]:
    """The operating points of every distinct threshold: all-edge (0 hosted) to all-hosted."""
    scores = sorted({o.score for o in outcomes})
    thresholds = (
        [min(scores, default=0.0)]
        + [(a + b) / 2.0 for a, b in itertools.pairwise(scores)]
        + [max(scores, default=0.0) + 1e-9]
    )
    points = [evaluate(outcomes, t) for t in thresholds]
    return sorted(points, key=lambda p: (p.hosted_share, p.threshold))


class Reading(NamedTuple):
    """What a target reads off an operating point (of this sweep or of :mod:`bench.calibrate`)."""

    hosted_share: float
    cost_per_1k: float  # USD per 1,000 requests: what ``cost-per-1k`` bounds
    quality: float
    cost: float  # orders points of equal quality, cheaper first (the cost per 1k, or the total)


def meets(reading: Reading, bound: str, value: float) -> bool:
    """Whether `reading` is within ``bound value`` (one of :data:`BOUNDS`)."""
    if bound == "hosted-share":
        return reading.hosted_share <= value + 1e-12
    if bound == "cost-per-1k":
        return reading.cost_per_1k <= value + 1e-12
    if bound == "min-quality":
        return reading.quality >= value - 1e-12
    raise ValueError(f"unknown bound {bound!r}; use one of {list(BOUNDS)}")


def best(points: Sequence[P], bound: str, value: float, read: Callable[[P], Reading]) -> P | None:
    """The best of `points` within ``bound value`` (see the module docstring), None when none is;
    `read` gives each point's figures."""
    fitting = [(r, i, p) for i, p in enumerate(points) if meets(r := read(p), bound, value)]
    if not fitting:
        return None
    if bound == "min-quality":
        return min(fitting, key=lambda rip: (rip[0].cost, -rip[0].quality, rip[1]))[2]
    return min(fitting, key=lambda rip: (-rip[0].quality, rip[0].cost, rip[1]))[2]


def _reading(p: OperatingPoint) -> Reading:
    return Reading(p.hosted_share, p.cost_per_1k, p.quality, p.cost_per_1k)


def choose(points: Sequence[OperatingPoint], target: str, value: float) -> OperatingPoint:
    """The operating point meeting `target` (see the module docstring); ValueError when none can."""
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; use one of {list(TARGETS)}")
    bound = "min-quality" if target in ("min-f1", "min-quality") else target
    chosen = best(points, bound, value, _reading)
    if chosen is not None:
        return chosen
    if bound == "min-quality":
        top = max(p.quality for p in points) if points else 0.0
        raise ValueError(f"no threshold reaches mean quality {value}; the best is {top:.3f}")
    raise ValueError(f"no threshold meets {target} {value}")


# -- curves ----------------------------------------------------------------------------------------


def curve(
    scores: Sequence[float], edge_q: Sequence[float], hosted_q: Sequence[float]
) -> list[tuple[float, float]]:
    """(hosted share, mean quality) sending the k lowest-scored requests to the hosted model, for
    k = 0..n (ties broken by position)."""
    n = len(scores)
    order = sorted(range(n), key=lambda i: (scores[i], i))
    total = sum(edge_q)
    points = [(0.0, total / max(n, 1))]
    for k, i in enumerate(order, start=1):
        total += hosted_q[i] - edge_q[i]
        points.append((k / n, total / n))
    return points


def oracle_scores(edge_q: Sequence[float], hosted_q: Sequence[float]) -> list[float]:
    """Scores that send the requests with the largest gain from the hosted model first."""
    return [e - h for e, h in zip(edge_q, hosted_q, strict=True)]


def random_curve(
    edge_q: Sequence[float], hosted_q: Sequence[float], steps: int = 100
) -> list[tuple[float, float]]:
    """The expected curve of a random router: a straight line from all-edge to all-hosted."""
    n = max(len(edge_q), 1)
    e, h = sum(edge_q) / n, sum(hosted_q) / n
    return [(k / steps, e + (h - e) * k / steps) for k in range(steps + 1)]


def pgr(quality: float, edge: float, hosted: float) -> float:
    """Performance gap recovered (0: all-edge quality, 1: all-hosted quality)."""
    gap = hosted - edge
    return 0.0 if gap == 0 else (quality - edge) / gap


def apgr(points: Sequence[tuple[float, float]], edge: float, hosted: float) -> float:
    """Area under the PGR curve over hosted shares 0..1 (trapezoids); a random router gets 0.5."""
    area = 0.0
    for (x0, q0), (x1, q1) in itertools.pairwise(points):
        area += (x1 - x0) * (pgr(q0, edge, hosted) + pgr(q1, edge, hosted)) / 2.0
    return area


def cpt(points: Sequence[tuple[float, float]], edge: float, hosted: float, target: float) -> float | None:
    """The smallest hosted share whose PGR reaches `target` (linear between points); None: never."""
    prev: tuple[float, float] | None = None
    for x, q in points:
        g = pgr(q, edge, hosted)
        if g >= target:
            if prev is None:
                return x
            px, pg = prev
            return px + (x - px) * (target - pg) / (g - pg) if g != pg else x
        prev = (x, g)
    return None
