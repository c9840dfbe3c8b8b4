"""The detached, named controller actor (``edgefleet-controller``): a thin async shell around
:class:`fleet.control.manager.FleetManager` with the Ray backend.

Methods (called through :class:`fleet.ray_adapter.client.ControllerClient`): ``start``, ``get_state``
(long-poll), ``scale``, ``drain``, ``apply_policy`` (YAML text, re-validated; an invalid policy
is refused with the validation errors and the old one stays in force), ``wait_settled``,
``shutdown``. Errors are :class:`fleet.errors.FleetError` subclasses with clear messages.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from edgefleet.errors import PolicyError
from edgefleet.logfmt import configure_from_env
from edgefleet.policy.loader import parse_policy
from edgefleet.policy.schema import Policy
from edgefleet.replica_guard import ReplicaGuard
from edgefleet.state import FleetState
from fleet.control.manager import FleetManager
from fleet.errors import FleetError
from fleet.ray_adapter.backend import RayBackend
from fleet.ray_adapter.client import ControllerClient

log = logging.getLogger("edgefleet.controller")


class ControllerActor:
    """Holds the desired state and reconciles it; runs as an async Ray actor."""

    def __init__(
        self, policy: Policy, base_dir: str, registry: str | None = None, guard: ReplicaGuard | None = None
    ) -> None:
        """`guard` (the fleet token, TLS, KServe limits) goes to every replica it starts."""
        configure_from_env()  # the supervisor's --log-format (text or JSON lines)
        self._manager = FleetManager(
            policy, Path(base_dir), RayBackend(guard), Path(registry) if registry else None
        )

    async def start(self) -> str:
        """Start the reconcile loop (idempotent)."""
        self._manager.start()
        return "started"

    async def get_state(self, min_version: int = 0, timeout_s: float = 0.0) -> FleetState:
        """Long-poll: the state once its version exceeds `min_version`, else after `timeout_s`."""
        self._manager.start()
        return await self._manager.get_state(min_version, timeout_s)

    async def scale(self, deployment: str, replicas: int) -> str:
        """Set the replica count of a deployment."""
        return await self._manager.scale(deployment, int(replicas))

    async def drain(self, node: str, undrain: bool = False) -> str:
        """Drain or undrain a node (name or id)."""
        return await self._manager.drain(node, bool(undrain))

    async def apply_policy(self, policy_yaml_text: str) -> str:
        """Validate `policy_yaml_text` and make it the desired state."""
        try:
            policy = parse_policy(policy_yaml_text, source="applied policy")
        except PolicyError as exc:
            self._manager.event(f"policy refused: {exc}")
            raise FleetError(f"policy refused (the current policy stays in force):\n{exc}") from None
        return await self._manager.apply_policy(policy)

    async def wait_settled(self, timeout_s: float) -> FleetState:
        """Wait until every deployment is ready or has a standing error (FleetError on timeout)."""
        self._manager.start()
        return await self._manager.wait_settled(timeout_s)

    async def shutdown(self) -> None:
        """Stop every replica and agent (the caller then kills this actor)."""
        await self._manager.shutdown()


def create_controller_actor(
    policy: Policy,
    config_path: Path,
    registry: Path | str | None,
    replace: bool,
    guard: ReplicaGuard | None = None,
) -> Any:
    """Create the named, detached controller actor on this process's node (blocking)."""
    fleet_cfg = policy.fleet
    if replace:
        try:
            old = ray.get_actor(fleet_cfg.controller_name, namespace=fleet_cfg.namespace)
        except ValueError:
            old = None
        if old is not None:
            try:
                ray.get(old.shutdown.remote(), timeout=30)
            except Exception as exc:  # noqa: BLE001 - a stale controller may be half dead
                log.warning("stale controller did not shut down cleanly: %s", exc)
            ray.kill(old, no_restart=True)
    actor_cls = ray.remote(ControllerActor)
    return actor_cls.options(
        name=fleet_cfg.controller_name,
        namespace=fleet_cfg.namespace,
        lifetime="detached",
        num_cpus=0,
        max_restarts=0,
        max_concurrency=1000,
        get_if_exists=not replace,
        scheduling_strategy=NodeAffinitySchedulingStrategy(
            ray.get_runtime_context().get_node_id(), soft=True
        ),
    ).remote(policy, str(Path(config_path).resolve().parent), str(registry) if registry else None, guard)


async def start_controller(
    policy: Policy,
    config_path: Path | str,
    registry: Path | str | None = None,
    *,
    replace: bool = True,
    guard: ReplicaGuard | None = None,
) -> ControllerClient:
    """Create the detached, named controller actor for `policy` (an existing one is replaced)
    on this process's node, and return its client. Ray must be initialised (see
    :func:`fleet.ray_adapter.cluster.start_local_cluster`)."""
    handle = await asyncio.to_thread(
        create_controller_actor, policy, Path(config_path), registry, replace, guard
    )
    client = ControllerClient(handle)
    await client._call("start", timeout_s=60.0)
    return client
