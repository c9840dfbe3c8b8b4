"""The one wrapper around Ray: nodes, replica and agent actors, calls with timeouts, and the
controller client.

Everything the control plane asks of Ray goes through :class:`RayBackend` (the controller's
:class:`fleet.control.manager.FleetManager` takes any object with the same methods, so it is
testable with an in-memory fake). Ray errors are translated here into :class:`ActorGone`,
:class:`TimeoutError` and :class:`fleet.errors.FleetError`.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from edgefleet.state import FleetState
from fleet.control.placement import NODE_NAME_LABEL, NodeView
from fleet.control.reconcile import StartReplica
from fleet.control.snapshot import ActorGone
from fleet.errors import FleetError
from fleet.models.manifest import ModelBundle
from fleet.serving.node_agent import NodeAgent
from fleet.serving.replica import Replica

if TYPE_CHECKING:
    from edgefleet.policy.schema import Policy

CONTROLLER_NAME = "edgefleet-controller"
DEFAULT_NAMESPACE = "edgefleet"
HEAD_RESOURCE = "node:__internal_head__"


def node_ip_address() -> str:
    """This Ray node's IP address (what replicas bind their gRPC servers to)."""
    return str(ray.util.get_node_ip_address())


def replica_actor_name(replica_id: str) -> str:
    """The Ray actor name of a replica (in the controller's namespace)."""
    return f"edgefleet-replica-{replica_id}"


def node_view(info: dict[str, Any]) -> NodeView:
    """A NodeView from one entry of ``ray.nodes()``."""
    node_id = str(info["NodeID"])
    labels = {str(k): str(v) for k, v in (info.get("Labels") or {}).items()}
    address = str(info.get("NodeManagerAddress", ""))
    name = labels.get(NODE_NAME_LABEL) or ("head" if HEAD_RESOURCE in (info.get("Resources") or {}) else "")
    return NodeView(
        node_id=node_id,
        name=name or f"{address}-{node_id[:6]}",
        labels={k: v for k, v in labels.items() if not k.startswith("ray.io/")},
        resources={str(k): float(v) for k, v in (info.get("Resources") or {}).items()},
        alive=bool(info.get("Alive", False)),
        address=address,
    )


async def _await(ref: Any, timeout_s: float) -> Any:
    try:
        return await asyncio.wait_for(ref, timeout_s)
    except TimeoutError:
        raise TimeoutError(f"no answer within {timeout_s:.1f}s") from None
    except ray.exceptions.RayActorError as exc:  # died, node gone, or unreachable
        raise ActorGone(str(exc).splitlines()[0] if str(exc) else "actor died") from exc
    except ray.exceptions.RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, BaseException):
            raise cause from None
        raise FleetError(str(exc)) from exc


class RayBackend:
    """Ray operations used by the controller (runs inside the controller actor)."""

    def __init__(self) -> None:
        self._bundle_refs: dict[tuple[str, str], Any] = {}
        self._replica_cls = ray.remote(Replica)
        self._agent_cls = ray.remote(NodeAgent)

    async def list_nodes(self) -> list[NodeView]:
        """Every node Ray knows (alive or not)."""
        return [node_view(n) for n in await asyncio.to_thread(ray.nodes)]

    def _bundle_ref(self, bundle: ModelBundle) -> Any:
        key = (bundle.name, bundle.version)
        if key not in self._bundle_refs:
            self._bundle_refs[key] = ray.put(bundle)
        return self._bundle_refs[key]

    async def start_replica(self, action: StartReplica, bundle: ModelBundle, max_queue: int) -> Any:
        """Create the replica actor pinned to its node (it is started with ``call(h, "start")``)."""
        return self._replica_cls.options(  # type: ignore[attr-defined]
            name=replica_actor_name(action.replica_id),
            num_cpus=0,
            max_restarts=0,
            max_concurrency=4,
            scheduling_strategy=NodeAffinitySchedulingStrategy(action.node_id, soft=False),
        ).remote(
            action.replica_id,
            action.deployment,
            self._bundle_ref(bundle),
            list(action.device_prefs),
            action.node_name,
            placed_device=action.device,
            max_queue=max_queue,
        )

    async def start_agent(self, node: NodeView) -> Any:
        """Create the node agent actor on `node`."""
        return self._agent_cls.options(  # type: ignore[attr-defined]
            num_cpus=0,
            max_restarts=0,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node.node_id, soft=False),
        ).remote(node.name, node.devices())

    async def call(self, handle: Any, method: str, *args: Any, timeout_s: float) -> Any:
        """Call `method` on an actor; raises ActorGone, TimeoutError, or what the method raised."""
        return await _await(getattr(handle, method).remote(*args), timeout_s)

    async def kill(self, handle: Any) -> None:
        """Kill an actor now (no restart)."""
        with contextlib.suppress(Exception):  # already gone
            ray.kill(handle, no_restart=True)

    def forget_bundles(self, keep: set[tuple[str, str]]) -> None:
        """Drop object refs of model versions no longer used."""
        for key in list(self._bundle_refs):
            if key not in keep:
                del self._bundle_refs[key]


