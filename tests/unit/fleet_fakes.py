"""In-memory fakes of the control plane's backend and registry (no Ray), shared by the manager's
unit tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgefleet.policy.schema import Policy
from edgefleet.state import FleetState
from fleet.control.desired_store import DesiredStore
from fleet.control.manager import FleetManager
from fleet.control.placement import NodeView
from fleet.control.reconcile import StartReplica
from fleet.errors import ActorGone
from fleet.models.manifest import ModelBundle, TensorSpec
from fleet.models.registry import write_model_version


class FakeReplica:
    def __init__(self, action: StartReplica, fail: str = "", version: str = "1") -> None:
        self.action = action
        self.version = version
        self.fail = fail
        self.dead = False
        self.stopped = False

    def report(self) -> dict[str, Any]:
        return {
            "deployment": self.action.deployment,  # the identity a restarted controller adopts it by
            "node_id": self.action.node_id,
            "node_name": self.action.node_name,
            "placed_device": self.action.device,
            "precision_setting": self.action.precision,
            "bundle_model": "m",
            "bundle_version": self.version,
            "ready": not self.fail,
            "error": self.fail,
            "address": f"10.0.0.1:{abs(hash(self.action.replica_id)) % 60000}",
            "device": "CPU",
            "requests": 0,
            "inference_precision": "f32" if self.action.precision == "f32" else "bf16",
            "isa": ["AVX2", "AVX512", "BF16"],
        }


class FakeBackend:
    """In-memory stand-in for fleet.ray_adapter.backend.RayBackend."""

    def __init__(self, nodes: list[NodeView]) -> None:
        self.nodes = nodes
        self.replicas: dict[str, FakeReplica] = {}
        self.fail_model = ""
        self.list_errors = 0
        self.pinned: set[tuple[str, str]] = set()  # model versions held in the cluster, as RayBackend does

    async def list_nodes(self) -> list[NodeView]:
        if self.list_errors:
            self.list_errors -= 1
            raise RuntimeError("GCS unreachable")
        return list(self.nodes)

    async def start_replica(self, action: StartReplica, bundle: ModelBundle, max_queue: int) -> Any:
        self.pinned.add((bundle.name, bundle.version))
        replica = FakeReplica(action, self.fail_model, bundle.version)
        self.replicas[action.replica_id] = replica
        return replica

    async def list_replicas(self) -> list[tuple[str, Any]]:
        return [(rid, r) for rid, r in self.replicas.items() if not r.dead]

    async def start_agent(self, node: NodeView) -> Any:
        return node

    async def call(self, handle: Any, method: str, *args: Any, timeout_s: float) -> Any:
        if isinstance(handle, NodeView):
            return {"devices": [], "cpu_percent": 10.0, "memory_percent": 20.0}
        if handle.dead:
            raise ActorGone("actor died")
        if method == "stop":
            handle.stopped = True
            return None
        return handle.report()

    async def kill(self, handle: Any) -> None:
        if isinstance(handle, FakeReplica):
            handle.dead = True

    def forget_bundles(self, keep: set[tuple[str, str]]) -> None:
        self.pinned &= keep


def node(name: str, devices: tuple[str, ...] = ("CPU",), **labels: str) -> NodeView:
    return NodeView(f"id-{name}", name, labels, {f"ov_{d}": 1.0 for d in devices})


def make_registry(root: Path, version: str = "1") -> Path:
    spec_in = [TensorSpec(name="FEATURES", datatype="FP32", shape=[-1, 4])]
    spec_out = [TensorSpec(name="PROBS", datatype="FP32", shape=[-1, 2])]
    write_model_version(
        root,
        name="m",
        version=version,
        task="classify",
        labels=["a", "oos"],
        precision="FP32",
        featurizer={"kind": "hashed", "dim": 4},
        inputs=spec_in,
        outputs=spec_out,
        files={"model.xml": b"<xml/>", "model.bin": b"\0"},
    )
    return root


def make_manager(
    tmp_path: Path,
    deployments: list[dict[str, Any]],
    nodes: list[NodeView],
    *,
    backend: FakeBackend | None = None,
    store: DesiredStore | None = None,
    restore: bool = False,
) -> tuple[FleetManager, FakeBackend]:
    """A manager over a fake backend (a new one unless given: a restarted controller keeps the
    cluster's) and a registry with model ``m`` version 1."""
    registry = make_registry(tmp_path / "reg")
    policy = Policy.model_validate({"registry": str(registry), "deployments": deployments})
    backend = backend or FakeBackend(nodes)
    return FleetManager(policy, tmp_path, backend, store=store, restore=restore), backend


async def settle(mgr: FleetManager, done: Callable[[FleetState], bool], passes: int = 10) -> FleetState:
    for _ in range(passes):
        await mgr.reconcile_once()
        await mgr.idle()
        await mgr.publish()
        if done(mgr.state):
            return mgr.state
    raise AssertionError(f"not settled: {mgr.state.deployments}; events {list(mgr.events)[-5:]}")


def ready_count(state: FleetState, name: str) -> int:
    dep = state.deployment(name)
    return dep.ready if dep is not None else -1
