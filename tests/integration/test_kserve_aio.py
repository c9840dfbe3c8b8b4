"""The grpc.aio KServe server with dynamic batching (fleet.serving.kserve_aio) over a real
OpenVINO model: concurrent requests are coalesced into fewer inferences, each caller gets its own
answer (the same as one at a time), the replica's Prometheus metrics show texts and requests per
batch and queue waits, bad input fails alone, and stopping is clean."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest
from prometheus_client import generate_latest

from edgefleet.kserve_codec import decode_outputs, text_request
from edgefleet.policy.batching_options import BatchingOptions
from fleet.models.manifest import load_bundle, resolve_model_dir
from fleet.serving.kserve_aio import AioKServeServicer, serve_kserve
from fleet.serving.replica_metrics import ReplicaMetrics
from fleet.serving.runtime import TextModel
from protos.inference import grpc_service_pb2_grpc as kserve_grpc

pytestmark = pytest.mark.integration
TEXTS = [
    "what is my account balance",
    "book me a flight to paris",
    "set an alarm for 7am",
    "how do i change my pin",
    "is it going to rain tomorrow",
    "tell me a joke",
    "transfer 20 dollars to mom",
    "what's the capital of peru",
]


@pytest.fixture(scope="module")
def student(model_registry: Path) -> TextModel:
    return TextModel.load(load_bundle(resolve_model_dir(Path(model_registry), "clinc-banking")), ["CPU"])


async def _infer_all(address: str, model: TextModel, texts: list[str]) -> list[tuple[str, float]]:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = kserve_grpc.GRPCInferenceServiceStub(channel)
        requests = [text_request(model.manifest.name, "", [t], {"task": "classify"}) for t in texts]
        responses = await asyncio.gather(*(stub.ModelInfer(r, timeout=30) for r in requests))
    out = []
    for response in responses:
        decoded = decode_outputs(response)
        out.append((decoded.strings["LABEL"][0], float(decoded.parameters["queue_ms"])))
    return out


def test_concurrent_requests_are_batched_and_answered_like_single_ones(student: TextModel) -> None:
    # a long fixed delay makes the coalescing certain (no timing in the assertions)
    batching = BatchingOptions(max_batch=64, max_delay_us=300_000, adaptive=False)
    endpoint, port = serve_kserve(student, max_queue=64, batching=batching, replica="r-0")
    servicer = endpoint.servicer
    metrics = ReplicaMetrics("dep", student.manifest.name)
    metrics.watch(servicer.stats)
    try:
        answers = asyncio.run(_infer_all(f"127.0.0.1:{port}", student, TEXTS))
    finally:
        endpoint.stop(1.0).wait(5.0)
    expected = [label for label, _ in student.predict_labels(TEXTS)]
    assert [label for label, _ in answers] == expected
    assert servicer.stats.batched_texts == len(TEXTS)
    assert servicer.stats.batches < len(TEXTS)
    scraped = generate_latest(metrics.registry).decode()
    assert (
        f'edgefleet_replica_batch_size_sum{{deployment="dep",model="{student.manifest.name}"}} 8.0' in scraped
    )
    assert "edgefleet_replica_batch_requests_count" in scraped
    assert "edgefleet_replica_queue_wait_seconds_count" in scraped


def test_a_bad_request_fails_alone(student: TextModel) -> None:
    endpoint, port = serve_kserve(student, batching=BatchingOptions(max_delay_us=0))

    async def run() -> tuple[list[tuple[str, float]], grpc.StatusCode]:
        good = asyncio.ensure_future(_infer_all(f"127.0.0.1:{port}", student, TEXTS[:3]))
        try:
            await _infer_all(f"127.0.0.1:{port}", student, ["x" * 20_000])
        except grpc.aio.AioRpcError as exc:
            return await good, exc.code()
        raise AssertionError("a text over the limit was accepted")

    try:
        answers, code = asyncio.run(run())
    finally:
        endpoint.stop(1.0).wait(5.0)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert len(answers) == 3


def test_an_unloaded_model_answers_unavailable() -> None:
    endpoint, port = serve_kserve(None, load_error="model.bin is truncated")
    assert isinstance(endpoint.servicer, AioKServeServicer) and endpoint.servicer.batcher is None

    async def run() -> grpc.StatusCode:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = kserve_grpc.GRPCInferenceServiceStub(channel)
            try:
                await stub.ModelInfer(text_request("m", "", ["hi"]), timeout=10)
            except grpc.aio.AioRpcError as exc:
                return exc.code()
        raise AssertionError("no error")

    try:
        assert asyncio.run(run()) == grpc.StatusCode.UNAVAILABLE
    finally:
        assert endpoint.stop(0).wait(5.0)
