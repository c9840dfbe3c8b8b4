"""Pure autoscaling decisions: how many replicas a deployment with ``autoscale`` should run.

No Ray and no I/O. Every pass the controller adds a :class:`LoadSample` (its ready replicas'
outstanding requests and p95 latency, from their health reports) to the deployment's
:class:`LoadWindow`; :func:`decide` compares the window's averages with the targets:

- the load *ratio* is outstanding-per-replica / ``target_queue`` and p95 / ``target_p95_ms``
  (the larger of those configured);
- above 1 + :data:`TOLERANCE` the recommendation is ``ceil(ready * ratio)`` replicas (at least one
  more, at most double), applied once ``cooldown_s / 3`` has passed since the last change and no
  replica is still starting;
- below 1 - :data:`TOLERANCE` it recommends one replica less if the load would still be under
  target with one less. Outstanding requests do not scale linearly with load (queueing), so the
  projection treats each replica as an M/M/1 queue: ``L`` outstanding means utilisation
  ``rho = L / (1 + L)``; with ``n - 1`` replicas ``rho' = rho * n / (n - 1)``, ``L' = rho' / (1 -
  rho')`` and latency grows by ``(1 - rho) / (1 - rho')``. A scale-down is applied only when every
  recommendation of the last ``cooldown_s`` was below the current count (Kubernetes' stabilisation
  window) and ``cooldown_s`` has passed since the last change, so a load that just dropped for a
  moment does not make the count flap;
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
    """The samples of the last `window_s` seconds, and the recommendations of the last
    `stabilize_s` seconds."""

    def __init__(self, window_s: float, stabilize_s: float = 0.0) -> None:
        self.window_s = window_s
        self.stabilize_s = stabilize_s
        self._samples: deque[LoadSample] = deque()
        self._recommended: deque[tuple[float, int]] = deque()

    def recommend(self, at: float, replicas: int) -> int:
        """Keep a recommendation; returns the highest of the stabilisation window."""
        self._recommended.append((at, replicas))
        while self._recommended and self._recommended[0][0] < at - self.stabilize_s:
            self._recommended.popleft()
        return max(r for _, r in self._recommended)

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


def ratio_with_one_less(cfg: AutoscaleConfig, window: LoadWindow, ready: int) -> float:
    """The load ratio with one ready replica less (M/M/1 per replica, see the module docstring)."""
    if ready <= 1:
        return math.inf
    per = window.per_replica()
    rho = per / (1.0 + per)
    rho_less = rho * ready / (ready - 1)
    if rho_less >= 1.0:
        return math.inf
    ratios: list[float] = []
    if cfg.target_queue is not None:
        ratios.append(rho_less / (1.0 - rho_less) / cfg.target_queue)
    if cfg.target_p95_ms is not None:
        ratios.append(window.p95_ms() * (1.0 - rho) / (1.0 - rho_less) / cfg.target_p95_ms)
    return max(ratios)


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
        raw = max(current + 1, min(2 * current, math.ceil(ready * ratio)))
    elif (
        ratio < 1 - TOLERANCE
        and current > cfg.min
        and ratio_with_one_less(cfg, window, ready) <= 1 - TOLERANCE
    ):
        raw = current - 1
    else:
        raw = current
    stable = window.recommend(now, raw)
    if raw > current:
        if current >= ceiling:
            return Decision(current, f"{measured}: at the maximum {ceiling}{capped}")
        if ready < current and since < STARTING_GRACE_S:
            return Decision(current, f"{measured}: waiting for {current - ready} starting replica(s)")
        if since < cfg.cooldown_s / 3:
            return Decision(
                current, f"{measured}: scale-up cooldown ({since:.0f}/{cfg.cooldown_s / 3:.0f} s)"
            )
        return Decision(min(ceiling, raw), f"{measured} above target", True)
    if raw < current:
        if since < cfg.cooldown_s or stable >= current:
            return Decision(current, f"{measured}: below target, waiting {cfg.cooldown_s:.0f} s to be sure")
        return Decision(current - 1, f"{measured} below target", True)
    if ratio < 1 - TOLERANCE and current > cfg.min:
        return Decision(current, f"{measured}: one replica less would be over target")
    return Decision(current, f"{measured}: on target")
