"""An LLM deployment on the real Ray test cluster: the controller places an LLM replica, which
loads SmolLM2 from the registry folder on its node (not through the object store), streams over
KServe v2, and reports tokens/s and time to first token in the published snapshot."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from edgefleet.generation import ChatMessage, SamplingParams
from edgefleet.kserve_llm import generate_request, read_chunk
from edgefleet.policy.loader import parse_policy
from fleet.ray_adapter.client import ControllerClient
from fleet.ray_adapter.controller import start_controller
from protos.inference import grpc_service_pb2_grpc as kserve_grpc
from tests.fixtures.llm import LLM_NAME
from tests.fixtures.ray_cluster import TEST_NAMESPACE
from tests.integration.test_fleet_ray import ready, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def llm_controller(ray_cluster: object, llm_registry: Path) -> AsyncIterator[ControllerClient]:
    registry = Path(llm_registry).resolve()
    policy = parse_policy(f"""
registry: {registry}
fleet: {{namespace: {TEST_NAMESPACE}, reconcile_interval_s: 0.5, health_timeout_s: 3}}
deployments:
  - name: chat
    model: {LLM_NAME}
    selector: {{site: store-1}}
    max_queue: 8
    llm: {{max_batch: 4}}
""")
    client = await start_controller(policy, registry / "edgefleet.yaml", registry)
    try:
        yield client
    finally:
        await client.shutdown()


async def test_llm_replica_is_placed_streams_and_reports(llm_controller: ControllerClient) -> None:
    state = await wait_for(llm_controller, "an LLM replica", lambda s: ready(s, "chat", 1), timeout_s=150)
    dep = state.deployment("chat")
    assert dep is not None and dep.task == "generate" and dep.context_length == 8192
    [replica] = dep.replicas
    assert replica.node_name == "edge-small" and replica.precision == "Q4_1"
    request = generate_request(
        LLM_NAME, dep.version, [ChatMessage("user", "Say hello.")], SamplingParams(max_tokens=8)
    )
    with grpc.insecure_channel(replica.address) as channel:
        stub = kserve_grpc.GRPCInferenceServiceStub(channel)
        chunks = [read_chunk(r.infer_response) for r in stub.ModelStreamInfer(iter([request]), timeout=60)]
    assert chunks[-1].final and 0 < chunks[-1].completion_tokens <= 8
    state = await wait_for(
        llm_controller,
        "LLM figures in the snapshot",
        lambda s: s.deployment("chat").replicas[0].ttft_p50_ms > 0,  # type: ignore[union-attr]
        timeout_s=30,
    )
    shown = state.deployment("chat").replicas[0]  # type: ignore[union-attr]
    assert shown.ttft_p95_ms >= shown.ttft_p50_ms > 0 and shown.queue_depth == 0
