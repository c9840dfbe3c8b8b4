"""The control plane on a real Ray cluster: placement, KServe replicas, replacement, scaling,
draining and policy updates (real raylets, real gRPC, real OpenVINO)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import grpc
import pytest
import ray

from edgefleet.policy.loader import parse_policy
from edgefleet.state import FleetState
from fleet.errors import FleetError, UnknownDeployment, UnknownNode
from fleet.ray_adapter.backend import replica_actor_name
from fleet.ray_adapter.client import ControllerClient
from fleet.ray_adapter.controller import start_controller
from fleet.serving.cpu import cpu_isa
from protos.inference import grpc_service_pb2 as kserve_pb2
from protos.inference import grpc_service_pb2_grpc as kserve_grpc
from tests.fixtures.ray_cluster import TEST_NAMESPACE

pytestmark = pytest.mark.integration
MODEL = "domain-router"


def policy_yaml(registry: Path, gpu_replicas: int = 1, store_replicas: int = 1, extra: str = "") -> str:
    """A policy for the test cluster: one GPU-preferring deployment, one pinned to store-1 (f32)."""
    return f"""
registry: {registry}
fleet:
  namespace: {TEST_NAMESPACE}
  reconcile_interval_s: 0.5
  health_timeout_s: 3
deployments:
  - name: gpu-first
    model: {MODEL}
    replicas: {gpu_replicas}
    devices: [GPU, CPU]
  - name: store
    model: {MODEL}
    replicas: {store_replicas}
    selector: {{site: store-1}}
    precision: f32
{extra}"""


@pytest.fixture(scope="module")
async def controller(ray_cluster: object, model_registry: Path) -> AsyncIterator[ControllerClient]:
    registry = Path(model_registry).resolve()
    policy = parse_policy(policy_yaml(registry))
    client = await start_controller(policy, registry / "edgefleet.yaml", registry)
    try:
        await client.wait_ready(timeout_s=120)
        yield client
    finally:
        await client.shutdown()


async def wait_for(
    client: ControllerClient, what: str, check: Callable[[FleetState], bool], timeout_s: float = 90
) -> FleetState:
    """Long-poll the controller until `check(state)` holds (bounded)."""
    deadline = time.monotonic() + timeout_s
    state = await client.get_state(0, 0)
    while not check(state):
        left = deadline - time.monotonic()
        if left <= 0:
            summary = [
                (
                    d.name,
                    d.ready,
                    d.desired,
                    d.error,
                    [(r.replica_id, r.node_name, r.state) for r in d.replicas],
                )
                for d in state.deployments
            ]
            raise AssertionError(f"timed out waiting for {what}: {summary}; events: {state.events[-8:]}")
        state = await client.get_state(state.version, min(left, 5.0))
    return state


def infer_label(address: str) -> str:
    """One KServe v2 ModelInfer over a raw gRPC stub; returns the LABEL."""
    request = kserve_pb2.ModelInferRequest(model_name=MODEL)
    request.inputs.add(name="TEXT", datatype="BYTES", shape=[1]).contents.bytes_contents.append(
        b"book a flight"
    )
    with grpc.insecure_channel(address) as channel:
        response = kserve_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=10)
    label = next(o for o in response.outputs if o.name == "LABEL")
    return label.contents.bytes_contents[0].decode()


def ready(state: FleetState, deployment: str, count: int) -> bool:
    dep = state.deployment(deployment)
    return dep is not None and dep.ready == count and len(dep.replicas) == count


async def test_placement_follows_devices_and_labels(controller: ControllerClient) -> None:
    state = await controller.get_state()
    gpu = state.deployment("gpu-first")
    store = state.deployment("store")
    assert gpu is not None and store is not None
    [g] = gpu.replicas
    assert g.node_name == "edge-accel" and g.state == "ready"
    assert g.device == "CPU" and "GPU" in g.detail  # simulated GPU: honest fallback
    [s] = store.replicas
    assert s.node_name == "edge-small"
    assert (store.precision_policy, s.inference_precision) == ("f32", "f32")
    assert gpu.precision_policy == "auto" and g.inference_precision in ("f32", "bf16")
    assert s.isa == list(cpu_isa())  # the simulated nodes share this machine's CPU
    accel = state.node("edge-accel")
    assert accel is not None
    assert {d.name: d.simulated for d in accel.devices}["GPU"] is True
    assert gpu.labels and gpu.task == "classify" and gpu.version


async def test_replica_answers_kserve(controller: ControllerClient) -> None:
    state = await controller.get_state()
    [address] = state.ready_addresses("store")
    dep = state.deployment("store")
    assert dep is not None
    assert infer_label(address) in dep.labels


async def test_killed_replica_is_replaced(controller: ControllerClient) -> None:
    state = await controller.get_state()
    dep = state.deployment("store")
    assert dep is not None
    old = dep.replicas[0].replica_id
    ray.kill(ray.get_actor(replica_actor_name(old), namespace=TEST_NAMESPACE))
    state = await wait_for(
        controller,
        "a replacement replica",
        lambda s: ready(s, "store", 1) and s.deployment("store").replicas[0].replica_id != old,  # type: ignore[union-attr]
    )
    assert infer_label(state.ready_addresses("store")[0])
    assert any(old in e and "died" in e for e in state.events)


async def test_scale_up_and_down(controller: ControllerClient) -> None:
    assert "to 2" in await controller.scale("gpu-first", 2)
    state = await wait_for(controller, "2 gpu-first replicas", lambda s: ready(s, "gpu-first", 2))
    dep = state.deployment("gpu-first")
    assert dep is not None and {r.node_name for r in dep.replicas} == {
        "edge-accel"
    }  # device preference first
    await controller.scale("gpu-first", 1)
    await wait_for(controller, "1 gpu-first replica", lambda s: ready(s, "gpu-first", 1))
    with pytest.raises(UnknownDeployment, match="nope"):
        await controller.scale("nope", 1)


async def test_drain_moves_replicas(controller: ControllerClient) -> None:
    await controller.drain("edge-accel")
    try:
        state = await wait_for(
            controller,
            "gpu-first moved off edge-accel",
            lambda s: (
                ready(s, "gpu-first", 1) and s.deployment("gpu-first").replicas[0].node_name == "edge-small"
            ),  # type: ignore[union-attr]
        )
        node = state.node("edge-accel")
        assert node is not None and node.drained and node.health == "drained" and not node.replicas
    finally:
        await controller.drain("edge-accel", undrain=True)
    with pytest.raises(UnknownNode):
        await controller.drain("no-such-node")


async def test_apply_policy(controller: ControllerClient, model_registry: Path) -> None:
    registry = Path(model_registry).resolve()
    with pytest.raises(FleetError, match="policy refused") as info:
        await controller.apply_policy("deployments:\n  - name: x\n    modle: y\n")
    assert "modle" in str(info.value)
    npu = "  - name: npu-only\n    model: " + MODEL + "\n    devices: [NPU]\n"
    message = await controller.apply_policy(policy_yaml(registry, store_replicas=0, extra=npu))
    assert "policy applied" in message
    state = await wait_for(
        controller,
        "store scaled to 0 and npu-only reported unplaceable",
        lambda s: ready(s, "store", 0) and bool(s.deployment("npu-only") and s.deployment("npu-only").error),  # type: ignore[union-attr]
    )
    npu_dep = state.deployment("npu-only")
    assert npu_dep is not None and "NPU" in npu_dep.error and npu_dep.ready == 0
