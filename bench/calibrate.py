"""Choosing a route's operating point on validation data: the task-independent half of
``edgefleet route calibrate``.

An :class:`OutcomeSource` knows, for one route and one data split, what every request's answer and
cost would be under any setting of the route's threshold keys (for classification:
:mod:`bench.classify_outcomes`, which simulates the router's cascade from per-request outcomes of
every model; a generative route plugs in its own source, e.g. SQuAD answers of the edge and hosted
LLMs, with ``min_confidence`` as its only key). :func:`choose` searches the source's grid for the
best point under a :class:`Target`:

- ``hosted-share X``: the most accurate point sending at most X of the requests to the hosted tier;
- ``cost-per-1k X``: the most accurate point costing at most X USD per 1,000 requests;
- ``min-accuracy X``: the cheapest point with accuracy at least X.

Ties go to the cheaper point, then to the lower thresholds (the earlier grid point). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

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

    def fits(self, point: OperatingPoint) -> bool:
        """Whether `point` meets the target's constraint (and every floor)."""
        for name, floor in self.requires:
            if (
                point.figures.get(name, point.accuracy if name == "accuracy" else float("-inf"))
                < floor - 1e-12
            ):
                return False
        if self.kind == "hosted-share":
            return point.hosted_share <= self.value + 1e-12
        if self.kind == "cost-per-1k":
            return point.cost_per_1k_usd <= self.value + 1e-12
        return point.accuracy >= self.value - 1e-12

    def __str__(self) -> str:
        floors = "".join(f", {name} >= {floor:g}" for name, floor in self.requires)
        return f"{self.kind} {self.value:g}{floors}"


def _rank(target: Target, indexed: tuple[int, OperatingPoint]) -> tuple[float, ...]:
    i, p = indexed
    if target.kind == "min-accuracy":
        return (p.cost_usd, -p.accuracy, i)
    return (-p.accuracy, p.cost_usd, i)


def search(source: OutcomeSource) -> list[OperatingPoint]:
    """Every grid point of `source`, evaluated."""
    return [source.evaluate(params) for params in source.grid()]


def choose(points: Sequence[OperatingPoint], target: Target) -> OperatingPoint | None:
    """The best of `points` under `target` (None when none meets it)."""
    fitting = [(i, p) for i, p in enumerate(points) if target.fits(p)]
    if not fitting:
        return None
    return min(fitting, key=lambda ip: _rank(target, ip))[1]


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
