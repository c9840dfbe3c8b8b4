"""A retriever deployment on the real Ray test cluster: the controller places a retriever replica,
which loads the collection from the registry folder on its node (not through the object store),
answers over KServe v2, and the snapshot shows the collection."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from edgefleet.kserve_retrieval import read_retrieval_response, retrieve_request
from edgefleet.policy.loader import parse_policy
from fleet.ray_adapter.client import ControllerClient
from fleet.ray_adapter.controller import start_controller
from protos.inference import grpc_service_pb2_grpc as kserve_grpc
from tests.fixtures.collections import TINY_DOCS, TinyCollection
from tests.fixtures.ray_cluster import TEST_NAMESPACE
from tests.integration.test_fleet_ray import ready, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def rag_controller(
    ray_cluster: object, tiny_collection: TinyCollection
) -> AsyncIterator[ControllerClient]:
    registry = tiny_collection.registry.resolve()
    policy = parse_policy(f"""
registry: {registry}
fleet: {{namespace: {TEST_NAMESPACE}, reconcile_interval_s: 0.5, health_timeout_s: 3}}
deployments:
  - {{name: rag, model: tiny, max_queue: 8}}
""")
    client = await start_controller(policy, registry / "edgefleet.yaml", registry)
    try:
        yield client
    finally:
        await client.shutdown()


async def test_retriever_replica_is_placed_and_answers(
    rag_controller: ControllerClient, tiny_collection: TinyCollection
) -> None:
    state = await wait_for(rag_controller, "a retriever replica", lambda s: ready(s, "rag", 1), timeout_s=120)
    dep = state.deployment("rag")
    assert dep is not None and dep.task == "retrieve" and dep.version == tiny_collection.version
    assert dep.collection is not None and dep.collection.chunks == len(TINY_DOCS)
    [replica] = dep.replicas
    with grpc.insecure_channel(replica.address) as channel:
        stub = kserve_grpc.GRPCInferenceServiceStub(channel)
        response = stub.ModelInfer(
            retrieve_request("tiny", dep.version, ["Where do penguins live?"], 2), timeout=30
        )
    (result,) = read_retrieval_response(response, 1)
    assert result.passages[0].doc == "penguins" and len(result.passages) == 2
