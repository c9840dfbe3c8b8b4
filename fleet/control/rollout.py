"""Pure rollout decisions: which version a deployment runs, and a canary's verdict.

No Ray and no I/O. A :class:`VersionTrack` per deployment holds the *stable* version (most of the
traffic), a *canary* under test (or none) and the versions rolled back (never tried again).
:func:`next_track` moves it when the registry (or the policy) names a new version: straight to
it (a rolling update, make-before-break) without a ``rollout`` setting, else to a canary.
Routers measure each version's answers and report :class:`VersionStats`; :func:`judge` turns the
canary's and the stable version's into promote / roll back / wait, with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from edgefleet.policy.fleet_options import RolloutConfig

# Upper bounds (ms) of the latency histogram routers report; mergeable across routers.
LATENCY_BOUNDS_MS: tuple[float, ...] = (
    0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 2000, 5000, math.inf,
)  # fmt: skip
MIN_STABLE_FOR_LATENCY = 20  # stable answers needed before latencies are compared

Verdict = Literal["wait", "promote", "rollback"]


@dataclass(frozen=True)
class VersionTrack:
    """The versions of one deployment: `stable`, the `canary` under test ("" for none), the
    `rejected` ones (rolled back), and the `last` verdict or change, for the dashboard."""

    stable: str
    canary: str = ""
    rejected: tuple[str, ...] = ()
    last: str = ""

    def to_record(self) -> dict[str, Any]:
        """Plain JSON-able data."""
        return {
            "stable": self.stable,
            "canary": self.canary,
            "rejected": list(self.rejected),
            "last": self.last,
        }

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> VersionTrack:
        """From :meth:`to_record`'s data."""
        return cls(
            str(data["stable"]),
            str(data.get("canary") or ""),
            tuple(str(v) for v in data.get("rejected") or ()),
            str(data.get("last") or ""),
        )


def next_track(
    track: VersionTrack | None, resolved: str, rollout: RolloutConfig | None
) -> tuple[VersionTrack, str]:
    """The track once the deployment's model resolves to version `resolved`, and what changed
    ("" when nothing did)."""
    if track is None:
        return VersionTrack(stable=resolved), ""
    if resolved == track.stable:
        if track.canary:
            return replace(
                track, canary="", last=f"canary {track.canary} dropped: the model is {resolved} again"
            ), (f"canary {track.canary} dropped: the model resolves to {resolved} again")
        return track, ""
    if resolved == track.canary or resolved in track.rejected:
        return track, ""
    if rollout is None:
        return replace(track, stable=resolved, canary="", last=f"rolled out {resolved}"), (
            f"rolling out {track.stable} -> {resolved}"
        )
    note = f"canary {resolved} replaces canary {track.canary}" if track.canary else f"canary {resolved}"
    return replace(track, canary=resolved, last=f"canary {resolved} started"), (
        f"{note}: {rollout.canary_replicas} replica(s), {rollout.canary_share:.0%} of the traffic, "
        f"{track.stable} keeps the rest"
    )


def promote(track: VersionTrack, reason: str) -> VersionTrack:
    """The canary becomes the stable version (its replicas stay; the old ones are rolled over)."""
    return VersionTrack(track.canary, "", track.rejected, f"canary {track.canary} promoted: {reason}")


def roll_back(track: VersionTrack, reason: str) -> VersionTrack:
    """The canary is dropped and never tried again."""
    return VersionTrack(
        track.stable, "", (*track.rejected, track.canary), f"canary {track.canary} rolled back: {reason}"
    )


@dataclass
class VersionStats:
    """One version's answers as the routers saw them (counters since its canary started)."""

    requests: int = 0
    errors: int = 0
    latency: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BOUNDS_MS))
    compared: int = 0  # shadowed requests answered by both versions
    agreed: int = 0

    def add(self, other: VersionStats) -> None:
        """Sum `other` into this one."""
        self.requests += other.requests
        self.errors += other.errors
        self.compared += other.compared
        self.agreed += other.agreed
        self.latency = [a + b for a, b in zip(self.latency, other.latency, strict=True)]

    def p95_ms(self) -> float:
        """The upper bound of the bucket holding the 95th percentile (0 without answers)."""
        total = sum(self.latency)
        if not total:
            return 0.0
        seen = 0
        for bound, count in zip(LATENCY_BOUNDS_MS, self.latency, strict=True):
            seen += count
            if seen >= 0.95 * total:
                return bound if math.isfinite(bound) else LATENCY_BOUNDS_MS[-2] * 2
        return LATENCY_BOUNDS_MS[-2] * 2

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> VersionStats:
        """From a router's report (see router.rollout_tracker)."""
        latency = [int(x) for x in data.get("latency") or ()]
        if len(latency) != len(LATENCY_BOUNDS_MS):
            latency = [0] * len(LATENCY_BOUNDS_MS)
        return cls(
            int(data.get("requests", 0)),
            int(data.get("errors", 0)),
            latency,
            int(data.get("compared", 0)),
            int(data.get("agreed", 0)),
        )


def merged(reports: Sequence[Mapping[str, Any]], deployment: str, canary: str) -> dict[str, VersionStats]:
    """Per version, the sum over routers' reports of `deployment` during the canary `canary`."""
    out: dict[str, VersionStats] = {}
    for report in reports:
        dep = (report.get("deployments") or {}).get(deployment)
        if not dep or dep.get("canary") != canary:
            continue
        for version, data in (dep.get("versions") or {}).items():
            out.setdefault(str(version), VersionStats()).add(VersionStats.from_record(data))
    return out


def judge(cfg: RolloutConfig, stable: VersionStats, canary: VersionStats) -> tuple[Verdict, str]:
    """Promote, roll back or wait, and why (see RolloutConfig for the criteria)."""
    n = canary.requests
    if canary.errors > cfg.max_error_rate * cfg.min_requests:  # more than min_requests may ever allow
        return "rollback", f"{canary.errors} of {n} canary calls failed (max {cfg.max_error_rate:.1%})"
    if n < cfg.min_requests:
        return "wait", f"{n}/{cfg.min_requests} canary requests"
    error_rate = canary.errors / n
    if error_rate > cfg.max_error_rate:
        return "rollback", f"error rate {error_rate:.1%} > {cfg.max_error_rate:.1%} over {n} requests"
    parts = [f"{n} requests, errors {error_rate:.1%}"]
    if stable.requests >= MIN_STABLE_FOR_LATENCY and stable.p95_ms() > 0:
        ratio = canary.p95_ms() / stable.p95_ms()
        if ratio > cfg.max_latency_ratio:
            return (
                "rollback",
                f"p95 {canary.p95_ms():g} ms is {ratio:.1f}x the current version's (max {cfg.max_latency_ratio:g}x)",
            )
        parts.append(f"p95 {ratio:.1f}x")
    else:
        parts.append("latency not compared (too few answers from the current version)")
    if cfg.shadow_share > 0 and cfg.min_agreement > 0:
        needed = max(1, math.ceil(cfg.min_requests * cfg.shadow_share / 2))
        if canary.compared < needed:
            return "wait", f"{canary.compared}/{needed} shadowed comparisons ({parts[0]})"
        agreement = canary.agreed / canary.compared
        if agreement < cfg.min_agreement:
            return (
                "rollback",
                f"agreement with the current version {agreement:.0%} < {cfg.min_agreement:.0%} "
                f"({canary.compared} compared)",
            )
        parts.append(f"agreement {agreement:.0%} ({canary.compared} compared)")
    return "promote", ", ".join(parts)
