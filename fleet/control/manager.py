"""The controller's brain, without Ray: observe -> plan -> act -> publish, on any backend.

:class:`FleetManager` keeps the desired state (the policy plus scale/drain overrides) apart from
the observed state (nodes, agents, replicas), runs :func:`fleet.control.reconcile.plan` every interval,
applies the actions through a backend (:class:`fleet.ray_adapter.backend.RayBackend`, or a fake in
tests) and publishes a versioned :class:`FleetState`. One failing pass is logged as an event;
the loop never dies.
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
from typing import Any, Protocol

from edgefleet.policy.schema import Policy
from edgefleet.state import FleetState
from fleet.control.desired import DesiredState
from fleet.control.operator_actions import OperatorActions
from fleet.control.placement import NodeView
from fleet.control.reconcile import (
    DEAD,
    READY,
    STARTING,
    STOPPING,
    UNHEALTHY,
    ReplicaView,
    StartReplica,
    plan,
)
from fleet.control.snapshot import Observed, ReplicaRecord, build_state, stable_key
from fleet.errors import ActorGone, FleetError
from fleet.models.manifest import ModelBundle, load_bundle, resolve_model_dir

log = logging.getLogger("edgefleet.controller")

START_TIMEOUT_S = 180.0
UNHEALTHY_AFTER_FAILURES = 3
CRASH_LOOP_FAILURES = 3
MAX_BACKOFF_S = 60.0


class FleetBackend(Protocol):
    """What the manager needs from the cluster (see fleet.ray_adapter.backend.RayBackend)."""

    async def list_nodes(self) -> list[NodeView]: ...
    async def start_replica(self, action: StartReplica, bundle: ModelBundle, max_queue: int) -> Any: ...
    async def start_agent(self, node: NodeView) -> Any: ...
    async def call(self, handle: Any, method: str, *args: Any, timeout_s: float) -> Any: ...
    async def kill(self, handle: Any) -> None: ...
    def forget_bundles(self, keep: set[tuple[str, str]]) -> None: ...


class FleetManager(OperatorActions):
    """Desired state in, replicas out; see the module docstring."""

    def __init__(
        self, policy: Policy, base_dir: Path, backend: FleetBackend, registry: Path | None = None
    ) -> None:
        self.desired = DesiredState(policy)
        self.base_dir = Path(base_dir)
        self.registry = (
            Path(registry) if registry is not None else (self.base_dir / policy.registry).resolve()
        )
        self.backend = backend
        self.nodes: list[NodeView] = []
        self.replicas: dict[str, ReplicaRecord] = {}
        self.agents: dict[str, Any] = {}
        self.reports: dict[str, tuple[dict[str, Any], float]] = {}
        self.bundles: dict[str, ModelBundle] = {}
        self.bundle_errors: dict[str, str] = {}
        self._bundle_paths: dict[str, Path] = {}
        self.placement_errors: dict[str, str] = {}
        self.backoff: dict[str, tuple[float, int, str]] = {}  # deployment -> (until, failures, reason)
        self.events: deque[str] = deque(maxlen=200)
        self.state = FleetState(version=0, unix_ms=time.time() * 1000)
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
        """Observe, plan, act and publish once."""
        observed = await self.backend.list_nodes()
        self.nodes = [replace(n, drained=n.node_id in self.desired.drained) for n in observed]
        await asyncio.gather(self._poll_agents(), self._check_replicas(), self._load_bundles())
        now = time.monotonic()
        blocked = dict(self.bundle_errors)
        for dep, (until, _, reason) in self.backoff.items():
            if until > now:
                blocked.setdefault(dep, reason)
        views = [
            ReplicaView(r.replica_id, r.deployment, r.node_id, r.state, r.version, r.precision_setting)
            for r in self.replicas.values()
        ]
        versions = {name: b.version for name, b in self.bundles.items()}
        actions = plan(self.desired.deployments(), self.nodes, views, self._new_id, versions, blocked)
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
        self.backend.forget_bundles({(b.name, b.version) for b in self.bundles.values()})
        await self.publish()

    def _new_id(self, deployment: str) -> str:
        return f"{deployment}-{secrets.token_hex(3)}"

    async def _load_bundles(self) -> None:
        policy = self.desired.policy
        for dep in policy.deployments:
            ref = policy.model(dep.model)
            try:
                path = (
                    (self.base_dir / ref.path)
                    if ref.path
                    else resolve_model_dir(self.registry, ref.name, ref.version)
                )
                current = self.bundles.get(dep.name)
                if current is None or self._bundle_paths.get(dep.name) != path:
                    bundle = await asyncio.to_thread(load_bundle, path)
                    if current is not None and current.version != bundle.version:
                        self.event(
                            f"{dep.name}: rolling out {bundle.name} {current.version} -> {bundle.version}"
                        )
                    self.bundles[dep.name] = bundle
                    self._bundle_paths[dep.name] = path
                if dep.name in self.bundle_errors:
                    self.event(f"{dep.name}: model {ref.name} loads again")
                self.bundle_errors.pop(dep.name, None)
            except FleetError as exc:
                if self.bundle_errors.get(dep.name) != str(exc):
                    self.event(f"{dep.name}: cannot load model: {exc}")
                self.bundle_errors[dep.name] = f"cannot load model: {exc}"

    async def _start(self, action: StartReplica) -> None:
        dep = self.desired.deployment(action.deployment)
        bundle = self.bundles[action.deployment]
        handle = await self.backend.start_replica(action, bundle, dep.max_queue)
        record = ReplicaRecord.starting(action, handle, bundle)
        self.replicas[action.replica_id] = record
        self.event(f"starting {action.replica_id} on {action.node_name} for {action.device}")
        self._spawn(self._await_start(record))

    async def _await_start(self, record: ReplicaRecord) -> None:
        try:
            report = await self.backend.call(record.handle, "start", timeout_s=START_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - any failure to start is reported, then replaced
            if record.state == STARTING:
                record.state = DEAD if isinstance(exc, ActorGone) else UNHEALTHY
                record.detail = f"start failed: {exc}"
                self._note_failure(record.deployment, record.detail)
            return
        if record.state != STARTING:
            return
        record.update(report)
        if report.get("ready"):
            record.state = READY
            self.backoff.pop(record.deployment, None)
            self.event(
                f"{record.replica_id} ready at {record.address} on {record.device}"
                + (f" ({record.detail})" if record.detail else "")
            )
        else:
            record.state = UNHEALTHY
            self._note_failure(record.deployment, report.get("error") or "not ready")
        self._wake.set()

    def _note_failure(self, deployment: str, reason: str) -> None:
        self.event(f"{deployment}: replica failed: {reason}")
        _, failures, _ = self.backoff.get(deployment, (0.0, 0, ""))
        failures += 1
        if failures >= CRASH_LOOP_FAILURES:
            delay = min(MAX_BACKOFF_S, 2.0 ** (failures - CRASH_LOOP_FAILURES + 1))
            self.backoff[deployment] = (
                time.monotonic() + delay,
                failures,
                f"crash loop, retry in {delay:.0f}s: {reason}",
            )
        else:
            self.backoff[deployment] = (0.0, failures, reason)

    def _stop(self, replica_id: str, reason: str) -> None:
        record = self.replicas.get(replica_id)
        if record is None or record.state == STOPPING:
            return
        was_dead = record.state == DEAD
        record.state = STOPPING
        self.event(f"stopping {replica_id}: {reason}")
        self._spawn(self._finish_stop(record, graceful=not was_dead))

    async def _finish_stop(self, record: ReplicaRecord, graceful: bool) -> None:
        if graceful:
            try:
                await self.backend.call(record.handle, "stop", timeout_s=5.0)
            except Exception as exc:  # noqa: BLE001 - it is killed right after anyway
                log.debug("graceful stop of %s failed: %s", record.replica_id, exc)
        await self.backend.kill(record.handle)
        self.replicas.pop(record.replica_id, None)
        self._wake.set()

    async def _check_replicas(self) -> None:
        timeout = self.desired.policy.fleet.health_timeout_s
        checked = [r for r in self.replicas.values() if r.state in (READY, UNHEALTHY) and r.address]
        results = await asyncio.gather(
            *(self.backend.call(r.handle, "health", timeout_s=timeout) for r in checked),
            return_exceptions=True,
        )
        for record, result in zip(checked, results, strict=False):
            if record.state == STOPPING:
                continue
            if isinstance(result, BaseException):
                if isinstance(result, ActorGone):
                    record.state = DEAD
                    self.event(f"{record.replica_id} on {record.node_name} died")
                else:
                    record.failures += 1
                    record.detail = f"health check failed: {result or type(result).__name__}"
                    if record.failures >= UNHEALTHY_AFTER_FAILURES and record.state == READY:
                        record.state = UNHEALTHY
                        self.event(f"{record.replica_id} unhealthy: {record.detail}")
                continue
            record.update(result)
            record.failures = 0
            record.state = READY if result.get("ready") else UNHEALTHY
        now = time.monotonic()
        for record in self.replicas.values():
            if record.state == STARTING and now - record.started_mono > START_TIMEOUT_S:
                record.state = UNHEALTHY
                record.detail = f"not ready after {START_TIMEOUT_S:.0f}s"

    async def _poll_agents(self) -> None:
        alive = {n.node_id: n for n in self.nodes if n.alive}
        for node_id in list(self.agents):
            if node_id not in alive:
                await self.backend.kill(self.agents.pop(node_id))
        for node_id, node in alive.items():
            if node_id not in self.agents:
                self.agents[node_id] = await self.backend.start_agent(node)
        ids = list(self.agents)
        results = await asyncio.gather(
            *(
                self.backend.call(
                    self.agents[i], "report", timeout_s=self.desired.policy.fleet.health_timeout_s
                )
                for i in ids
            ),
            return_exceptions=True,
        )
        for node_id, result in zip(ids, results, strict=False):
            if isinstance(result, dict):
                self.reports[node_id] = (result, time.time())
            elif isinstance(result, ActorGone):
                self.agents.pop(node_id, None)  # restarted on the next pass

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
            stale_after_s=3 * fleet.reconcile_interval_s + 2 * fleet.health_timeout_s,
        )

    async def publish(self) -> None:
        """Rebuild the snapshot; bump the version and wake waiters when it changed."""
        candidate = build_state(self.observed())
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
        """Stop the loop, every replica and every agent."""
        if self._loop_task is not None:
            self._loop_task.cancel()
            self._loop_task = None
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
