"""Pure reconciliation: desired deployments + observed nodes and replicas -> actions.

No Ray and no I/O: the controller observes, calls :func:`plan`, and applies the actions.

Rules, per deployment:
- dead replicas (actor gone, node gone) and unhealthy ones are stopped and replaced;
- replicas of deployments no longer desired are stopped;
- *misplaced* replicas (node drained, selector or devices no longer match, stale model version,
  another inference precision setting) are replaced first and stopped once enough replacements
  are ready (make-before-break); a replica on a drained node is kept only while a replacement is
  still starting;
- scale-down stops starting replicas before ready ones, and the most crowded nodes first;
- when no node fits, the PlacementError reason is reported and the rest of the plan still runs;
- a deployment with a *canary* (:class:`Canary`: a new model version under test) runs two groups
  side by side, each with these rules: the canary version's replicas (``canary.replicas`` of them)
  and the others (``replicas`` of the stable version; other versions there are misplaced).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial

from edgefleet.policy.batching_options import BatchingOptions
from edgefleet.policy.llm_options import LLMOptions
from edgefleet.policy.schema import DeploymentConfig
from edgefleet.state import ReplicaPhase
from fleet.control.capacity import NodeUsage, room, usage_by_node, why_full
from fleet.control.placement import NodeView, choose_node, fits
from fleet.errors import PlacementError

READY, STARTING, STOPPING, UNHEALTHY, DEAD = (
    ReplicaPhase.READY,
    ReplicaPhase.STARTING,
    ReplicaPhase.STOPPING,
    ReplicaPhase.UNHEALTHY,
    ReplicaPhase.DEAD,
)


@dataclass(frozen=True)
class ReplicaView:
    """What reconciliation needs to know about one observed replica."""

    replica_id: str
    deployment: str
    node_id: str
    state: ReplicaPhase
    version: str = ""
    precision: str = "auto"  # the deployment's precision setting it was started with


@dataclass(frozen=True)
class StartReplica:
    """Start a new replica of `deployment` on `node_id`, compiled for `device_prefs` at `precision`
    (the deployment's setting: auto, f32 or bf16)."""

    replica_id: str
    deployment: str
    node_id: str
    node_name: str
    device: str
    device_prefs: tuple[str, ...]
    precision: str = "auto"
    llm: LLMOptions | None = None  # generation settings (LLM models only)
    batching: BatchingOptions | None = None  # dynamic batching (text models only)
    version: str = ""  # the model version to start ("" = the deployment's stable version)


@dataclass(frozen=True)
class StopReplica:
    """Stop replica `replica_id`; `reason` is shown in the events."""

    replica_id: str
    reason: str


@dataclass(frozen=True)
class Canary:
    """A deployment's canary: `replicas` replicas of model `version`, beside the stable ones."""

    version: str
    replicas: int


@dataclass
class Plan:
    """The actions of one reconcile pass and the problems met (human-readable)."""

    starts: list[StartReplica] = field(default_factory=list)
    stops: list[StopReplica] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # deployment -> reason

    def empty(self) -> bool:
        """True when there is nothing to do."""
        return not self.starts and not self.stops


def plan(
    desired: Sequence[DeploymentConfig],
    nodes: Sequence[NodeView],
    replicas: Sequence[ReplicaView],
    new_replica_id: Callable[[str], str],
    desired_versions: Mapping[str, str] | None = None,
    blocked: Mapping[str, str] | None = None,
    canaries: Mapping[str, Canary] | None = None,
    max_per_node: int = 1 << 30,
) -> Plan:
    """Compute the actions that move the observed fleet towards `desired`.

    `desired_versions` maps a deployment to the model version its replicas should run (replicas
    with another version are rolled over). `blocked` maps deployments that must not get new
    replicas now (e.g. their model fails to load) to the reason. `canaries` maps deployments with
    a canary in progress to it. No node gets more replicas than it has room for
    (fleet.control.capacity, at most `max_per_node`).
    """
    out = Plan()
    versions = desired_versions or {}
    blocked = blocked or {}
    canaries = canaries or {}
    by_id = {n.node_id: n for n in nodes}
    active = [r for r in replicas if r.state != STOPPING]
    load: Counter[str] = Counter(r.node_id for r in active if r.state != DEAD)
    wanted = {d.name for d in desired}
    by_name = {d.name: d for d in desired}
    # what replicas take now (those stopped in this pass free it on the next): new ones add to it
    usage = usage_by_node(((r.node_id, r.deployment) for r in active if r.state != DEAD), by_name)
    space = _Room(nodes, usage, max_per_node)

    for r in active:
        if r.deployment not in wanted:
            out.stops.append(
                StopReplica(r.replica_id, f"deployment {r.deployment!r} is no longer in the policy")
            )
            load[r.node_id] -= 1

    for dep in desired:
        mine = [r for r in active if r.deployment == dep.name]
        canary = canaries.get(dep.name)
        if canary is not None:
            trial = [r for r in mine if r.version == canary.version]
            mine = [r for r in mine if r.version != canary.version]
            group = _Group(dep, canary.replicas, canary.version, "canary ")
            _plan_group(out, group, trial, space, by_id, load, new_replica_id, blocked)
        group = _Group(dep, dep.replicas, versions.get(dep.name, ""), "")
        _plan_group(out, group, mine, space, by_id, load, new_replica_id, blocked)
    return out


@dataclass(frozen=True)
class _Room:
    """The nodes, what their replicas take (new ones are added as they are planned) and the cap."""

    nodes: Sequence[NodeView]
    usage: dict[str, NodeUsage]
    max_per_node: int

    def full(self, dep: DeploymentConfig, node: NodeView) -> str | None:
        """Why `node` has no room for another replica of `dep` (None: it has)."""
        here = self.usage.get(node.node_id)
        if room(dep, node, here, self.max_per_node) > 0:
            return None
        return why_full(dep, node, here, self.max_per_node)


@dataclass(frozen=True)
class _Group:
    """Replicas of one deployment that should run one version: `count` of model `version` ("":
    any)."""

    dep: DeploymentConfig
    count: int
    version: str
    label: str  # "canary " or "" (in reasons)


def _plan_group(
    out: Plan,
    group: _Group,
    mine: list[ReplicaView],
    space: _Room,
    by_id: Mapping[str, NodeView],
    load: Counter[str],
    new_replica_id: Callable[[str], str],
    blocked: Mapping[str, str],
) -> None:
    """Append the actions for one group of one deployment to `out` (see the module rules)."""
    dep, count = group.dep, group.count
    good: list[ReplicaView] = []
    misplaced: list[tuple[ReplicaView, bool]] = []  # (replica, on a drained node)
    for r in mine:
        node = by_id.get(r.node_id)
        if r.state == DEAD or node is None or not node.alive:
            out.stops.append(StopReplica(r.replica_id, "replica is dead; replacing it"))
            load[r.node_id] -= 1 if r.state != DEAD else 0
        elif r.state == UNHEALTHY:
            out.stops.append(StopReplica(r.replica_id, "replica is unhealthy; replacing it"))
            load[r.node_id] -= 1
        elif node.drained:
            misplaced.append((r, True))
        elif (
            not fits(dep, node)
            or (group.version and r.version and r.version != group.version)
            or r.precision != dep.precision
        ):
            misplaced.append((r, False))
        else:
            good.append(r)

    # Scale down: starting before ready, crowded nodes first.
    if len(good) > count:
        per_node = Counter(r.node_id for r in good)
        good.sort(key=lambda r: (r.state == READY, -per_node[r.node_id], -load[r.node_id], r.replica_id))
        surplus, good = good[: len(good) - count], good[len(good) - count :]
        for r in surplus:
            out.stops.append(StopReplica(r.replica_id, f"scaling {dep.name} {group.label}down to {count}"))
            load[r.node_id] -= 1

    # Scale up / replace.
    need = count - len(good)
    starting = sum(1 for r in good if r.state == STARTING)
    if need > 0 and dep.name in blocked:
        out.errors[dep.name] = blocked[dep.name]
    elif need > 0:
        dep_load: Counter[str] = Counter(r.node_id for r in good)
        for _ in range(need):
            try:
                where = choose_node(dep, space.nodes, load, dep_load, partial(space.full, dep))
            except PlacementError as exc:
                out.errors[dep.name] = str(exc)
                break
            rid = new_replica_id(dep.name)
            out.starts.append(
                StartReplica(
                    rid,
                    dep.name,
                    where.node_id,
                    where.node_name,
                    where.device,
                    where.device_prefs,
                    dep.precision,
                    dep.llm,
                    dep.batching,
                    version=group.version if group.label else "",
                )
            )
            load[where.node_id] += 1
            dep_load[where.node_id] += 1
            space.usage.setdefault(where.node_id, NodeUsage()).add(dep)
            starting += 1

    # Make-before-break for misplaced replicas.
    ready_good = sum(1 for r in good if r.state == READY)
    gap = max(0, count - ready_good)
    kept = 0
    misplaced.sort(key=lambda m: (m[0].state != READY, m[0].replica_id))
    for r, drained in misplaced:
        limit = min(gap, starting) if drained else gap
        if kept < limit and r.state == READY:
            kept += 1
            continue
        reason = "node drained" if drained else "replica no longer matches its deployment"
        out.stops.append(StopReplica(r.replica_id, f"{reason}; moved"))
        load[r.node_id] -= 1
