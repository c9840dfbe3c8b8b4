"""Where the router learns about the fleet. :class:`FleetSource` is the interface the router
depends on; :class:`StaticFleet` is the in-memory implementation (tests, benchmarks, a router in
front of fixed KServe endpoints). The Ray-backed one, which keeps a local copy of the controller's
snapshot fresh with a background long-poll, is ``fleet.ray_adapter.fleet_source.RayFleetSource``:
the composition root (``cli``) hands it to the router, which never imports the fleet.

A source may also take ``report_outcomes(report)``: the router's per-version outcomes of
deployments under a canary (``router.rollout_tracker``), which the controller judges the canary
on. Sources without it get no reports (and canaries there are never judged by this router)."""

from __future__ import annotations

import copy
import logging
import time
from typing import TYPE_CHECKING, Any, Protocol

from edgefleet.errors import UnknownDeployment, UnknownNode
from edgefleet.versioned import Versioned

if TYPE_CHECKING:
    from edgefleet.state import FleetState

log = logging.getLogger(__name__)


class FleetSource(Protocol):
    """What the router needs from the control plane."""

    async def state(self) -> FleetState:
        """The latest known fleet state."""
        ...

    async def watch(self, after_version: int, timeout_s: float | None = None) -> FleetState:
        """The first state with version > after_version (or the latest on timeout)."""
        ...

    async def scale(self, deployment: str, replicas: int) -> str:
        """Set a deployment's desired replica count; returns a human message."""
        ...

    async def drain(self, node: str, undrain: bool = False) -> str:
        """Drain (or undrain) a node by name or id; returns a human message."""
        ...

    async def apply_policy(self, policy_yaml_text: str) -> str:
        """Hand new policy YAML to the controller; returns a human message."""
        ...


class StaticFleet(Versioned):
    """An in-memory FleetSource: holds a FleetState; actions edit it and bump its version."""

    def __init__(self, state: FleetState) -> None:
        super().__init__()
        self.publish(state)
        self.actions: list[tuple[str, ...]] = []
        self.fail_next: Exception | None = None  # raised by the next action (tests)
        self.outcome_reports: list[dict[str, Any]] = []  # what the router reported (rollouts)

    async def state(self) -> FleetState:
        """The current state."""
        return self.current

    def set_state(self, state: FleetState) -> None:
        """Replace the state (its version is raised above the old one if needed)."""
        if state.version <= self.current.version:
            state = copy.copy(state)
            state.version = self.current.version + 1
        self.publish(state)

    async def watch(self, after_version: int, timeout_s: float | None = None) -> FleetState:
        """Wait for a state newer than `after_version`."""
        return await self.wait_newer(after_version, timeout_s)

    def _edit(self) -> Any:
        if self.fail_next is not None:
            exc, self.fail_next = self.fail_next, None
            raise exc
        new = copy.deepcopy(self.current)
        new.version = self.current.version + 1
        new.unix_ms = time.time() * 1000.0
        return new

    async def scale(self, deployment: str, replicas: int) -> str:
        """Set the desired count of `deployment`."""
        new = self._edit()
        for dep in new.deployments:
            if dep.name == deployment:
                dep.desired = replicas
                self.actions.append(("scale", deployment, str(replicas)))
                new.events.append(f"scaled {deployment} to {replicas}")
                self.publish(new)
                return f"{deployment}: desired replicas {replicas}"
        raise UnknownDeployment(f"unknown deployment {deployment!r}")

    async def drain(self, node: str, undrain: bool = False) -> str:
        """Mark a node drained (or not)."""
        new = self._edit()
        for n in new.nodes:
            if node in (n.name, n.node_id):
                n.drained = not undrain
                self.actions.append(("undrain" if undrain else "drain", n.name))
                self.publish(new)
                return f"node {n.name} {'undrained' if undrain else 'drained'}"
        raise UnknownNode(f"unknown node {node!r}")

    async def report_outcomes(self, report: dict[str, Any]) -> None:
        """Keep the router's rollout report (the last 100)."""
        self.outcome_reports = [*self.outcome_reports[-99:], report]

    async def apply_policy(self, policy_yaml_text: str) -> str:
        """Record the policy text."""
        new = self._edit()
        self.actions.append(("apply_policy", policy_yaml_text))
        self.publish(new)
        return "policy applied"
