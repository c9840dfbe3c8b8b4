"""The router's part in a canary rollout: split the traffic, measure each version, shadow.

For a deployment whose snapshot names a ``canary_version`` (the controller runs a new model
version beside the stable one), :meth:`RolloutTracker.pool` sends ``canary_share`` of the
requests to the canary's replicas and the rest to the others (falling back to whichever group has
a ready replica). Every call to such a deployment is counted per version (answers, failures, a
latency histogram), and ``shadow_share`` of the canary's answers are also asked of a stable
replica in the background (never on the caller's path, at most `max_shadows` at a time) to count
agreement (the same label; embeddings with cosine >= 0.99). :meth:`report` is what the router
sends the controller every second (``FleetSource.report_outcomes``, when the source has it); the
controller judges the canary on it (``fleet.control.rollout.judge``). Deployments without a canary
cost one attribute check per call.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import math
import random
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

# The controller's histogram bounds (fleet.control.rollout.LATENCY_BOUNDS_MS; the router does
# not import the fleet, so the wire format is repeated here and pinned by a unit test).
LATENCY_BOUNDS_MS: tuple[float, ...] = (
    0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 2000, 5000, math.inf,
)  # fmt: skip
EMBED_AGREEMENT_COSINE = 0.99
REPORT_INTERVAL_S = 1.0
log = logging.getLogger(__name__)


@dataclass
class _Counts:
    requests: int = 0
    errors: int = 0
    latency: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BOUNDS_MS))
    compared: int = 0
    agreed: int = 0

    def record(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "latency": list(self.latency),
            "compared": self.compared,
            "agreed": self.agreed,
        }


def agree(task: str, canary: Any, stable: Any) -> bool:
    """Do two answers (TargetAnswer-like: label, embedding) agree?"""
    if task == "embed":
        a, b = canary.embedding, stable.embedding
        if not a or not b or len(a) != len(b):
            return False
        dot = sum(x * y for x, y in zip(a, b, strict=True))
        norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
        return norm > 0 and dot / norm >= EMBED_AGREEMENT_COSINE
    return bool(canary.label == stable.label)


Shadow = Callable[[Any, Any], Awaitable[Any]]  # (dep, stable replica) -> the stable answer


class RolloutTracker:
    """Canary split, per-version counters and shadow comparisons (see the module docstring)."""

    def __init__(
        self, router_id: str | None = None, rng: random.Random | None = None, max_shadows: int = 4
    ) -> None:
        self.router_id = router_id or f"router-{secrets.token_hex(4)}"
        self.rng = rng or random.Random()
        self.max_shadows = max_shadows
        self._groups: dict[str, tuple[int, list[Any], list[Any]]] = {}  # name -> (id(dep), stable, canary)
        self._counts: dict[str, tuple[str, dict[str, _Counts]]] = {}  # name -> (canary, version -> counts)
        self._shadows: set[asyncio.Task[None]] = set()

    def _split(self, dep: Any) -> tuple[list[Any], list[Any]]:
        cached = self._groups.get(dep.name)
        if cached is not None and cached[0] == id(dep):
            return cached[1], cached[2]
        canary = [r for r in dep.replicas if r.version == dep.canary_version]
        stable = [r for r in dep.replicas if r.version != dep.canary_version]
        self._groups[dep.name] = (id(dep), stable, canary)
        return stable, canary

    def pool(self, dep: Any) -> Sequence[Any]:
        """The replicas to pick one from for the next call to `dep`."""
        if not getattr(dep, "canary_version", ""):
            return dep.replicas
        stable, canary = self._split(dep)
        canary_ready = any(r.state == "ready" for r in canary)
        stable_ready = any(r.state == "ready" for r in stable)
        if canary_ready and (not stable_ready or self.rng.random() < dep.canary_share):
            return canary
        return stable if stable_ready or not canary else canary

    def _version_counts(self, dep: Any, version: str) -> _Counts:
        current = self._counts.get(dep.name)
        if current is None or current[0] != dep.canary_version:
            current = self._counts[dep.name] = (dep.canary_version, {})
        return current[1].setdefault(version, _Counts())

    def observe(self, dep: Any, version: str, ok: bool, ms: float) -> None:
        """One call to `dep`'s replica of `version` finished (only counted during a canary)."""
        if not getattr(dep, "canary_version", ""):
            return
        counts = self._version_counts(dep, version)
        counts.requests += 1
        if ok:
            counts.latency[bisect.bisect_left(LATENCY_BOUNDS_MS, ms)] += 1
        else:
            counts.errors += 1

    def maybe_shadow(self, dep: Any, version: str, task: str, answer: Any, ask_stable: Shadow) -> None:
        """After a canary answer: with probability ``shadow_share`` ask a stable replica too, in
        the background, and count whether the two agree."""
        if (
            version != getattr(dep, "canary_version", "")
            or not version
            or len(self._shadows) >= self.max_shadows
            or self.rng.random() >= getattr(dep, "shadow_share", 0.0)
        ):
            return
        stable = [r for r in self._split(dep)[0] if r.state == "ready"]
        if not stable:
            return
        replica = self.rng.choice(stable)
        task_ = asyncio.get_running_loop().create_task(
            self._shadow(dep, version, task, answer, replica, ask_stable)
        )
        self._shadows.add(task_)
        task_.add_done_callback(self._shadows.discard)

    async def _shadow(
        self, dep: Any, version: str, task: str, answer: Any, replica: Any, ask: Shadow
    ) -> None:
        try:
            other = await ask(dep, replica)
        except Exception:  # noqa: BLE001 -- a failed shadow compares nothing; it is no canary failure
            return
        if dep.canary_version != version:
            return
        counts = self._version_counts(dep, version)
        counts.compared += 1
        counts.agreed += agree(task, answer, other)

    def report(self) -> dict[str, Any]:
        """Per deployment with a canary: the canary version and each version's counters."""
        return {
            "router": self.router_id,
            "deployments": {
                name: {"canary": canary, "versions": {v: c.record() for v, c in versions.items()}}
                for name, (canary, versions) in self._counts.items()
            },
        }

    def forget(self, live: set[str]) -> None:
        """Drop counters of deployments no longer under a canary (names in `live` are kept)."""
        for name in [n for n in self._counts if n not in live]:
            del self._counts[name]
        for name in [n for n in self._groups if n not in live]:
            del self._groups[name]

    async def aclose(self) -> None:
        """Cancel shadow calls in flight."""
        for task in list(self._shadows):
            task.cancel()
        if self._shadows:
            await asyncio.gather(*self._shadows, return_exceptions=True)


async def report_loop(tracker: RolloutTracker, fleet: Any, interval_s: float = REPORT_INTERVAL_S) -> None:
    """Every `interval_s`, send `fleet` (its ``report_outcomes``) the counters of deployments
    under a canary; drop those no longer under one. Returns at once when the fleet source takes
    no reports. A failed send is retried with the next report (the counters are cumulative)."""
    send = getattr(fleet, "report_outcomes", None)
    if send is None:
        return
    while True:
        await asyncio.sleep(interval_s)  # a periodic timer, not a synchronisation
        try:
            state = await fleet.state()
            tracker.forget({d.name for d in state.deployments if getattr(d, "canary_version", "")})
            report = tracker.report()
            if report["deployments"]:
                await send(report)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 -- the controller may be restarting; try again later
            log.debug("rollout report not sent: %s", exc)
