"""The published fleet snapshot: plain, picklable dataclasses (no proto, no Ray).

The controller publishes a :class:`FleetState` with a version that increments on every change;
the router and the dashboard read it (``ControllerClient.get_state``) and long-poll for the next.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class ReplicaPhase(StrEnum):
    """Where a replica is in its life. ``DEAD`` is observed by the controller only and never
    published: a dead replica shows as ``UNHEALTHY`` until it is replaced."""

    STARTING = "starting"
    READY = "ready"
    UNHEALTHY = "unhealthy"
    STOPPING = "stopping"
    DEAD = "dead"


class NodeHealth(StrEnum):
    """A node's health as published: ``STALE`` when its agent has not reported lately."""

    OK = "ok"
    DRAINED = "drained"
    STALE = "stale"
    DEAD = "dead"


@dataclass
class DeviceState:
    """One OpenVINO device a node offers; `simulated` when advertised but absent from OpenVINO."""

    name: str
    full_name: str
    capabilities: list[str] = field(default_factory=list)
    simulated: bool = False


@dataclass
class NodeState:
    """One Ray node of the fleet as last observed."""

    node_id: str
    name: str
    address: str
    devices: list[DeviceState] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    resources: dict[str, float] = field(default_factory=dict)
    alive: bool = True
    drained: bool = False
    cpu_percent: float = 0.0
    memory_percent: float = 0.0
    heartbeat_age_s: float = 0.0
    replicas: list[str] = field(default_factory=list)
    health: NodeHealth = NodeHealth.OK


@dataclass
class ReplicaState:
    """One replica of a deployment; `address` is its KServe v2 gRPC endpoint ``host:port``.

    `precision` is the model's (manifest) precision, e.g. ``INT8``; `inference_precision` the one
    OpenVINO really computes in on the replica (``f32``, ``bf16``...; empty until it is loaded);
    `isa` the ISA features of its node's CPU (``AVX2``, ``AVX512``, ``VNNI``, ``AMX``, ``BF16``).
    """

    replica_id: str
    deployment: str
    node_id: str
    node_name: str
    device: str
    address: str
    state: ReplicaPhase
    model: str = ""
    version: str = ""
    precision: str = ""
    detail: str = ""  # e.g. device or precision fallback reason, or the last health error
    inference_precision: str = ""
    isa: list[str] = field(default_factory=list)
    # LLM replicas only (from their health reports, rounded so that noise does not bump the snapshot):
    tokens_per_s: float = 0.0
    ttft_p50_ms: float = 0.0
    ttft_p95_ms: float = 0.0
    queue_depth: int = 0  # requests waiting for their first token
    metrics_address: str = ""  # host:port of the replica's Prometheus /metrics ("" until it serves one)


@dataclass
class CollectionInfo:
    """What a retriever deployment searches (task ``retrieve``): its size, index and encoder."""

    chunks: int
    documents: int
    index: str  # "brute" or "hnsw"
    encoder: str


@dataclass
class DeploymentState:
    """Desired and actual replicas of one deployment, plus what the router needs of its model."""

    name: str
    model: str
    version: str
    precision: str
    desired: int
    ready: int
    replicas: list[ReplicaState] = field(default_factory=list)
    price_per_call_usd: float = 0.0
    task: str = ""
    labels: list[str] = field(default_factory=list)
    error: str = ""  # why it cannot be (fully) served, e.g. a PlacementError
    context_length: int = 0  # generative models: context window in tokens (from the manifest); 0 = unknown
    precision_policy: str = "auto"  # the deployment's `precision` setting: auto, f32 or bf16
    collection: CollectionInfo | None = None  # retriever deployments (task "retrieve") only
    # A canary rollout in progress: the new version, the share of requests routers send to it, the
    # share of its answers they also ask the stable version for (agreement); the rollout summary.
    canary_version: str = ""
    canary_share: float = 0.0
    shadow_share: float = 0.0
    rollout: str = ""
    autoscale: str = ""  # the autoscaler's bounds, target and last measurement/decision


@dataclass
class FleetState:
    """A versioned snapshot of the whole fleet. `epoch` names the controller incarnation that
    published it: versions count up within an epoch, and a restarted controller has a new one."""

    version: int = 0
    unix_ms: float = 0.0
    nodes: list[NodeState] = field(default_factory=list)
    deployments: list[DeploymentState] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    epoch: str = ""

    def deployment(self, name: str) -> DeploymentState | None:
        """The deployment called `name`, or None."""
        return next((d for d in self.deployments if d.name == name), None)

    def node(self, name_or_id: str) -> NodeState | None:
        """The node with this name or id, or None."""
        return next((n for n in self.nodes if name_or_id in (n.name, n.node_id)), None)

    def ready_addresses(self, deployment: str) -> list[str]:
        """KServe v2 addresses of the ready replicas of `deployment`."""
        dep = self.deployment(deployment)
        if dep is None:
            return []
        return [r.address for r in dep.replicas if r.state == ReplicaPhase.READY and r.address]
