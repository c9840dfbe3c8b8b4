"""Observed replicas and the snapshot built from the controller's view (no Ray).

:class:`ReplicaRecord` is the controller's bookkeeping of one replica actor;
:func:`build_state` turns the manager's desired + observed state into a :class:`FleetState`;
:func:`stable_key` is what decides whether a new snapshot is a change (version bump).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from edgefleet.state import (
    STARTING,
    STOPPING,
    UNHEALTHY,
    DeploymentState,
    DeviceState,
    FleetState,
    NodeState,
    ReplicaState,
)
from fleet.control.reconcile import DEAD, StartReplica
from fleet.errors import FleetError
from fleet.models.manifest import ModelBundle

if TYPE_CHECKING:
    from fleet.control.manager import FleetManager

EVENTS_IN_SNAPSHOT = 50


class ActorGone(FleetError):
    """The actor (or its node) is dead."""


@dataclass
class ReplicaRecord:
    """One replica actor as the controller knows it."""

    replica_id: str
    deployment: str
    node_id: str
    node_name: str
    placed_device: str
    handle: Any
    model: str
    version: str
    precision: str
    state: str = STARTING
    address: str = ""
    device: str = ""
    detail: str = ""
    failures: int = 0
    started_mono: float = field(default_factory=time.monotonic)
    stats: dict[str, float] = field(default_factory=dict)

    @classmethod
    def starting(cls, action: StartReplica, handle: Any, bundle: ModelBundle) -> ReplicaRecord:
        """A record for a replica that was just created."""
        m = bundle.manifest
        return cls(
            action.replica_id,
            action.deployment,
            action.node_id,
            action.node_name,
            action.device,
            handle,
            m.name,
            m.version,
            m.precision,
        )

    def update(self, report: dict[str, Any]) -> None:
        """Take address, device, detail and statistics from a replica's health report."""
        self.address = str(report.get("address") or self.address)
        self.device = str(report.get("device") or self.device)
        error = str(report.get("error") or "")
        self.detail = error or str(report.get("detail") or "")
        self.stats = {
            k: float(v)
            for k, v in report.items()
            if k in ("requests", "errors", "rps", "p50_ms", "p95_ms", "queue_depth", "inflight")
        }

    def published_state(self) -> str:
        """The state as published (a dead replica shows as unhealthy until it is replaced)."""
        return UNHEALTHY if self.state == DEAD else self.state

    def to_state(self) -> ReplicaState:
        """The published ReplicaState."""
        return ReplicaState(
            replica_id=self.replica_id,
            deployment=self.deployment,
            node_id=self.node_id,
            node_name=self.node_name,
            device=self.device or self.placed_device,
            address=self.address,
            state=self.published_state(),
            model=self.model,
            version=self.version,
            precision=self.precision,
            detail=self.detail,
        )


def _node_health(alive: bool, drained: bool, age: float | None, stale_after: float) -> str:
    if not alive:
        return "dead"
    if drained:
        return "drained"
    if age is None or age > stale_after:
        return "stale"
    return "ok"


def build_state(mgr: FleetManager) -> FleetState:
    """A snapshot of `mgr` (version left at 0; the manager assigns it)."""
    now = time.time()
    stale_after = 3 * mgr.policy.fleet.reconcile_interval_s + 2 * mgr.policy.fleet.health_timeout_s
    nodes: list[NodeState] = []
    for n in mgr.nodes:
        report, seen = mgr.reports.get(n.node_id, ({}, None))
        devices = report.get("devices")
        if devices is None:
            devices = [DeviceState(d, d, [], False) for d in n.devices()]
        age = now - seen if seen is not None else None
        nodes.append(
            NodeState(
                node_id=n.node_id,
                name=n.name,
                address=n.address,
                devices=list(devices),
                labels=dict(n.labels),
                resources=dict(n.resources),
                alive=n.alive,
                drained=n.drained,
                cpu_percent=float(report.get("cpu_percent", 0.0)),
                memory_percent=float(report.get("memory_percent", 0.0)),
                heartbeat_age_s=round(age, 3) if age is not None else -1.0,
                replicas=sorted(r.replica_id for r in mgr.replicas.values() if r.node_id == n.node_id),
                health=_node_health(n.alive, n.drained, age, stale_after),
            )
        )
    deployments: list[DeploymentState] = []
    for dep in mgr.policy.deployments:
        bundle = mgr.bundles.get(dep.name)
        replicas = sorted(
            (r for r in mgr.replicas.values() if r.deployment == dep.name), key=lambda r: r.replica_id
        )
        manifest = bundle.manifest if bundle is not None else None
        error = mgr.bundle_errors.get(dep.name) or mgr.placement_errors.get(dep.name, "")
        backoff = mgr.backoff.get(dep.name)
        if not error and backoff is not None and backoff[0] > time.monotonic():
            error = backoff[2]
        deployments.append(
            DeploymentState(
                name=dep.name,
                model=manifest.name if manifest else dep.model,
                version=manifest.version if manifest else "",
                precision=manifest.precision if manifest else "",
                desired=dep.replicas,
                ready=sum(1 for r in replicas if r.state == "ready"),
                replicas=[r.to_state() for r in replicas],
                price_per_call_usd=dep.price_per_call_usd,
                task=manifest.task if manifest else "",
                labels=list(manifest.labels) if manifest else [],
                error=error,
            )
        )
    return FleetState(
        version=0,
        unix_ms=now * 1000.0,
        nodes=nodes,
        deployments=deployments,
        events=list(mgr.events)[-EVENTS_IN_SNAPSHOT:],
    )


def stable_key(state: FleetState) -> object:
    """Everything that makes a snapshot different, except timestamps and heartbeat ages.

    CPU and memory percent count in 5% steps so load changes show without a bump every pass.
    """
    nodes = tuple(
        (
            n.node_id,
            n.name,
            n.address,
            repr(n.devices),
            tuple(sorted(n.labels.items())),
            n.alive,
            n.drained,
            int(n.cpu_percent // 5),
            int(n.memory_percent // 5),
            tuple(n.replicas),
            n.health,
        )
        for n in state.nodes
    )
    return (nodes, repr(state.deployments), tuple(state.events))


__all__ = ["STOPPING", "ActorGone", "ReplicaRecord", "build_state", "stable_key"]
