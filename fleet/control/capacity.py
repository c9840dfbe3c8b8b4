"""Node capacity: how many more replicas of a deployment a node has room for.

Replica actors take no Ray CPUs (``num_cpus=0``: OpenVINO manages its own threads), so the control
plane counts what they take itself. A deployment declares what one replica needs
(``deployments[].resources``: ``cpu``, ``memory_mb``; 0 is not counted); a node offers its Ray
``CPU`` and ``memory`` resources; and no node holds more than ``fleet.max_replicas_per_node``
replicas whatever they declare. Pure functions, no Ray.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from edgefleet.policy.schema import DeploymentConfig
from fleet.control.placement import NodeView, fits

UNLIMITED = 1 << 30


@dataclass
class NodeUsage:
    """What the replicas on one node take: their count, CPUs and memory (MB)."""

    replicas: int = 0
    cpu: float = 0.0
    memory_mb: float = 0.0

    def add(self, deployment: DeploymentConfig, n: int = 1) -> None:
        """Count `n` replicas of `deployment`."""
        self.replicas += n
        self.cpu += n * deployment.resources.cpu
        self.memory_mb += n * deployment.resources.memory_mb


def usage_by_node(
    placed: Iterable[tuple[str, str]], deployments: Mapping[str, DeploymentConfig]
) -> dict[str, NodeUsage]:
    """Usage per node id from (node id, deployment name) pairs of the replicas that hold resources."""
    usage: dict[str, NodeUsage] = {}
    for node_id, name in placed:
        dep = deployments.get(name)
        entry = usage.setdefault(node_id, NodeUsage())
        if dep is not None:
            entry.add(dep)
        else:  # a deployment no longer in the policy still takes a slot until it stops
            entry.replicas += 1
    return usage


def node_cpu(node: NodeView) -> float:
    """CPUs the node offers (Ray's ``CPU`` resource)."""
    return float(node.resources.get("CPU", 0.0))


def node_memory_mb(node: NodeView) -> float:
    """Memory the node offers in MB (Ray's ``memory`` resource, in bytes)."""
    return float(node.resources.get("memory", 0.0)) / (1 << 20)


def room(deployment: DeploymentConfig, node: NodeView, usage: NodeUsage | None, max_per_node: int) -> int:
    """How many more replicas of `deployment` fit on `node` by count, CPU and memory."""
    used = usage or NodeUsage()
    free = max_per_node - used.replicas
    need = deployment.resources
    if need.cpu > 0:
        free = min(free, math.floor((node_cpu(node) - used.cpu) / need.cpu + 1e-9))
    if need.memory_mb > 0:
        free = min(free, math.floor((node_memory_mb(node) - used.memory_mb) / need.memory_mb + 1e-9))
    return max(free, 0)


def why_full(deployment: DeploymentConfig, node: NodeView, usage: NodeUsage | None, max_per_node: int) -> str:
    """Why `node` has no room for another replica of `deployment`."""
    used = usage or NodeUsage()
    need = deployment.resources
    if used.replicas >= max_per_node:
        return f"{node.name}: {used.replicas} replicas (fleet.max_replicas_per_node={max_per_node})"
    if need.cpu > 0 and node_cpu(node) - used.cpu < need.cpu:
        return f"{node.name}: {used.cpu:g} of {node_cpu(node):g} CPUs taken, a replica needs {need.cpu:g}"
    return f"{node.name}: {used.memory_mb:.0f} of {node_memory_mb(node):.0f} MB taken, a replica needs {need.memory_mb}"


def fleet_room(
    deployment: DeploymentConfig, nodes: Sequence[NodeView], usage: Mapping[str, NodeUsage], max_per_node: int
) -> tuple[int, str]:
    """(replicas of `deployment` that still fit on the nodes it may use, why not more)."""
    total, full = 0, []
    for node in nodes:
        if not fits(deployment, node):
            continue
        n = room(deployment, node, usage.get(node.node_id), max_per_node)
        total += n
        if n == 0:
            full.append(why_full(deployment, node, usage.get(node.node_id), max_per_node))
    usable = [n.name for n in nodes if fits(deployment, n)]
    why = "; ".join(full) if full else ("no node fits it" if not usable else "")
    return total, why
