"""Pure placement: which node (and device) gets the next replica of a deployment.

No Ray here. A node offers an OpenVINO device ``X`` when it advertises the Ray resource
``ov_X`` (e.g. ``ov_GPU``). A node fits a deployment when it is alive, not drained, every label
of the deployment's selector matches, and it offers at least one of the deployment's devices.
Among fitting nodes the ranking is: best device preference, then fewest replicas of this
deployment (spread), then fewest replicas in total (least loaded), then name (stable).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from edgefleet.policy.schema import DeploymentConfig
from fleet.errors import PlacementError

DEVICE_RESOURCE_PREFIX = "ov_"
NODE_NAME_LABEL = "edgefleet.io/node"
SIMULATED_LABEL = "edgefleet.io/simulated"


@dataclass(frozen=True)
class NodeView:
    """What placement needs to know about one observed node."""

    node_id: str
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    resources: Mapping[str, float] = field(default_factory=dict)
    alive: bool = True
    drained: bool = False
    address: str = ""

    def devices(self) -> list[str]:
        """OpenVINO device names this node advertises (from ``ov_<DEV>`` resources)."""
        return sorted(
            key[len(DEVICE_RESOURCE_PREFIX) :]
            for key, amount in self.resources.items()
            if key.startswith(DEVICE_RESOURCE_PREFIX) and amount > 0
        )

    def schedulable(self) -> bool:
        """True when new replicas may go here."""
        return self.alive and not self.drained


@dataclass(frozen=True)
class Placement:
    """Where one replica goes: the node, the device it was placed for, and the device
    preferences handed to the replica (the chosen device first, then the lesser ones)."""

    node_id: str
    node_name: str
    device: str
    device_prefs: tuple[str, ...]


def selector_matches(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """Every key of `selector` is a label of the node with the same value."""
    return all(labels.get(key) == value for key, value in selector.items())


def best_device(deployment: DeploymentConfig, node: NodeView) -> str | None:
    """The deployment's most preferred device that `node` advertises, or None."""
    offered = set(node.devices())
    return next((d for d in deployment.devices if d in offered), None)


def fits(deployment: DeploymentConfig, node: NodeView) -> bool:
    """True when a replica of `deployment` may be placed on `node` now."""
    return (
        node.schedulable()
        and selector_matches(deployment.selector, node.labels)
        and best_device(deployment, node) is not None
    )


def why_nothing_fits(deployment: DeploymentConfig, nodes: Sequence[NodeView]) -> str:
    """A human-readable reason why no node fits `deployment` (for events and errors)."""
    if not nodes:
        return "no nodes in the cluster"
    live = [n for n in nodes if n.alive]
    if not live:
        return "no live nodes"
    usable = [n for n in live if not n.drained]
    if not usable:
        return f"all live nodes are drained ({', '.join(sorted(n.name for n in live))})"
    selected = [n for n in usable if selector_matches(deployment.selector, n.labels)]
    if not selected:
        wanted = ", ".join(f"{k}={v}" for k, v in sorted(deployment.selector.items()))
        return f"no undrained node has labels {wanted}"
    offered = sorted({d for n in selected for d in n.devices()})
    names = ", ".join(sorted(n.name for n in selected))
    return (
        f"no matching node ({names}) offers any of devices {list(deployment.devices)}; "
        f"they offer {offered or 'none (no ov_<DEVICE> resources)'}"
    )


def choose_node(
    deployment: DeploymentConfig,
    nodes: Sequence[NodeView],
    replicas_per_node: Mapping[str, int],
    deployment_replicas_per_node: Mapping[str, int],
    full: Callable[[NodeView], str | None] | None = None,
) -> Placement:
    """Pick the node and device for one more replica of `deployment`.

    `replicas_per_node` counts all replicas per node id, `deployment_replicas_per_node` those of
    this deployment; `full` says why a node has no room left (None: it has;
    fleet.control.capacity). Raises PlacementError with the reason when no node fits.
    """
    candidates: list[tuple[tuple[int, int, int, str], NodeView, str]] = []
    no_room: list[str] = []
    for node in nodes:
        if not fits(deployment, node):
            continue
        why = full(node) if full is not None else None
        if why is not None:
            no_room.append(why)
            continue
        device = best_device(deployment, node)
        assert device is not None
        rank = (
            deployment.devices.index(device),  # type: ignore[arg-type]
            deployment_replicas_per_node.get(node.node_id, 0),
            replicas_per_node.get(node.node_id, 0),
            node.name,
        )
        candidates.append((rank, node, device))
    if not candidates and no_room:
        raise PlacementError(
            f"cannot place a replica of deployment {deployment.name!r}: no room ({'; '.join(no_room)})"
        )
    if not candidates:
        raise PlacementError(
            f"cannot place a replica of deployment {deployment.name!r}: {why_nothing_fits(deployment, nodes)}"
        )
    _, node, device = min(candidates, key=lambda c: c[0])
    prefs = tuple(deployment.devices[deployment.devices.index(device) :])  # type: ignore[arg-type]
    return Placement(node_id=node.node_id, node_name=node.name, device=device, device_prefs=prefs)
