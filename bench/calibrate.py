"""Choosing a classify route's operating point on validation data: the grid search behind
``edgefleet route calibrate`` for routes with several threshold keys. (A generate route's one
threshold is swept instead by :mod:`edgefleet.route_calibration`, which owns the targets.)

An :class:`OutcomeSource` knows, for one route and one data split, what every request's answer and
cost would be under any setting of the route's threshold keys (for classification:
:mod:`bench.classify_outcomes`, which simulates the router's cascade from per-request outcomes of
every model). :func:`search` evaluates the source's grid and :func:`choose` picks the best point
under a :class:`Target` (``hosted-share X``, ``cost-per-1k X`` or ``min-accuracy X``, plus floors on
the source's figures) by the rules of :func:`edgefleet.route_calibration.best`, accuracy being the
quality: the most accurate point within the hosted share or cost, the cheapest one reaching the
accuracy; ties go to the cheaper point, then to the lower thresholds (the earlier grid point).
Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from edgefleet.route_calibration import Reading, best, meets

Params = Mapping[str, float | None]
TARGET_KINDS = ("hosted-share", "cost-per-1k", "min-accuracy")


@dataclass(frozen=True)
class OperatingPoint:
    """What a route does on a split at one setting of its keys."""

    params: dict[str, float | None]
    requests: int
    accuracy: float
    cost_usd: float
    hosted_share: float
    figures: dict[str, float] = field(default_factory=dict)  # task-specific (in-scope accuracy, oos recall)

    @property
    def cost_per_1k_usd(self) -> float:
        """USD per 1,000 requests."""
        return self.cost_usd / max(self.requests, 1) * 1000.0

    def as_dict(self) -> dict[str, object]:
        """Plain dict (for JSON and reports)."""
        return {
            "params": dict(self.params),
            "requests": self.requests,
            "accuracy": self.accuracy,
            "cost_usd": self.cost_usd,
            "cost_per_1k_usd": self.cost_per_1k_usd,
            "hosted_share": self.hosted_share,
            **self.figures,
        }


class OutcomeSource(Protocol):
    """Per-request outcomes of one route on one split, and the router's rule applied to them."""

    task: str
    split: str  # where the outcomes come from, e.g. "CLINC150 val + oos_val"

    def grid(self) -> Sequence[dict[str, float | None]]:
        """The settings to search (each maps route keys to values; None: the key unset)."""
        ...

    def evaluate(self, params: Params) -> OperatingPoint:
        """The route at `params`."""
        ...

    def all_hosted(self) -> OperatingPoint:
        """Every request answered by the hosted fallback (the reference cost)."""
        ...

    def oracle(self) -> OperatingPoint:
        """The bound: the edge's answer when it is right, else the hosted one."""
        ...


@dataclass(frozen=True)
class Target:
    """What calibration optimises: one of :data:`TARGET_KINDS` and its value, and optional floors on
    the source's own figures (``requires``: e.g. ``{"oos_recall": 0.85}``) every chosen point meets."""

    kind: str
    value: float
    requires: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in TARGET_KINDS:
            raise ValueError(f"target must be one of {', '.join(TARGET_KINDS)}, got {self.kind!r}")
        if self.value < 0:
            raise ValueError(f"target {self.kind} must be >= 0, got {self.value}")

    @property
    def bound(self) -> str:
        """The kind as one of :data:`edgefleet.route_calibration.BOUNDS`."""
        return "min-quality" if self.kind == "min-accuracy" else self.kind

    def floors_met(self, point: OperatingPoint) -> bool:
        """Whether `point` meets every floor of ``requires``."""
        return all(
            point.figures.get(name, point.accuracy if name == "accuracy" else float("-inf")) >= floor - 1e-12
            for name, floor in self.requires
        )

    def fits(self, point: OperatingPoint) -> bool:
        """Whether `point` meets the target's constraint (and every floor)."""
        return self.floors_met(point) and meets(_reading(point), self.bound, self.value)

    def __str__(self) -> str:
        floors = "".join(f", {name} >= {floor:g}" for name, floor in self.requires)
        return f"{self.kind} {self.value:g}{floors}"


def _reading(p: OperatingPoint) -> Reading:
    return Reading(p.hosted_share, p.cost_per_1k_usd, p.accuracy, p.cost_usd)


def search(source: OutcomeSource) -> list[OperatingPoint]:
    """Every grid point of `source`, evaluated."""
    return [source.evaluate(params) for params in source.grid()]


def choose(points: Sequence[OperatingPoint], target: Target) -> OperatingPoint | None:
    """The best of `points` under `target` (None when none meets it)."""
    return best([p for p in points if target.floors_met(p)], target.bound, target.value, _reading)


def pareto(points: Sequence[OperatingPoint]) -> list[OperatingPoint]:
    """The points no other point beats on both accuracy and cost, cheapest first."""
    ordered = sorted(points, key=lambda p: (p.cost_usd, -p.accuracy))
    front: list[OperatingPoint] = []
    best = -1.0
    for p in ordered:
        if p.accuracy > best + 1e-12:
            front.append(p)
            best = p.accuracy
    return front
