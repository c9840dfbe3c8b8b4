"""Operator actions on the desired state: scale, drain, apply a policy, wait until settled.

Mixed into :class:`fleet.control.manager.FleetManager`; each action changes desired state only,
saves it (so a restarted controller keeps it), records an event and wakes the reconcile loop,
which does the work.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from edgefleet.errors import UnknownNode
from edgefleet.policy.schema import Policy
from edgefleet.state import FleetState, ReplicaPhase
from fleet.control.capacity import fleet_room, usage_by_node
from fleet.control.desired import DesiredState
from fleet.control.placement import NodeView
from fleet.control.reconcile import DEAD, STOPPING
from fleet.errors import FleetError
from fleet.models.manifest import ModelBundle


class OperatorActions:
    """scale / drain / apply_policy / wait_settled for FleetManager."""

    desired: DesiredState
    base_dir: Path
    registry: Path
    nodes: list[NodeView]
    replicas: dict[str, Any]  # replica id -> ReplicaRecord (deployment, node_id, state)
    state: FleetState
    backoff: dict[str, tuple[float, int, str]]
    last_scaled: dict[str, float]
    bundles: dict[str, ModelBundle]
    _bundle_cache: dict[Path, ModelBundle]

    def event(self, message: str) -> None:
        """Record a human-readable event (FleetManager implements it)."""
        raise NotImplementedError

    async def _poke(self) -> None:
        raise NotImplementedError

    async def persist(self) -> None:
        """Save the desired state (FleetManager implements it)."""
        raise NotImplementedError

    async def get_state(self, min_version: int = 0, timeout_s: float = 0.0) -> FleetState:
        raise NotImplementedError

    async def scale(self, deployment: str, replicas: int) -> str:
        """Override a deployment's replica count (kept apart from the policy; see DesiredState).
        A count the fleet has no room for (fleet.control.capacity) is refused whole, with the
        reason: nothing is started. An autoscaled deployment takes the count within its bounds and
        the autoscaler goes on from there (after its cooldown)."""
        self.check_room(deployment, replicas)
        old = self.desired.scale(deployment, replicas)
        now = self.desired.deployment(deployment).replicas
        self.backoff.pop(deployment, None)
        note = ""
        if self.desired.deployment(deployment).autoscale is not None:
            self.last_scaled[deployment] = time.monotonic()
            clamped = "clamped to its bounds; " if now != replicas else ""
            note = f" (autoscaled: {clamped}the autoscaler goes on from here)"
        self.event(f"scale {deployment}: {old} -> {now} replicas{note}")
        await self.persist()
        await self._poke()
        return f"deployment {deployment} scaled from {old} to {now} replicas{note}"

    def check_room(self, deployment: str, replicas: int) -> None:
        """Raise FleetError unless `replicas` replicas of `deployment` fit on the fleet's nodes."""
        dep = self.desired.deployment(deployment)
        fleet = self.desired.policy.fleet
        cap = fleet.max_replicas_per_deployment
        if replicas > cap:
            raise FleetError(
                f"cannot scale {deployment} to {replicas}: fleet.max_replicas_per_deployment is {cap}"
            )
        holding = [r for r in self.replicas.values() if r.state not in (STOPPING, DEAD)]
        mine = sum(1 for r in holding if r.deployment == deployment)
        if replicas <= mine:
            return
        by_name = {d.name: d for d in self.desired.deployments()}
        usage = usage_by_node(((r.node_id, r.deployment) for r in holding), by_name)
        free, why = fleet_room(dep, self.nodes, usage, fleet.max_replicas_per_node)
        if mine + free < replicas:
            raise FleetError(
                f"cannot scale {deployment} to {replicas}: the fleet has room for {mine + free} "
                f"({mine} running, {free} more fit){': ' + why if why else ''}; nothing was started"
            )

    async def drain(self, node: str, undrain: bool = False) -> str:
        """Drain (or undrain) a node by name or id."""
        # a node that left and joined again under its name has a dead namesake: the live one counts
        match = next(
            (n for n in sorted(self.nodes, key=lambda n: not n.alive) if node in (n.name, n.node_id)), None
        )
        if match is None:
            known = ", ".join(sorted(n.name for n in self.nodes)) or "none"
            raise UnknownNode(f"unknown node {node!r}; known: {known}")
        if undrain:
            self.desired.drained.discard(match.node_id)
        else:
            self.desired.drained.add(match.node_id)
        verb = "undrained" if undrain else "drained"
        self.event(f"node {match.name} {verb}")
        await self.persist()
        await self._poke()
        return f"node {match.name} {verb}" + ("" if undrain else "; its replicas move to other nodes")

    async def apply_policy(self, policy: Policy) -> str:
        """Replace the policy part of the desired state with a validated policy."""
        old = {d.name: d for d in self.desired.policy.deployments}
        cleared = self.desired.replace_policy(policy)
        self.registry = (self.base_dir / policy.registry).resolve()
        self._bundle_cache.clear()
        self.bundles.clear()
        self.backoff.clear()
        new = {d.name: d for d in policy.deployments}
        changed = sorted(n for n in new if old.get(n) != new[n])
        removed = sorted(set(old) - set(new))
        kept = sorted(self.desired.scale_overrides)
        summary = (
            f"{len(new)} deployments (changed: {', '.join(changed) or 'none'}; "
            f"removed: {', '.join(removed) or 'none'}; operator scale kept: {', '.join(kept) or 'none'}"
            + (f"; scale overrides cleared: {', '.join(cleared)}" if cleared else "")
            + ")"
        )
        self.event(f"policy applied: {summary}")
        await self.persist()
        await self._poke()
        return f"policy applied: {summary}"

    def settled(self) -> bool:
        """True when every deployment has its ready replicas or a standing error."""
        for dep in self.state.deployments:
            starting = any(r.state == ReplicaPhase.STARTING for r in dep.replicas)
            if dep.ready < dep.desired and not (dep.error and not starting):
                return False
        return True

    async def wait_settled(self, timeout_s: float) -> FleetState:
        """Wait (bounded) until :meth:`settled`."""
        deadline = time.monotonic() + timeout_s
        while not (self.state.version > 0 and self.settled()):
            left = deadline - time.monotonic()
            if left <= 0:
                waiting = [
                    f"{d.name} {d.ready}/{d.desired}" + (f" ({d.error})" if d.error else "")
                    for d in self.state.deployments
                    if d.ready < d.desired
                ]
                raise FleetError(f"fleet not ready after {timeout_s:.0f}s: {'; '.join(waiting)}")
            await self.get_state(self.state.version, min(left, 5.0))
        return self.state
