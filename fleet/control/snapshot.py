"""Observed replicas and the snapshot built from the controller's view (no Ray).

:class:`ReplicaRecord` is the controller's bookkeeping of one replica actor;
:func:`build_state` turns :class:`Observed` (plain data the manager gathers) into a :class:`FleetState`;
:func:`stable_key` is what decides whether a new snapshot is a change (version bump).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from edgefleet.policy.schema import DeploymentConfig
from edgefleet.state import (
    CollectionInfo,
    DeploymentState,
    DeviceState,
    FleetState,
    NodeHealth,
    NodeState,
    ReplicaPhase,
    ReplicaState,
)
from fleet.control.placement import NodeView
from fleet.control.reconcile import StartReplica
from fleet.models.manifest import Manifest, ModelBundle

EVENTS_IN_SNAPSHOT = 50
STAT_KEYS = ("requests", "errors", "rps", "p50_ms", "p95_ms", "queue_depth", "inflight", "recent_p95_ms")
LLM_STAT_KEYS = ("tokens_per_s", "ttft_p50_ms", "ttft_p95_ms", "generating")


def _coarse(value: float) -> float:
    """Two significant digits: enough for a dashboard, and steady enough not to bump the snapshot
    version on every health check."""
    return float(f"{value:.2g}") if value else 0.0


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
    state: ReplicaPhase = ReplicaPhase.STARTING
    address: str = ""
    device: str = ""
    detail: str = ""
    failures: int = 0
    started_mono: float = field(default_factory=time.monotonic)
    stats: dict[str, float] = field(default_factory=dict)
    precision_setting: str = "auto"  # the deployment's precision it was started with
    inference_precision: str = ""  # what OpenVINO computes in, as the replica reports it
    isa: list[str] = field(default_factory=list)
    metrics_address: str = ""  # the replica's Prometheus /metrics endpoint, as it reports it

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
            precision_setting=action.precision,
        )

    @classmethod
    def adopted(cls, replica_id: str, handle: Any, report: dict[str, Any]) -> ReplicaRecord | None:
        """A record for a running replica found after a controller restart, from its health
        report (see :meth:`fleet.serving.replica.Replica.health`); None when the report does not
        say which deployment and node it belongs to."""
        deployment, node_id = str(report.get("deployment") or ""), str(report.get("node_id") or "")
        if not deployment or not node_id:
            return None
        record = cls(
            replica_id,
            deployment,
            node_id,
            str(report.get("node_name") or ""),
            str(report.get("placed_device") or ""),
            handle,
            str(report.get("bundle_model") or report.get("model") or ""),
            str(report.get("bundle_version") or report.get("version") or ""),
            str(report.get("bundle_precision") or report.get("precision") or ""),
            state=ReplicaPhase.READY if report.get("ready") else ReplicaPhase.UNHEALTHY,
            precision_setting=str(report.get("precision_setting") or "auto"),
        )
        record.update(report)
        return record

    def update(self, report: dict[str, Any]) -> None:
        """Take address, device, inference precision, ISA, detail and statistics from a replica's
        health report."""
        self.address = str(report.get("address") or self.address)
        self.device = str(report.get("device") or self.device)
        self.inference_precision = str(report.get("inference_precision") or self.inference_precision)
        self.isa = [str(f) for f in report.get("isa") or self.isa]
        self.metrics_address = str(report.get("metrics_address") or self.metrics_address)
        error = str(report.get("error") or "")
        self.detail = error or str(report.get("detail") or "")
        self.stats = {k: float(v) for k, v in report.items() if k in STAT_KEYS or k in LLM_STAT_KEYS}

    def published_state(self) -> ReplicaPhase:
        """The state as published (a dead replica shows as unhealthy until it is replaced)."""
        return ReplicaPhase.UNHEALTHY if self.state == ReplicaPhase.DEAD else self.state

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
            inference_precision=self.inference_precision,
            isa=list(self.isa),
            metrics_address=self.metrics_address,
            **self._llm_stats(),
        )

    def _llm_stats(self) -> dict[str, Any]:
        if "tokens_per_s" not in self.stats:
            return {}
        return {
            "tokens_per_s": _coarse(self.stats["tokens_per_s"]),
            "ttft_p50_ms": _coarse(self.stats["ttft_p50_ms"]),
            "ttft_p95_ms": _coarse(self.stats["ttft_p95_ms"]),
            "queue_depth": int(self.stats.get("queue_depth", 0)),
        }


def _node_health(alive: bool, drained: bool, age: float | None, stale_after: float) -> NodeHealth:
    if not alive:
        return NodeHealth.DEAD
    if drained:
        return NodeHealth.DRAINED
    if age is None or age > stale_after:
        return NodeHealth.STALE
    return NodeHealth.OK


@dataclass
class Observed:
    """What the controller has observed and decided, as plain data: the input of :func:`build_state`.

    `reports` maps a node id to (its agent's last report, unix time seen); `errors` maps a
    deployment to why it cannot be fully served (a model that does not load, no fitting node,
    a crash loop).
    """

    deployments: Sequence[DeploymentConfig]
    nodes: Sequence[NodeView]
    replicas: Sequence[ReplicaRecord]
    bundles: Mapping[str, ModelBundle]
    reports: Mapping[str, tuple[Mapping[str, Any], float]]
    errors: Mapping[str, str]
    events: Sequence[str]
    stale_after_s: float
    # deployment -> (canary version, canary share, shadow share, rollout summary)
    rollouts: Mapping[str, tuple[str, float, float, str]] = field(default_factory=dict)
    autoscale: Mapping[str, str] = field(default_factory=dict)  # deployment -> autoscaler summary


def build_state(obs: Observed, now: float | None = None) -> FleetState:
    """The published snapshot of `obs` (version left at 0; the manager assigns it)."""
    now = time.time() if now is None else now
    by_node: dict[str, list[str]] = {}
    by_deployment: dict[str, list[ReplicaRecord]] = {}
    for r in sorted(obs.replicas, key=lambda r: r.replica_id):
        by_node.setdefault(r.node_id, []).append(r.replica_id)
        by_deployment.setdefault(r.deployment, []).append(r)
    nodes = [_node_state(n, obs, by_node.get(n.node_id, []), now) for n in obs.nodes]
    deployments: list[DeploymentState] = []
    for dep in obs.deployments:
        bundle = obs.bundles.get(dep.name)
        replicas = by_deployment.get(dep.name, [])
        manifest = bundle.manifest if bundle is not None else None
        canary, canary_share, shadow_share, rollout = obs.rollouts.get(dep.name, ("", 0.0, 0.0, ""))
        deployments.append(
            DeploymentState(
                name=dep.name,
                model=manifest.name if manifest else dep.model,
                version=manifest.version if manifest else "",
                precision=manifest.precision if manifest else "",
                desired=dep.replicas,
                ready=sum(1 for r in replicas if r.state == ReplicaPhase.READY),
                replicas=[r.to_state() for r in replicas],
                price_per_call_usd=dep.price_per_call_usd,
                task=manifest.task if manifest else "",
                labels=list(manifest.labels) if manifest else [],
                error=obs.errors.get(dep.name, ""),
                precision_policy=dep.precision,
                context_length=manifest.llm.context_length if manifest and manifest.llm else 0,
                collection=collection_info(manifest),
                canary_version=canary,
                canary_share=canary_share,
                shadow_share=shadow_share,
                rollout=rollout,
                autoscale=obs.autoscale.get(dep.name, ""),
            )
        )
    return FleetState(
        version=0,
        unix_ms=now * 1000.0,
        nodes=nodes,
        deployments=deployments,
        events=list(obs.events)[-EVENTS_IN_SNAPSHOT:],
    )


def collection_info(manifest: Manifest | None) -> CollectionInfo | None:
    """A retrieval collection's size, index and encoder (None for other models)."""
    spec = manifest.retrieval if manifest is not None else None
    if spec is None:
        return None
    enc = spec.encoder
    encoder = f"{enc.name} (passages {enc.passage_precision}, queries {enc.query_precision})"
    return CollectionInfo(spec.chunks, spec.documents, spec.index, encoder)


def _node_state(n: NodeView, obs: Observed, replica_ids: list[str], now: float) -> NodeState:
    report, seen = obs.reports.get(n.node_id, ({}, None))
    devices = report.get("devices")
    if devices is None:
        devices = [DeviceState(d, d, [], False) for d in n.devices()]
    age = now - seen if seen is not None else None
    return NodeState(
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
        replicas=replica_ids,
        health=_node_health(n.alive, n.drained, age, obs.stale_after_s),
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


__all__ = ["Observed", "ReplicaRecord", "build_state", "stable_key"]
