"""A retriever replica (the fleet's Replica class with a tiny collection) over KServe v2 on
127.0.0.1:0, and the router's Generate with retrieval against it and a FAKE streaming LLM replica
(gRPC and the OpenAI front door). Every server is stopped; every wait is bounded."""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import numpy as np
import pytest

from edgefleet import kserve_retrieval as kr
from edgefleet.kserve_codec import join_length_prefixed
from edgefleet.kserve_llm import read_generate_request
from edgefleet.policy.loader import parse_policy
from edgefleet.state import DeploymentState, FleetState, ReplicaState
from fleet.models import collection_manifest as cm
from fleet.models.manifest import load_bundle
from fleet.serving.replica import Replica
from protos.edgefleet.v1 import router_pb2, router_pb2_grpc
from protos.inference import grpc_service_pb2 as kserve_pb2
from protos.inference import grpc_service_pb2_grpc as kserve_grpc
from router.fleet_source import StaticFleet
from router.server import RouterServer, serve
from tests.fixtures.collections import TINY_DOCS, TinyCollection
from tests.integration.test_router_generate import FakeLLMReplica
from tests.unit.generate_fakes import FakeHostedGenerator

pytestmark = pytest.mark.integration
WAIT_S = 10.0


@pytest.fixture(scope="module")
def retriever(tiny_collection: TinyCollection) -> Iterator[Replica]:
    """A started retriever replica serving the tiny collection."""
    replica = Replica("tiny-r0", "tiny-retriever", load_bundle(tiny_collection.folder), ["CPU"], "node-a")
    report = replica.start()
    assert report["ready"], report
    try:
        yield replica
    finally:
        replica.stop(0.5)


@pytest.fixture
def stub(retriever: Replica) -> Iterator[kserve_grpc.GRPCInferenceServiceStub]:
    channel = grpc.insecure_channel(retriever.health()["address"])
    try:
        yield kserve_grpc.GRPCInferenceServiceStub(channel)
    finally:
        channel.close()


def test_model_infer_returns_passages_scores_and_embeddings(
    stub: kserve_grpc.GRPCInferenceServiceStub, tiny_collection: TinyCollection
) -> None:
    questions = ["Who invented the piano?", "When did people land on the Moon?"]
    request = kr.retrieve_request("tiny", tiny_collection.version, questions, 3)
    response = stub.ModelInfer(request, timeout=WAIT_S)
    shapes = {o.name: list(o.shape) for o in response.outputs}
    assert shapes == {
        "PASSAGES": [2, 3],
        "SCORES": [2, 3],
        "DENSE_SCORES": [2, 3],
        "LEXICAL_SCORES": [2, 3],
        "EMBEDDING": [2, 384],
    }
    piano, moon = kr.read_retrieval_response(response, 2)
    assert piano.passages[0].doc == "piano" and moon.passages[0].doc == "moon"
    assert piano.passages[0].text == TINY_DOCS["piano"][1] and piano.passages[0].title == "Piano"
    assert (piano.collection, piano.version) == ("tiny", tiny_collection.version)
    for result in (piano, moon):
        scores = [p.score for p in result.passages]
        assert scores == sorted(scores, reverse=True)
        for p in result.passages:
            assert p.score == pytest.approx(p.dense + 0.45 * p.lexical, abs=1e-4) and 0 <= p.lexical <= 1
        assert np.linalg.norm(result.embedding) == pytest.approx(1.0, abs=1e-4)
    params = response.parameters
    assert params["replica"].string_param == "tiny-r0" and params["node"].string_param == "node-a"


def test_raw_input_and_k_larger_than_the_collection(stub: kserve_grpc.GRPCInferenceServiceStub) -> None:
    request = kserve_pb2.ModelInferRequest(model_name="tiny")
    request.inputs.add(name="TEXT", datatype="BYTES", shape=[1])
    request.raw_input_contents.append(join_length_prefixed([b"tea leaves"]))
    request.parameters["top_k"].int64_param = 50
    response = stub.ModelInfer(request, timeout=WAIT_S)
    assert len(response.raw_output_contents) == 5
    (result,) = kr.read_retrieval_response(response, 1)
    assert len(result.passages) == len(TINY_DOCS) and result.passages[0].doc == "tea"


@pytest.mark.parametrize(
    ("change", "code", "message"),
    [
        ({"top_k": 0}, grpc.StatusCode.INVALID_ARGUMENT, "top_k"),
        ({"model": "other"}, grpc.StatusCode.NOT_FOUND, "unknown model 'other'"),
        ({"version": "9"}, grpc.StatusCode.NOT_FOUND, "has no version '9'"),
        ({"texts": []}, grpc.StatusCode.INVALID_ARGUMENT, "empty"),
    ],
)
def test_bad_requests(
    stub: kserve_grpc.GRPCInferenceServiceStub, change: dict[str, object], code: grpc.StatusCode, message: str
) -> None:
    request = kr.retrieve_request(
        str(change.get("model", "tiny")),
        str(change.get("version", "")),
        change.get("texts", ["x"]),
        3,  # type: ignore[arg-type]
    )
    if "top_k" in change:
        request.parameters["top_k"].int64_param = int(change["top_k"])  # type: ignore[call-overload]
    with pytest.raises(grpc.RpcError) as exc:
        stub.ModelInfer(request, timeout=WAIT_S)
    assert exc.value.code() == code and message in exc.value.details()


