"""The controller's brain, without Ray: observe -> plan -> act -> publish, on any backend.

:class:`FleetManager` keeps the desired state (the policy plus scale/drain overrides) apart from
the observed state (nodes, agents, replicas), runs :func:`fleet.control.reconcile.plan` every interval,
applies the actions through a backend (:class:`fleet.ray_adapter.backend.RayBackend`, or a fake in
tests) and publishes a versioned :class:`FleetState`. One failing pass is logged as an event;
the loop never dies.

The desired state is saved to a :class:`fleet.control.desired_store.DesiredStore` after every
change; a manager created with ``restore=True`` (the controller after Ray restarted it) reads it
back. Before its first pass a manager adopts the replicas already running for it (the backend
lists them; they outlive the controller) instead of starting new ones. Every manager publishes
under its own `epoch`, so a reader can tell a restarted controller from an old one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
import traceback
from collections import deque
from dataclasses import replace
from pathlib import Path
from typing import Any

from edgefleet.policy.schema import Policy
from edgefleet.state import FleetState
from fleet.control.autoscale import LoadWindow
from fleet.control.continuity import Continuity
from fleet.control.desired_store import DesiredStore, MemoryStore
from fleet.control.lifecycle import FleetBackend, ReplicaLifecycle
from fleet.control.operator_actions import OperatorActions
from fleet.control.placement import NodeView
from fleet.control.reconcile import (
    STOPPING,
    ReplicaView,
    plan,
)
from fleet.control.scaling import Autoscaling
from fleet.control.snapshot import Observed, ReplicaRecord, build_state, stable_key
from fleet.control.versions import ModelVersions
from fleet.models.manifest import ModelBundle

log = logging.getLogger("edgefleet.controller")


class FleetManager(Continuity, ModelVersions, Autoscaling, ReplicaLifecycle, OperatorActions):
    """Desired state in, replicas out; see the module docstring."""

    def __init__(
        self,
        policy: Policy,
        base_dir: Path,
        backend: FleetBackend,
        registry: Path | None = None,
        *,
        store: DesiredStore | None = None,
        restore: bool = False,
    ) -> None:
        """`store` keeps the desired state (default: in memory); with `restore` the saved one
        replaces `policy` when there is one (a restarted controller), else `policy` is saved."""
        self.events: deque[str] = deque(maxlen=200)
        self.store: DesiredStore = store if store is not None else MemoryStore()
        self.base_dir = Path(base_dir)
        self.desired = self._initial_desired(policy, restore)
        if registry is None or self.desired.policy.registry != policy.registry:
            registry = (self.base_dir / self.desired.policy.registry).resolve()
        self.registry = Path(registry)
        self.backend = backend
        self.epoch = secrets.token_hex(4)
        self._adopted = False
        self.nodes: list[NodeView] = []
        self.replicas: dict[str, ReplicaRecord] = {}
        self.agents: dict[str, Any] = {}
        self.reports: dict[str, tuple[dict[str, Any], float]] = {}
        self.bundles: dict[str, ModelBundle] = {}
        self.canary_bundles: dict[str, ModelBundle] = {}
        self.bundle_errors: dict[str, str] = {}
        self._bundle_cache: dict[Path, ModelBundle] = {}
        self.outcome_reports: dict[str, tuple[dict[str, Any], float]] = {}
        self.rollout_notes: dict[str, str] = {}
        self.load_windows: dict[str, LoadWindow] = {}
        self.last_scaled: dict[str, float] = {}
        self.autoscale_notes: dict[str, str] = {}
        self.placement_errors: dict[str, str] = {}
        self.backoff: dict[str, tuple[float, int, str]] = {}  # deployment -> (until, failures, reason)
        self.state = FleetState(version=0, unix_ms=time.time() * 1000, epoch=self.epoch)
        self._key: object = None
        self._changed = asyncio.Condition()
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop_task: asyncio.Task[None] | None = None

    # -- events and the loop -----------------------------------------------------------------
    def event(self, message: str) -> None:
        """Record a human-readable event (also logged)."""
        stamp = time.strftime("%H:%M:%S")
        self.events.append(f"{stamp} {message}")
        log.info(message)

    def start(self) -> None:
        """Start the reconcile loop (idempotent)."""
        if self._loop_task is None:
            self._loop_task = asyncio.get_running_loop().create_task(self._run(), name="edgefleet-reconcile")

    async def _run(self) -> None:
        while True:
            try:
                await self.reconcile_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the loop never dies on one error
                self.event(f"reconcile pass failed: {type(exc).__name__}: {exc}")
                log.debug("%s", traceback.format_exc())
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.desired.policy.fleet.reconcile_interval_s)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- one pass --------------------------------------------------------------------------------
    async def reconcile_once(self) -> None:
        """Observe, plan, act and publish once (adopting running replicas before the first pass)."""
        if not self._adopted:
            await self.adopt()
        observed = await self.backend.list_nodes()
        self.nodes = [replace(n, drained=n.node_id in self.desired.drained) for n in observed]
        await asyncio.gather(self._poll_agents(), self._check_replicas(), self._load_bundles())
        await self.judge_canaries()
        await self.autoscale()
        now = time.monotonic()
        blocked = dict(self.bundle_errors)
        for dep, (until, _, reason) in self.backoff.items():
            if until > now:
                blocked.setdefault(dep, reason)
        views = [
            ReplicaView(r.replica_id, r.deployment, r.node_id, r.state, r.version, r.precision_setting)
            for r in self.replicas.values()
        ]
        actions = plan(
            self.desired.deployments(),
            self.nodes,
            views,
            self._new_id,
            self.stable_versions(),
            blocked,
            self.canaries(),
            max_per_node=self.desired.policy.fleet.max_replicas_per_node,
        )
        for stop in actions.stops:
            self._stop(stop.replica_id, stop.reason)
        for action in actions.starts:
            try:
                await self._start(action)
            except Exception as exc:  # noqa: BLE001 - one failed start must not stop the others
                self._note_failure(action.deployment, f"cannot create replica {action.replica_id}: {exc}")
        for dep, reason in actions.errors.items():
            if self.placement_errors.get(dep) != reason:
                self.event(f"{dep}: {reason}")
        self.placement_errors = dict(actions.errors)
        # Model versions nobody runs or will start any more need not stay pinned in the cluster.
        bundles = [*self.bundles.values(), *self.canary_bundles.values()]
        self.backend.forget_bundles({(b.name, b.version) for b in bundles})
        await self.publish()

    def _new_id(self, deployment: str) -> str:
        return f"{deployment}-{secrets.token_hex(3)}"

    # -- publishing ------------------------------------------------------------------------------
    def observed(self) -> Observed:
        """Everything the snapshot is built from, as plain data."""
        fleet = self.desired.policy.fleet
        now = time.monotonic()
        errors: dict[str, str] = {}
        for dep in self.desired.policy.deployments:
            error = self.bundle_errors.get(dep.name) or self.placement_errors.get(dep.name, "")
            backoff = self.backoff.get(dep.name)
            if not error and backoff is not None and backoff[0] > now:
                error = backoff[2]
            if error:
                errors[dep.name] = error
        return Observed(
            deployments=self.desired.deployments(),
            nodes=self.nodes,
            replicas=list(self.replicas.values()),
            bundles=self.bundles,
            reports=self.reports,
            errors=errors,
            events=list(self.events),
            rollouts=self.rollout_view(),
            autoscale=self.autoscale_view(),
            stale_after_s=3 * fleet.reconcile_interval_s + 2 * fleet.health_timeout_s,
        )

    async def publish(self) -> None:
        """Rebuild the snapshot; bump the version and wake waiters when it changed."""
        candidate = build_state(self.observed())
        candidate.epoch = self.epoch
        key = stable_key(candidate)
        if key != self._key:
            self._key = key
            candidate.version = self.state.version + 1
            self.state = candidate
            async with self._changed:
                self._changed.notify_all()
        else:
            candidate.version = self.state.version
            self.state = candidate

    async def get_state(self, min_version: int = 0, timeout_s: float = 0.0) -> FleetState:
        """The state once its version exceeds `min_version`, or the current one after `timeout_s`."""
        if self.state.version > min_version or timeout_s <= 0:
            return self.state
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: self.state.version > min_version), timeout_s
                )
        return self.state

    async def idle(self) -> None:
        """Wait for background starts and stops to finish (tests, shutdown)."""
        while self._tasks:
            await asyncio.wait(list(self._tasks))

    async def _poke(self) -> None:
        self._wake.set()
        await self.publish()

    async def shutdown(self) -> None:
        """Stop the loop, every replica (also any not adopted yet) and every agent."""
        if self._loop_task is not None:
            self._loop_task.cancel()
            self._loop_task = None
        if not self._adopted:
            with contextlib.suppress(Exception):
                await self.adopt()
        for record in list(self.replicas.values()):
            if record.state != STOPPING:
                record.state = STOPPING
                self._spawn(self._finish_stop(record, graceful=True))
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=15.0)
        for handle in self.agents.values():
            await self.backend.kill(handle)
        self.agents.clear()
        self.event("controller shut down")
