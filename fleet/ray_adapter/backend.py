"""The control plane's wrapper around Ray: nodes, replica and agent actors, calls with timeouts.

Everything the control plane asks of Ray goes through :class:`RayBackend` (the controller's
:class:`fleet.control.manager.FleetManager` takes any object with the same methods, so it is
testable with an in-memory fake). Ray errors are translated here into :class:`ActorGone`,
:class:`TimeoutError` and :class:`fleet.errors.FleetError`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from edgefleet.constants import CONTROLLER_NAME, DEFAULT_NAMESPACE
from edgefleet.logfmt import configure_from_env
from edgefleet.replica_guard import ReplicaGuard
from fleet.control.placement import NODE_NAME_LABEL, SIMULATED_LABEL, NodeView
from fleet.control.reconcile import StartReplica
from fleet.errors import ActorGone, FleetError
from fleet.models.manifest import ModelBundle
from fleet.serving.node_agent import NodeAgent
from fleet.serving.replica import Replica

HEAD_RESOURCE = "node:__internal_head__"


class ReplicaActor(Replica):
    """A :class:`Replica` as a Ray actor. On a simulated node or the head (this machine, where the
    router runs) its KServe server binds to loopback; on a real node to the node's address, and
    only with the fleet token (a replica there without one refuses to start serving)."""

    def start(self) -> dict[str, Any]:
        """Start serving (see :meth:`Replica.start`), logging in the supervisor's format."""
        configure_from_env()
        if self.host is None:
            labels = ray.get_runtime_context().get_node_labels() or {}
            if is_local_node(labels):
                self.host = "127.0.0.1"
            elif self.guard.require_token and not self.guard.token:
                self._error = (
                    "no fleet token: a replica on a real node serves only the fleet's router "
                    "(start the fleet with `edgefleet up`, which hands the token out)"
                )
                return self.health()
            else:
                self.host = str(ray.util.get_node_ip_address())
        return super().start()

    def health(self) -> dict[str, Any]:
        """:meth:`Replica.health` plus the Ray node id this actor runs on."""
        return {**super().health(), "node_id": ray.get_runtime_context().get_node_id()}


def is_local_node(labels: Mapping[str, Any]) -> bool:
    """True for a simulated node or the head: replicas there bind to loopback."""

    def value(key: str) -> str:
        found = labels.get(key)
        return str(found[0] if isinstance(found, list | tuple) and found else found or "")

    return value(SIMULATED_LABEL) == "true" or value(NODE_NAME_LABEL) == "head"


def replica_actor_name(replica_id: str, controller: str = CONTROLLER_NAME) -> str:
    """The Ray actor name of a replica of `controller` (in the controller's namespace)."""
    return f"{controller}:replica:{replica_id}"


def agent_actor_name(node_id: str, controller: str = CONTROLLER_NAME) -> str:
    """The Ray actor name of the node agent `controller` keeps on node `node_id`."""
    return f"{controller}:agent:{node_id}"


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


async def await_ref(ref: Any, timeout_s: float) -> Any:
    """Await an ObjectRef within `timeout_s`; Ray errors become ActorGone / TimeoutError / FleetError."""
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
    """Ray operations used by the controller (runs inside the controller actor).

    Replicas and node agents are *detached* named actors in the controller's namespace (named by
    :func:`replica_actor_name` / :func:`agent_actor_name`), so they outlive a controller restart,
    and a restarted controller finds them again (:meth:`list_replicas`) instead of starting
    duplicates. The controller kills them explicitly when they are stopped or it shuts down.
    """

    def __init__(
        self,
        namespace: str = DEFAULT_NAMESPACE,
        controller: str = CONTROLLER_NAME,
        guard: ReplicaGuard | None = None,
    ) -> None:
        """`guard`: the token, TLS and limits every replica's server gets (edgefleet.replica_guard)."""
        self.namespace = namespace
        self.controller = controller
        self.guard = guard or ReplicaGuard()
        self._bundle_refs: dict[tuple[str, str], Any] = {}
        self._replica_cls = ray.remote(ReplicaActor)
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
        return self._replica_cls.options(
            name=replica_actor_name(action.replica_id, self.controller),
            namespace=self.namespace,
            lifetime="detached",
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
            precision=action.precision,
            llm=action.llm,
            guard=self.guard,
            batching=action.batching,
        )

    async def start_agent(self, node: NodeView) -> Any:
        """Create the node agent actor on `node`."""
        return self._agent_cls.options(
            name=agent_actor_name(node.node_id, self.controller),
            namespace=self.namespace,
            lifetime="detached",
            get_if_exists=True,
            num_cpus=0,
            max_restarts=0,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node.node_id, soft=False),
        ).remote(node.name, node.devices())

    async def list_replicas(self) -> list[tuple[str, Any]]:
        """(replica id, handle) of every live replica actor of this controller (after a restart,
        those the previous incarnation started)."""
        prefix = replica_actor_name("", self.controller)
        named = await asyncio.to_thread(ray.util.list_named_actors, True)
        found: list[tuple[str, Any]] = []
        for entry in named:
            name = str(entry["name"])
            if entry["namespace"] != self.namespace or not name.startswith(prefix):
                continue
            with contextlib.suppress(ValueError):  # gone meanwhile
                found.append((name[len(prefix) :], ray.get_actor(name, namespace=self.namespace)))
        return found

    async def call(self, handle: Any, method: str, *args: Any, timeout_s: float) -> Any:
        """Call `method` on an actor; raises ActorGone, TimeoutError, or what the method raised."""
        return await await_ref(getattr(handle, method).remote(*args), timeout_s)

    async def kill(self, handle: Any) -> None:
        """Kill an actor now (no restart)."""
        with contextlib.suppress(Exception):  # already gone
            ray.kill(handle, no_restart=True)

    def forget_bundles(self, keep: set[tuple[str, str]]) -> None:
        """Drop object refs of model versions no longer used."""
        for key in list(self._bundle_refs):
            if key not in keep:
                del self._bundle_refs[key]
