"""The detached, named controller actor (``edgefleet-controller``): a thin async shell around
:class:`fleet.control.manager.FleetManager` with the Ray backend.

Methods (called through :class:`fleet.ray_adapter.client.ControllerClient`): ``start``, ``get_state``
(long-poll), ``scale``, ``drain``, ``apply_policy`` (YAML text, re-validated; an invalid policy
is refused with the validation errors and the old one stays in force), ``wait_settled``,
``shutdown``. Errors are :class:`fleet.errors.FleetError` subclasses with clear messages.

Ray restarts the controller when its process dies (``max_restarts=-1``). The restarted actor
reads its desired state back from the GCS (:class:`fleet.ray_adapter.desired_kv.GcsKvStore`)
instead of the policy it was created with, and adopts the replicas still running (they are
detached actors, see :class:`fleet.ray_adapter.backend.RayBackend`). Its loop starts with the first
call (the router's fleet source long-polls it continuously).
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
from fleet.ray_adapter.desired_kv import GcsKvStore

log = logging.getLogger("edgefleet.controller")


class ControllerActor:
    """Holds the desired state and reconciles it; runs as an async Ray actor."""

    def __init__(
        self, policy: Policy, base_dir: str, registry: str | None = None, guard: ReplicaGuard | None = None
    ) -> None:
        """`guard` (the fleet token, TLS, KServe limits) goes to every replica it starts."""
        configure_from_env()  # the supervisor's --log-format (text or JSON lines)
        fleet = policy.fleet
        self._store = GcsKvStore(fleet.namespace, fleet.controller_name)
        restarted = bool(ray.get_runtime_context().was_current_actor_reconstructed)
        self._manager = FleetManager(
            policy,
            Path(base_dir),
            RayBackend(fleet.namespace, fleet.controller_name, guard),
            Path(registry) if registry else None,
            store=self._store,
            restore=restarted,
        )

    async def start(self) -> str:
        """Start the reconcile loop (idempotent)."""
        self._manager.start()
        return "started"

    async def get_state(self, min_version: int = 0, timeout_s: float = 0.0, epoch: str = "") -> FleetState:
        """Long-poll: the state once its version exceeds `min_version`, else after `timeout_s`.
        A caller that names another `epoch` (it last heard from an earlier incarnation of this
        controller, whose versions mean nothing here) gets the first state this one publishes
        (after its first pass, replicas adopted) without waiting for a version it knows."""
        self._manager.start()
        if epoch and epoch != self._manager.epoch:
            min_version = 0
        return await self._manager.get_state(min_version, timeout_s)

    async def scale(self, deployment: str, replicas: int) -> str:
        """Set the replica count of a deployment."""
        return await self._manager.scale(deployment, int(replicas))

    async def drain(self, node: str, undrain: bool = False) -> str:
        """Drain or undrain a node (name or id)."""
        return await self._manager.drain(node, bool(undrain))

    async def report_outcomes(self, report: dict[str, Any]) -> None:
        """A router's per-version outcomes of deployments under a canary (what canaries are
        judged on)."""
        self._manager.start()
        self._manager.record_outcomes(report)

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
        """Stop every replica and agent and forget the saved desired state (the caller then
        kills this actor)."""
        await self._manager.shutdown()
        await asyncio.to_thread(self._store.delete)


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
        max_restarts=-1,  # Ray restarts it; the new one restores its desired state and adopts replicas
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