def test_metadata_and_health(stub: kserve_grpc.GRPCInferenceServiceStub, retriever: Replica) -> None:
    meta = stub.ModelMetadata(kserve_pb2.ModelMetadataRequest(name="tiny"), timeout=WAIT_S)
    assert meta.platform == "edgefleet_retrieval"
    assert [(o.name, list(o.shape)) for o in meta.outputs][-1] == ("EMBEDDING", [-1, 384])
    assert stub.ModelReady(kserve_pb2.ModelReadyRequest(name="tiny"), timeout=WAIT_S).ready
    report = retriever.health()
    assert report["ready"] and report["model"] == "tiny" and report["requests"] >= 1
    assert report["inference_precision"] in ("f32", "bf16")


def test_a_corrupt_collection_reports_not_ready(tiny_collection: TinyCollection, tmp_path: Path) -> None:
    copy = tmp_path / "tiny" / tiny_collection.version
    shutil.copytree(tiny_collection.folder.resolve(), copy)
    bundle = load_bundle(copy)
    (copy / cm.BM25_FILE).write_bytes(b"truncated")
    replica = Replica("bad-r0", "bad", bundle, ["CPU"], "node-a")
    try:
        report = replica.start()
        assert not report["ready"] and "bm25.npz" in report["error"]
        with grpc.insecure_channel(report["address"]) as channel, pytest.raises(grpc.RpcError) as exc:
            kserve_grpc.GRPCInferenceServiceStub(channel).ModelInfer(
                kr.retrieve_request("tiny", "", ["x"], 1), timeout=WAIT_S
            )
        assert exc.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        replica.stop(0.5)


# -- the router's Generate with retrieval ------------------------------------------------------

POLICY = """
version: 1
deployments:
  - {name: llm-small, model: smollm, price_per_call_usd: 0.00001}
  - {name: tiny-retriever, model: tiny, price_per_call_usd: 0.000001}
hosted:
  - {name: big, base_url: "http://big.example/v1", model: big-model}
routes:
  - name: qa
    task: generate
    targets: [llm-small]
    fallback: big
    retrieval: {deployment: tiny-retriever, top_k: 2, template: "{passages}\\nQ: {question}"}
"""


@dataclass
class RagRig:
    llm: FakeLLMReplica
    router: RouterServer
    stub: router_pb2_grpc.RouterStub


@pytest.fixture
async def rag_rig(retriever: Replica, tiny_collection: TinyCollection) -> AsyncIterator[RagRig]:
    llm = FakeLLMReplica()
    kserve = grpc.aio.server()
    kserve_grpc.add_GRPCInferenceServiceServicer_to_server(llm, kserve)
    llm_port = kserve.add_insecure_port("127.0.0.1:0")
    await kserve.start()
    deployments = [
        DeploymentState(
            "llm-small", "smollm", "1", "INT4", 1, 1,
            [ReplicaState("llm-0", "llm-small", "n", "node-a", "CPU", f"127.0.0.1:{llm_port}", "ready")],
            0.00001, task="generate", context_length=8192,
        ),
        DeploymentState(
            "tiny-retriever", "tiny", tiny_collection.version, "FP32", 1, 1,
            [ReplicaState("tiny-r0", "tiny-retriever", "n", "node-a", "CPU", retriever.health()["address"], "ready")],
            0.000001, task="retrieve",
        ),
    ]  # fmt: skip
    router = await serve(
        parse_policy(POLICY),
        StaticFleet(FleetState(version=1, deployments=deployments)),
        {"big": FakeHostedGenerator()},  # type: ignore[dict-item]
        "127.0.0.1:0",
        http_listen="127.0.0.1:0",
    )
    channel = grpc.aio.insecure_channel(router.address)
    try:
        yield RagRig(llm, router, router_pb2_grpc.RouterStub(channel))
    finally:
        await channel.close()
        await router.stop(0)
        await kserve.stop(0)


async def test_generate_retrieves_and_cites(rag_rig: RagRig, tiny_collection: TinyCollection) -> None:
    request = router_pb2.GenerateRequest(
        request_id="rag-1",
        messages=[router_pb2.ChatMessage(role="user", content="Who invented the piano?")],
        max_tokens=16,
    )
    events = [e async for e in rag_rig.stub.Generate(request, timeout=WAIT_S)]
    final = events[-1].final
    assert final.served_by.model == "smollm" and final.served_by.replica == "llm-0"
    assert [(s.target, s.outcome) for s in final.trace] == [
        ("retrieve:tiny-retriever", "ok"),
        ("llm-small", "ok"),
    ]
    assert "2 passages from tiny:" in final.trace[0].reason
    first = final.citations[0]
    assert (first.index, first.collection, first.version, first.document) == (
        1, "tiny", tiny_collection.version, "piano",
    )  # fmt: skip
    assert len(final.citations) == 2 and final.citations[0].score > final.citations[1].score
    messages, _ = read_generate_request(rag_rig.llm.requests[0])
    assert messages[-1].content.startswith("[1] Piano: The piano was invented by Bartolomeo Cristofori")
    assert messages[-1].content.endswith("\nQ: Who invented the piano?")


async def test_the_front_door_returns_citations(rag_rig: RagRig) -> None:
    body = {"model": "qa", "messages": [{"role": "user", "content": "What do bees make?"}], "max_tokens": 16}
    async with httpx.AsyncClient(base_url=f"http://{rag_rig.router.http_address}/v1", timeout=WAIT_S) as http:
        reply = await http.post("/chat/completions", json=body)
    assert reply.status_code == 200, reply.text
    ext = reply.json()["edgefleet"]
    assert ext["citations"][0]["document"] == "bees" and ext["citations"][0]["index"] == 1
    assert ext["trace"][0]["target"] == "retrieve:tiny-retriever"
    assert json.dumps(ext)  # plain JSON
