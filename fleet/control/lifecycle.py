"""Replica and node-agent lifecycles for the manager: start a replica and wait for it, stop it,
check its health, back off a crash-looping deployment, poll the node agents.

Mixed into :class:`fleet.control.manager.FleetManager` (which owns the state these methods read
and write); every cluster operation goes through a :class:`FleetBackend`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol

from fleet.control.desired import DesiredState
from fleet.control.placement import NodeView
from fleet.control.reconcile import DEAD, READY, STARTING, STOPPING, UNHEALTHY, StartReplica
from fleet.control.snapshot import ReplicaRecord
from fleet.errors import ActorGone
from fleet.models.manifest import ModelBundle

log = logging.getLogger("edgefleet.controller")

START_TIMEOUT_S = 180.0
UNHEALTHY_AFTER_FAILURES = 3
CRASH_LOOP_FAILURES = 3
MAX_BACKOFF_S = 60.0


class FleetBackend(Protocol):
    """What the manager needs from the cluster (see fleet.ray_adapter.backend.RayBackend)."""

    async def list_nodes(self) -> list[NodeView]: ...
    async def list_replicas(self) -> list[tuple[str, Any]]: ...
    async def start_replica(self, action: StartReplica, bundle: ModelBundle, max_queue: int) -> Any: ...
    async def start_agent(self, node: NodeView) -> Any: ...
    async def call(self, handle: Any, method: str, *args: Any, timeout_s: float) -> Any: ...
    async def kill(self, handle: Any) -> None: ...
    def forget_bundles(self, keep: set[tuple[str, str]]) -> None: ...


class ReplicaLifecycle:
    """Starting, stopping and health-checking replicas; polling node agents (see module docstring)."""

    desired: DesiredState
    backend: FleetBackend
    nodes: list[NodeView]
    replicas: dict[str, ReplicaRecord]
    agents: dict[str, Any]
    reports: dict[str, tuple[dict[str, Any], float]]
    bundles: dict[str, ModelBundle]
    backoff: dict[str, tuple[float, int, str]]
    _wake: asyncio.Event

    def event(self, message: str) -> None:
        """Record a human-readable event (FleetManager implements it)."""
        raise NotImplementedError

    def _spawn(self, coro: Any) -> None:
        raise NotImplementedError

    def bundle_for(self, action: StartReplica) -> ModelBundle:
        """The bundle a new replica starts with (FleetManager implements it)."""
        raise NotImplementedError

    async def _start(self, action: StartReplica) -> None:
        dep = self.desired.deployment(action.deployment)
        bundle = self.bundle_for(action)
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
