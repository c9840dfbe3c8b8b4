"""Pure autoscaling decisions: how many replicas a deployment with ``autoscale`` should run.

No Ray and no I/O. Every pass the controller adds a :class:`LoadSample` (its ready replicas'
outstanding requests and p95 latency, from their health reports) to the deployment's
:class:`LoadWindow`; :func:`decide` compares the window's averages with the targets:

- the load *ratio* is outstanding-per-replica / ``target_queue`` and p95 / ``target_p95_ms``
  (the larger of those configured);
- above 1 + :data:`TOLERANCE` it scales up to ``ceil(ready * ratio)`` (at least one more, at most
  double), once ``cooldown_s / 3`` has passed since the last change and no replica is still
  starting;
- below 1 - :data:`TOLERANCE` it scales down by one, once ``cooldown_s`` has passed since the last
  change and the load would still be under target with one replica less;
- always within ``[min, max]`` and within :func:`capacity`: what the nodes the deployment fits
  can host (one replica per CPU of each fitting node, at least one per node: more replicas of one
  deployment on a node would only contend for the same cores).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from edgefleet.policy.fleet_options import AutoscaleConfig
from edgefleet.policy.schema import DeploymentConfig
from fleet.control.placement import NodeView, fits

TOLERANCE = 0.1
STARTING_GRACE_S = 120.0  # a replica still starting after this long no longer holds decisions back


@dataclass(frozen=True)
class LoadSample:
    """One observation of a deployment: when, its ready replicas, their outstanding requests in
    total and the largest of their p95 latencies (ms, 0 when none reported)."""

    at: float
    ready: int
    outstanding: float
    p95_ms: float


class LoadWindow:
    """The samples of the last `window_s` seconds."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._samples: deque[LoadSample] = deque()

    def add(self, sample: LoadSample) -> None:
        """Keep `sample`; forget those older than the window."""
        self._samples.append(sample)
        while self._samples and self._samples[0].at < sample.at - self.window_s:
            self._samples.popleft()

    def per_replica(self) -> float:
        """Mean outstanding requests per ready replica over the window."""
        values = [s.outstanding / s.ready for s in self._samples if s.ready]
        return sum(values) / len(values) if values else 0.0

    def p95_ms(self) -> float:
        """Mean of the sampled p95 latencies (ms) over the window."""
        values = [s.p95_ms for s in self._samples if s.ready and s.p95_ms > 0]
        return sum(values) / len(values) if values else 0.0

    def __len__(self) -> int:
        return len(self._samples)


@dataclass(frozen=True)
class Decision:
    """The replica count to run and why (`changed` when it differs from the current one)."""

    replicas: int
    reason: str
    changed: bool = False


def capacity(deployment: DeploymentConfig, nodes: Sequence[NodeView]) -> int:
    """How many replicas of `deployment` the nodes it fits can host (see the module docstring)."""
    return sum(max(1, int(n.resources.get("CPU", 1.0))) for n in nodes if fits(deployment, n))


def load_ratio(cfg: AutoscaleConfig, window: LoadWindow) -> tuple[float, str]:
    """The load against the targets (1.0 = on target) and a description of the measurements."""
    ratios: list[float] = []
    parts: list[str] = []
    if cfg.target_queue is not None:
        per = window.per_replica()
        ratios.append(per / cfg.target_queue)
        parts.append(f"outstanding {per:.1f}/replica (target {cfg.target_queue:g})")
    if cfg.target_p95_ms is not None:
        p95 = window.p95_ms()
        ratios.append(p95 / cfg.target_p95_ms)
        parts.append(f"p95 {p95:.0f} ms (target {cfg.target_p95_ms:g})")
    return max(ratios), ", ".join(parts)


def decide(
    cfg: AutoscaleConfig,
    current: int,
    ready: int,
    window: LoadWindow,
    capacity_: int,
    now: float,
    last_change: float,
) -> Decision:
    """The replica count for a deployment running `current` replicas (`ready` of them ready)."""
    ceiling = max(cfg.min, min(cfg.max, capacity_))
    capped = f"; capped at {ceiling} by node capacity" if capacity_ < cfg.max else ""
    bounded = max(cfg.min, min(ceiling, current))
    if bounded != current:
        return Decision(bounded, f"{current} is outside [{cfg.min}, {ceiling}]{capped}", True)
    if not len(window) or not ready:
        return Decision(current, "no ready replica measured yet")
    ratio, measured = load_ratio(cfg, window)
    since = now - last_change
    if ratio > 1 + TOLERANCE:
        if current >= ceiling:
            return Decision(current, f"{measured}: at the maximum {ceiling}{capped}")
        if ready < current and since < STARTING_GRACE_S:
            return Decision(current, f"{measured}: waiting for {current - ready} starting replica(s)")
        if since < cfg.cooldown_s / 3:
            return Decision(
                current, f"{measured}: scale-up cooldown ({since:.0f}/{cfg.cooldown_s / 3:.0f} s)"
            )
        want = min(ceiling, max(current + 1, min(2 * current, math.ceil(ready * ratio))))
        return Decision(want, f"{measured} above target", True)
    if ratio < 1 - TOLERANCE and current > cfg.min:
        if since < cfg.cooldown_s:
            return Decision(current, f"{measured}: scale-down cooldown ({since:.0f}/{cfg.cooldown_s:.0f} s)")
        if ready * ratio / (current - 1) > 1 - TOLERANCE:
            return Decision(current, f"{measured}: one replica less would be over target")
        return Decision(current - 1, f"{measured} below target", True)
    return Decision(current, f"{measured}: on target")