class ControllerClient:
    """Async client of the controller actor (what the router, CLI and TUI use)."""

    def __init__(self, handle: Any, call_timeout_s: float = 60.0) -> None:
        self._handle = handle
        self.call_timeout_s = call_timeout_s

    @classmethod
    def connect(
        cls, namespace: str = DEFAULT_NAMESPACE, name: str = CONTROLLER_NAME, address: str | None = None
    ) -> ControllerClient:
        """Find the running controller; connects this process to Ray first when needed
        (`address` None = the local cluster, found automatically)."""
        if not ray.is_initialized():
            ray.init(address=address or "auto", namespace=namespace, log_to_driver=False)
        try:
            return cls(ray.get_actor(name, namespace=namespace))
        except ValueError as exc:
            raise FleetError(
                f"no EdgeFleet controller {name!r} in Ray namespace {namespace!r}: is the fleet up?"
            ) from exc

    async def _call(self, method: str, *args: Any, timeout_s: float | None = None) -> Any:
        try:
            return await _await(getattr(self._handle, method).remote(*args), timeout_s or self.call_timeout_s)
        except ActorGone as exc:
            raise FleetError(f"the EdgeFleet controller is gone: {exc}") from exc

    async def get_state(self, min_version: int = 0, timeout_s: float = 0) -> FleetState:
        """The fleet state once its version exceeds `min_version` (or after `timeout_s`)."""
        state: FleetState = await self._call("get_state", min_version, timeout_s, timeout_s=timeout_s + 30.0)
        return state

    async def scale(self, deployment: str, replicas: int) -> str:
        """Set the replica count of a deployment."""
        return str(await self._call("scale", deployment, replicas))

    async def drain(self, node: str, undrain: bool = False) -> str:
        """Move replicas off `node` (name or id) and keep new ones away; `undrain` reverses it."""
        return str(await self._call("drain", node, undrain))

    async def apply_policy(self, policy_yaml_text: str) -> str:
        """Validate and apply a new policy; an invalid one is refused and the old one stays."""
        return str(await self._call("apply_policy", policy_yaml_text))

    async def wait_ready(self, timeout_s: float = 300.0) -> FleetState:
        """Wait until every deployment has its replicas ready, or has a standing error."""
        return await self._call_wait(timeout_s)

    async def _call_wait(self, timeout_s: float) -> FleetState:
        state: FleetState = await self._call("wait_settled", timeout_s, timeout_s=timeout_s + 30.0)
        return state

    async def shutdown(self) -> None:
        """Stop every replica and agent, then the controller actor itself."""
        with contextlib.suppress(FleetError):
            await self._call("shutdown", timeout_s=60.0)
        with contextlib.suppress(Exception):  # already gone
            ray.kill(self._handle, no_restart=True)


async def start_controller(
    policy: Policy, config_path: Path | str, registry: Path | str | None = None, *, replace: bool = True
) -> ControllerClient:
    """Create the detached, named controller actor for `policy` (an existing one is replaced)
    on this process's node, and return its client. Ray must be initialised (see
    :func:`fleet.ray_adapter.cluster.start_local_cluster`)."""
    from fleet.ray_adapter.controller import create_controller_actor

    handle = await asyncio.to_thread(create_controller_actor, policy, Path(config_path), registry, replace)
    client = ControllerClient(handle)
    await client._call("start", timeout_s=60.0)
    return client
