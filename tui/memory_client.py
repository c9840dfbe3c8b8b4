"""An in-memory `FleetClient` for tests and the demo: same protocol, no sockets.

It holds one `FleetSnapshot` and mutates it on scale/drain (bumping the version and
waking every watcher), and can be told to fail actions or to become unreachable.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from protos.edgefleet.v1 import fleet_pb2
from tui.client import RouterUnavailable


class MemoryFleetClient:
    """`FleetClient` backed by a snapshot held in memory."""

    def __init__(self, snapshot: fleet_pb2.FleetSnapshot, *, address: str = "memory") -> None:
        self._snapshot = fleet_pb2.FleetSnapshot()
        self._snapshot.CopyFrom(snapshot)
        self._address = address
        self._changed = asyncio.Event()
        self._generation = 0
        self.unreachable = False
        """When true, every call raises `RouterUnavailable` and open watch streams break."""
        self.fail_actions: str | None = None
        """When set, scale/drain/reload answer ok=False with this message."""
        self.watch_calls = 0
        """How many times `watch` was started (each reconnection adds one)."""
        self.actions: list[tuple[str, ...]] = []
        """Every action received, e.g. ("scale", "clinc-banking", "3")."""
        self.closed = False

    @property
    def address(self) -> str:
        """Where the data comes from ("memory", or "demo data")."""
        return self._address

    @property
    def snapshot(self) -> fleet_pb2.FleetSnapshot:
        """The live snapshot (mutate it, then call `publish()`)."""
        return self._snapshot

    def publish(self, snapshot: fleet_pb2.FleetSnapshot | None = None) -> None:
        """Replace (optionally) the snapshot, bump its version and wake the watchers."""
        if snapshot is not None:
            self._snapshot.CopyFrom(snapshot)
        self._snapshot.version += 1
        self._wake()

    def update(self, mutate: Callable[[fleet_pb2.FleetSnapshot], None]) -> None:
        """Apply `mutate` to the snapshot and publish it."""
        mutate(self._snapshot)
        self.publish()

    def set_unreachable(self, unreachable: bool) -> None:
        """Simulate the router going down (True) or coming back (False)."""
        self.unreachable = unreachable
        self._wake()

    def _wake(self) -> None:
        self._generation += 1
        self._changed.set()
        self._changed = asyncio.Event()

    def _check_reachable(self) -> None:
        if self.unreachable:
            raise RouterUnavailable(f"UNAVAILABLE: cannot reach router at {self._address}")

    def _copy(self) -> fleet_pb2.FleetSnapshot:
        copy = fleet_pb2.FleetSnapshot()
        copy.CopyFrom(self._snapshot)
        return copy

    async def watch(self, min_interval_ms: int = 500) -> AsyncIterator[fleet_pb2.FleetSnapshot]:
        """Yield the snapshot now and after every change; rate-limited to `min_interval_ms`."""
        self.watch_calls += 1
        self._check_reachable()
        loop = asyncio.get_running_loop()
        last_sent = 0.0
        while True:
            changed = self._changed
            self._check_reachable()
            wait_s = min_interval_ms / 1000 - (loop.time() - last_sent)
            if last_sent and wait_s > 0:
                await asyncio.sleep(wait_s)
                self._check_reachable()
            last_sent = loop.time()
            yield self._copy()
            if self._changed is changed:
                await changed.wait()

    async def get(self) -> fleet_pb2.FleetSnapshot:
        """The current snapshot."""
        self._check_reachable()
        return self._copy()

    def _result(self, ok: bool, message: str) -> fleet_pb2.ActionResult:
        return fleet_pb2.ActionResult(ok=ok, message=message, snapshot_version=self._snapshot.version)

    async def scale(self, deployment: str, replicas: int) -> fleet_pb2.ActionResult:
        """Set desired replicas and add/remove ready replicas to match."""
        self._check_reachable()
        self.actions.append(("scale", deployment, str(replicas)))
        if self.fail_actions:
            return self._result(False, self.fail_actions)
        found = [d for d in self._snapshot.deployments if d.name == deployment]
        if not found:
            return self._result(False, f"unknown deployment {deployment!r}")
        if replicas < 0:
            return self._result(False, "replicas must be >= 0")
        _resize(self._snapshot, found[0], replicas)
        self.publish()
        return self._result(True, f"{deployment} scaled to {replicas}")

    async def drain(self, node: str, undrain: bool = False) -> fleet_pb2.ActionResult:
        """Mark a node drained (moving its replicas to other nodes) or undrained."""
        self._check_reachable()
        self.actions.append(("undrain" if undrain else "drain", node))
        if self.fail_actions:
            return self._result(False, self.fail_actions)
        found = [n for n in self._snapshot.nodes if node in (n.name, n.node_id)]
        if not found:
            return self._result(False, f"unknown node {node!r}")
        target = found[0]
        target.drained = not undrain
        target.health = "healthy" if undrain else "drained"
        if not undrain:
            _move_replicas_off(self._snapshot, target)
        self.publish()
        return self._result(True, f"node {target.name} {'undrained' if undrain else 'drained'}")

    async def reload_policy(self) -> fleet_pb2.ActionResult:
        """Pretend to re-read the policy."""
        self._check_reachable()
        self.actions.append(("reload",))
        if self.fail_actions:
            return self._result(False, self.fail_actions)
        self.publish()
        return self._result(True, f"policy reloaded from {self._snapshot.policy_path or 'edgefleet.yaml'}")

    async def close(self) -> None:
        """Nothing to release."""
        self.closed = True


def _usable_nodes(snapshot: fleet_pb2.FleetSnapshot) -> list[fleet_pb2.Node]:
    return [n for n in snapshot.nodes if n.alive and not n.drained] or list(snapshot.nodes)


def _node_isa(snapshot: fleet_pb2.FleetSnapshot, node_id: str) -> list[str]:
    """The ISA features a node's replicas report (the snapshot has them per replica)."""
    for deployment in snapshot.deployments:
        for replica in deployment.replicas:
            if replica.node_id == node_id and replica.isa:
                return list(replica.isa)
    return []


