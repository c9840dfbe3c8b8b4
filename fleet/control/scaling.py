"""Autoscaling for the manager: measure each autoscaled deployment's load every pass and apply
:func:`fleet.control.autoscale.decide`.

Mixed into :class:`fleet.control.manager.FleetManager`. The measurements come from the replicas'
health reports (``inflight``: requests in the replica, waiting or running; ``recent_p95_ms``: p95
of the requests it finished in its last 10 s); the chosen count is kept in the desired state
(``DesiredState.autoscaled``, saved, so a restarted controller keeps it) and every change is an
event (``autoscale NAME: 1 -> 2 replicas (...)``), which the dashboard and ``edgefleet status``
show, as they show each deployment's bounds, target and latest measurement.
"""

from __future__ import annotations

import time

from fleet.control.autoscale import LoadSample, LoadWindow, capacity, decide
from fleet.control.desired import DesiredState
from fleet.control.placement import NodeView
from fleet.control.reconcile import READY
from fleet.control.snapshot import ReplicaRecord


class Autoscaling:
    """Per-pass autoscaling of deployments with ``autoscale`` (see the module docstring)."""

    desired: DesiredState
    nodes: list[NodeView]
    replicas: dict[str, ReplicaRecord]
    load_windows: dict[str, LoadWindow]
    last_scaled: dict[str, float]  # deployment -> monotonic time of its last change
    autoscale_notes: dict[str, str]

    def event(self, message: str) -> None:
        """Record a human-readable event (FleetManager implements it)."""
        raise NotImplementedError

    async def persist(self) -> None:
        """Save the desired state (FleetManager implements it)."""
        raise NotImplementedError

    async def autoscale(self, now: float | None = None) -> None:
        """Sample every autoscaled deployment's load and apply the decisions."""
        now = time.monotonic() if now is None else now
        changed = False
        live = set()
        for dep in self.desired.deployments():
            cfg = dep.autoscale
            if cfg is None:
                continue
            live.add(dep.name)
            track = self.desired.versions.get(dep.name)
            canary = track.canary if track is not None else ""  # a canary's replicas are not scaled
            ready = [
                r
                for r in self.replicas.values()
                if r.deployment == dep.name and r.state == READY and not (canary and r.version == canary)
            ]
            window = self.load_windows.get(dep.name)
            if window is None or (window.window_s, window.stabilize_s) != (cfg.window_s, cfg.cooldown_s):
                window = self.load_windows[dep.name] = LoadWindow(cfg.window_s, cfg.cooldown_s)
            window.add(
                LoadSample(
                    now,
                    len(ready),
                    sum(r.stats.get("inflight", 0.0) for r in ready),
                    max(
                        (r.stats.get("recent_p95_ms", r.stats.get("p95_ms", 0.0)) for r in ready), default=0.0
                    ),
                )
            )
            last = self.last_scaled.setdefault(dep.name, now)
            cap = capacity(dep, self.nodes)
            decision = decide(cfg, dep.replicas, len(ready), window, cap, now, last)
            bounds = f"{cfg.min}..{cfg.max} (capacity {cap})"
            if decision.changed:
                self.desired.autoscaled[dep.name] = decision.replicas
                self.last_scaled[dep.name] = now
                self.event(
                    f"autoscale {dep.name}: {dep.replicas} -> {decision.replicas} replicas ({decision.reason})"
                )
                self.autoscale_notes[dep.name] = (
                    f"{bounds}: {dep.replicas} -> {decision.replicas}, {decision.reason}"
                )
                changed = True
            else:
                self.autoscale_notes[dep.name] = f"{bounds}: {dep.replicas}, {decision.reason}"
        for name in [n for n in self.autoscale_notes if n not in live]:
            self.autoscale_notes.pop(name, None)
            self.load_windows.pop(name, None)
            self.last_scaled.pop(name, None)
        if changed:
            await self.persist()

    def autoscale_view(self) -> dict[str, str]:
        """Deployment -> its autoscaler summary (bounds, count, measurement, decision)."""
        return dict(self.autoscale_notes)
