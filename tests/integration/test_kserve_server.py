"""KServe v2 gRPC server over a real OpenVINO model (no Ray).

tritonclient registers its own ``inference`` protos in the default descriptor pool, which
clashes with ours in one process, so the third-party client runs in a subprocess.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from fleet.models.manifest import load_bundle, resolve_model_dir
from fleet.serving.kserve_aio import serve_kserve
from fleet.serving.runtime import TextModel
from protos.inference import grpc_service_pb2 as kserve_pb2
from protos.inference import grpc_service_pb2_grpc as kserve_grpc

pytestmark = pytest.mark.integration
MODEL = "domain-router"

TRITON_SCRIPT = r"""
import json, sys
import numpy as np
import tritonclient.grpc as tg
address, model = sys.argv[1], sys.argv[2]
client = tg.InferenceServerClient(address)
out = {"live": client.is_server_live(), "ready": client.is_server_ready(),
       "model_ready": client.is_model_ready(model), "metadata": client.get_model_metadata(model, as_json=True)}
text = tg.InferInput("TEXT", [2], "BYTES")
text.set_data_from_numpy(np.array(["what is my account balance", "book me a flight to paris"], dtype=object))
result = client.infer(model, [text])
out["probs"] = result.as_numpy("PROBS").tolist()
out["labels"] = [x.decode() for x in result.as_numpy("LABEL")]
params = result.get_response().parameters
out["device"] = params["device"].string_param
out["replica"] = params["replica"].string_param
out["queue_ms"] = params["queue_ms"].double_param
print(json.dumps(out))
"""


def run_triton_client(address: str, model: str) -> dict[str, Any]:
    """Run the tritonclient checks in a subprocess; returns what it saw."""
    proc = subprocess.run(
        [sys.executable, "-c", TRITON_SCRIPT, address, model],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def text_model(model_registry: Path) -> TextModel:
    return TextModel.load(load_bundle(resolve_model_dir(Path(model_registry), MODEL)), ["CPU"])


@pytest.fixture(scope="module")
def server_address(text_model: TextModel) -> Iterator[str]:
    server, port = serve_kserve(text_model, "127.0.0.1", 0, node="test-node", replica="test-replica")
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(1.0).wait(3.0)


@pytest.fixture(scope="module")
def stub(server_address: str) -> Iterator[kserve_grpc.GRPCInferenceServiceStub]:
    with grpc.insecure_channel(server_address) as channel:
        yield kserve_grpc.GRPCInferenceServiceStub(channel)


def text_request(texts: list[str], model: str = MODEL, raw: bool = False) -> kserve_pb2.ModelInferRequest:
    request = kserve_pb2.ModelInferRequest(model_name=model)
    tensor = request.inputs.add(name="TEXT", datatype="BYTES", shape=[len(texts)])
    encoded = [t.encode() for t in texts]
    if raw:
        request.raw_input_contents.append(b"".join(struct.pack("<I", len(e)) + e for e in encoded))
    else:
        tensor.contents.bytes_contents.extend(encoded)
    return request


def test_tritonclient_speaks_to_the_server(server_address: str, text_model: TextModel) -> None:
    seen = run_triton_client(server_address, MODEL)
    assert seen["live"] and seen["ready"] and seen["model_ready"]
    meta = seen["metadata"]
    assert meta["platform"] == "openvino_ir" and meta["inputs"][0]["name"] == "TEXT"
    assert {o["name"] for o in meta["outputs"]} >= {"PROBS", "LABEL"}
    probs = np.array(seen["probs"])
    assert probs.shape == (2, len(text_model.labels))
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    assert seen["labels"] == [text_model.labels[i] for i in probs.argmax(axis=1)]
    assert seen["device"] == "CPU" and seen["replica"] == "test-replica" and seen["queue_ms"] >= 0


def test_contents_and_raw_inputs_agree(
    stub: kserve_grpc.GRPCInferenceServiceStub, text_model: TextModel
) -> None:
    texts = ["transfer money to savings", "is it going to rain"]
    typed = stub.ModelInfer(text_request(texts))
    raw = stub.ModelInfer(text_request(texts, raw=True))
    assert not typed.raw_output_contents and len(raw.raw_output_contents) == len(raw.outputs)
    typed_probs = np.array(typed.outputs[0].contents.fp32_contents, dtype=np.float32).reshape(2, -1)
    raw_probs = np.frombuffer(raw.raw_output_contents[0], dtype="<f4").reshape(2, -1)
    assert np.allclose(typed_probs, raw_probs)
    assert np.allclose(typed_probs, text_model.classify(texts), atol=1e-5)
    assert typed.parameters["node"].string_param == "test-node"


def test_embed_task_returns_unit_vectors(stub: kserve_grpc.GRPCInferenceServiceStub) -> None:
    request = text_request(["hello"])
    request.parameters["task"].string_param = "embed"
    out = stub.ModelInfer(request).outputs
    assert [o.name for o in out] == ["EMBEDDING"]
    vector = np.array(out[0].contents.fp32_contents)
    assert abs(np.linalg.norm(vector) - 1.0) < 1e-4


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r.ClearField("inputs"), "no inputs"),
        (lambda r: setattr(r.inputs[0], "datatype", "FP32"), "datatype BYTES"),
        (lambda r: r.inputs[0].shape.__setitem__(0, 3), "shape says 3"),
        (lambda r: r.inputs[0].contents.bytes_contents.__setitem__(0, b"\xff\xfe"), "UTF-8"),
        (lambda r: r.outputs.add(name="NOPE"), "unknown output"),
    ],
)
def test_bad_requests_are_invalid_argument(
    stub: kserve_grpc.GRPCInferenceServiceStub, mutate: Any, message: str
) -> None:
    request = text_request(["hello"])
    mutate(request)
    with pytest.raises(grpc.RpcError) as info:
        stub.ModelInfer(request)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in (info.value.details() or "")


def test_truncated_raw_input_is_invalid(stub: kserve_grpc.GRPCInferenceServiceStub) -> None:
    request = text_request(["hello"], raw=True)
    request.raw_input_contents[0] = struct.pack("<I", 50) + b"short"
    with pytest.raises(grpc.RpcError) as info:
        stub.ModelInfer(request)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_unknown_model_is_not_found(stub: kserve_grpc.GRPCInferenceServiceStub) -> None:
    with pytest.raises(grpc.RpcError) as info:
        stub.ModelInfer(text_request(["hello"], model="nope"))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_health_and_reflection(server_address: str) -> None:
    with grpc.insecure_channel(server_address) as channel:
        status = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="inference.GRPCInferenceService"), timeout=5
        )
        assert status.status == health_pb2.HealthCheckResponse.SERVING
        responses = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5
        )
        names = {s.name for r in responses for s in r.list_services_response.service}
        assert "inference.GRPCInferenceService" in names


def test_server_without_model_is_unavailable() -> None:
    server, port = serve_kserve(None, "127.0.0.1", 0, load_error="model.bin is truncated")
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = kserve_grpc.GRPCInferenceServiceStub(channel)
            assert stub.ServerLive(kserve_pb2.ServerLiveRequest()).live
            assert not stub.ServerReady(kserve_pb2.ServerReadyRequest()).ready
            with pytest.raises(grpc.RpcError) as info:
                stub.ModelInfer(text_request(["hello"]))
            assert info.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "truncated" in (info.value.details() or "")
    finally:
        server.stop(0)


@pytest.mark.parametrize("server", ["aio", "threaded"])
def test_batch_and_message_size_are_bounded(server: str) -> None:
    """fleet.kserve.max_batch: more texts in one call are INVALID_ARGUMENT; max_message_bytes: a
    bigger message is RESOURCE_EXHAUSTED before it reaches the model (the text replicas' grpc.aio
    batching server and the threaded one of the LLM and retriever replicas alike)."""
    from edgefleet.replica_guard import ReplicaGuard
    from fleet.serving.kserve_aio import AioKServeEndpoint, AioKServeServicer
    from fleet.serving.kserve_server import KServeServicer, start_kserve
    from tests.fuzz.live import FakeTextModel

    guard = ReplicaGuard(max_batch=4, max_message_bytes=64 * 1024)
    model = FakeTextModel()
    endpoint: Any = (
        AioKServeEndpoint(AioKServeServicer(model, max_batch=4), guard=guard)  # type: ignore[arg-type]
        if server == "aio"
        else start_kserve(KServeServicer(model, max_batch=4), guard=guard)  # type: ignore[arg-type]
    )
    try:
        with grpc.insecure_channel(f"127.0.0.1:{endpoint.port}") as channel:
            stub = kserve_grpc.GRPCInferenceServiceStub(channel)
            assert stub.ModelInfer(text_request(["a"] * 4, model="fuzz-clf"), timeout=10).outputs
            with pytest.raises(grpc.RpcError) as info:
                stub.ModelInfer(text_request(["a"] * 5, model="fuzz-clf"), timeout=10)
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "batch of 5 texts exceeds this replica's max_batch 4" in (info.value.details() or "")
            with pytest.raises(grpc.RpcError) as info:
                stub.ModelInfer(text_request(["x" * 100_000], model="fuzz-clf"), timeout=10)
            assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert stub.ModelInfer(text_request(["still serving"], model="fuzz-clf"), timeout=10).outputs
    finally:
        endpoint.stop(0)