def _resize(snapshot: fleet_pb2.FleetSnapshot, deployment: fleet_pb2.Deployment, replicas: int) -> None:
    deployment.desired = replicas
    while len(deployment.replicas) > replicas:
        removed = deployment.replicas.pop()
        for node in snapshot.nodes:
            if removed.replica_id in node.replicas:
                node.replicas.remove(removed.replica_id)
    nodes = _usable_nodes(snapshot)
    serial = len(deployment.replicas)
    while len(deployment.replicas) < replicas and nodes:
        node = nodes[serial % len(nodes)]
        serial += 1
        replica_id = f"{deployment.name}-{serial}"
        device = node.devices[0].name if node.devices else "CPU"
        sibling = next((r for r in deployment.replicas if r.device == device), None)
        deployment.replicas.add(
            replica_id=replica_id,
            deployment=deployment.name,
            node_id=node.node_id,
            node_name=node.name,
            device=device,
            address=f"{node.address}:0",
            state="ready",
            inference_precision=sibling.inference_precision if sibling is not None else "",
            isa=_node_isa(snapshot, node.node_id),
        )
        node.replicas.append(replica_id)
    deployment.ready = sum(1 for r in deployment.replicas if r.state == "ready")


def _move_replicas_off(snapshot: fleet_pb2.FleetSnapshot, drained: fleet_pb2.Node) -> None:
    others = [n for n in snapshot.nodes if n.alive and not n.drained and n.node_id != drained.node_id]
    moved = 0
    for deployment in snapshot.deployments:
        for replica in deployment.replicas:
            if replica.node_id != drained.node_id:
                continue
            if not others:
                replica.state = "stopping"
                continue
            new_home = others[moved % len(others)]
            moved += 1
            replica.node_id, replica.node_name = new_home.node_id, new_home.name
            replica.device = new_home.devices[0].name if new_home.devices else "CPU"
            replica.isa[:] = _node_isa(snapshot, new_home.node_id)
            new_home.replicas.append(replica.replica_id)
        deployment.ready = sum(1 for r in deployment.replicas if r.state == "ready")
    del drained.replicas[:]
