"""KServe v2 for an edge LLM over the real SmolLM2-135M (one model per session, no Ray):
ModelInfer, ModelStreamInfer (also from tritonclient in a subprocess), cancellation, bad input.

Answers are kept short (max_tokens <= 24) and every wait is bounded.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from edgefleet.generation import ChatMessage, SamplingParams
from edgefleet.kserve_llm import EMPTY_FINAL_PARAM, FINAL_PARAM, generate_request, read_chunk
from fleet.models.llm_manifest import REQUIRED_LLM_FILES
from fleet.models.manifest import ModelBundle, load_bundle
from fleet.models.registry import save_bundle
from fleet.serving.kserve_server import KServeEndpoint, start_kserve
from fleet.serving.llm_servicer import LLMServicer
from fleet.serving.replica import Replica
from protos.inference import grpc_service_pb2 as kserve_pb2
from protos.inference import grpc_service_pb2_grpc as kserve_grpc
from tests.fixtures.llm import LLM_NAME
from tests.unit.llm_fakes import llm_manifest

pytestmark = pytest.mark.integration
ASK = [ChatMessage("user", "What is the capital of France?")]
STORY = [ChatMessage("user", "Write a very long story about a dragon who learns to cook.")]

TRITON_SCRIPT = r"""
import json, queue, sys
import numpy as np
import tritonclient.grpc as tg
address, model = sys.argv[1], sys.argv[2]
client = tg.InferenceServerClient(address)
results = queue.Queue()
client.start_stream(callback=lambda result, error: results.put((result, error)))
text = tg.InferInput("text_input", [1], "BYTES")
text.set_data_from_numpy(np.array(["Name a colour."], dtype=object))
client.async_stream_infer(model, [text], request_id="r1", parameters={"max_tokens": 12},
                          enable_empty_final_response=True)
pieces, finals, errors = [], 0, []
while True:
    result, error = results.get(timeout=60)
    if error is not None:
        errors.append(str(error)); break
    response = result.get_response()
    final = response.parameters["triton_final_response"].bool_param
    if not final:
        pieces.append(result.as_numpy("text_output")[0].decode())
    else:
        finals += 1
        reason = response.parameters["finish_reason"].string_param
        tokens = response.parameters["completion_tokens"].int64_param
        break
client.stop_stream()
meta = client.get_model_metadata(model, as_json=True)
print(json.dumps({"pieces": pieces, "finals": finals, "errors": errors, "reason": reason,
                  "tokens": tokens, "ready": client.is_model_ready(model), "platform": meta["platform"]}))
"""


@pytest.fixture(scope="module")
def endpoint(llm_model: Any) -> Iterator[KServeEndpoint]:
    servicer = LLMServicer(llm_model, node="test-node", replica="llm-replica", max_queue=8)
    ep = start_kserve(servicer, "127.0.0.1", 0)
    try:
        yield ep
    finally:
        ep.stop(1.0)


@pytest.fixture(scope="module")
def stub(endpoint: KServeEndpoint) -> Iterator[kserve_grpc.GRPCInferenceServiceStub]:
    with grpc.insecure_channel(f"127.0.0.1:{endpoint.port}") as channel:
        yield kserve_grpc.GRPCInferenceServiceStub(channel)


def request(messages: list[ChatMessage] = ASK, **params: Any) -> kserve_pb2.ModelInferRequest:
    return generate_request(LLM_NAME, "", messages, SamplingParams(**{"max_tokens": 16, **params}))


def wait_until(check: Any, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_model_infer_answers_whole(stub: kserve_grpc.GRPCInferenceServiceStub) -> None:
    response = stub.ModelInfer(request(), timeout=60)
    chunk = read_chunk(response)
    assert chunk.final and chunk.finish_reason in ("stop", "length") and "Paris" in chunk.text
    assert chunk.prompt_tokens > 20 and chunk.completion_tokens == len(chunk.logprobs) > 0
    assert all(lp <= 0.0 for lp in chunk.logprobs)
    assert response.parameters["replica"].string_param == "llm-replica"
    assert response.parameters["device"].string_param == "CPU"


def test_model_stream_infer_streams_chunks(stub: kserve_grpc.GRPCInferenceServiceStub) -> None:
    responses = list(stub.ModelStreamInfer(iter([request(max_tokens=12)]), timeout=60))
    assert all(not r.error_message for r in responses)
    chunks = [read_chunk(r.infer_response) for r in responses]
    assert len(chunks) >= 3 and chunks[-1].final and not any(c.final for c in chunks[:-1])
    assert sum(len(c.logprobs) for c in chunks) == chunks[-1].completion_tokens <= 12
    assert "".join(c.text for c in chunks).strip()


def test_empty_final_response_when_asked(stub: kserve_grpc.GRPCInferenceServiceStub) -> None:
    req = request(max_tokens=6)
    req.parameters[EMPTY_FINAL_PARAM].bool_param = True
    responses = [r.infer_response for r in stub.ModelStreamInfer(iter([req]), timeout=60)]
    last = responses[-1]
    assert not last.outputs and last.parameters[FINAL_PARAM].bool_param
    assert last.parameters["finish_reason"].string_param == "length"
    assert all(FINAL_PARAM not in r.parameters for r in responses[:-1])


def test_tritonclient_streams_from_the_replica(endpoint: KServeEndpoint) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", TRITON_SCRIPT, f"127.0.0.1:{endpoint.port}", LLM_NAME],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not seen["errors"] and seen["finals"] == 1 and len(seen["pieces"]) >= 2
    assert seen["tokens"] <= 12 and seen["reason"] in ("stop", "length")
    assert seen["ready"] and seen["platform"] == "openvino_genai"


def capture_requests(llm_model: Any, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    engine = llm_model.engine
    seen: list[Any] = []
    submit = engine.submit

    def spy(*args: Any) -> Any:
        generation = submit(*args)
        seen.append(generation)
        return generation

    monkeypatch.setattr(engine, "submit", spy)
    return seen


def test_cancelled_stream_stops_generation(
    stub: kserve_grpc.GRPCInferenceServiceStub, llm_model: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = capture_requests(llm_model, monkeypatch)
    call = stub.ModelStreamInfer(iter([request(STORY, max_tokens=400)]), timeout=60)
    for _ in range(3):
        next(call)
    call.cancel()
    [generation] = seen
    wait_until(lambda: generation.done)
    assert generation.finish_reason == "cancelled" and generation.completion_tokens < 400
    engine = llm_model.engine
    wait_until(lambda: engine.outstanding == 0 and not engine.pipeline.has_unfinished())
    assert engine.running() == 0


def test_unary_deadline_cancels_generation(
    stub: kserve_grpc.GRPCInferenceServiceStub, llm_model: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = capture_requests(llm_model, monkeypatch)
    with pytest.raises(grpc.RpcError) as info:
        stub.ModelInfer(request(STORY, max_tokens=400), timeout=0.5)
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    wait_until(lambda: bool(seen) and seen[0].done)
    assert seen[0].finish_reason == "cancelled"
    wait_until(lambda: llm_model.engine.outstanding == 0)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: request([ChatMessage("user", "")]), "user messages are empty"),
        (lambda: request(max_tokens=0), "max_tokens must be between 1 and 1024"),
        (lambda: request(max_tokens=100_000), "max_tokens must be between 1 and 1024"),
        (lambda: request([ChatMessage("user", "word " * 9000)]), "context is 8192 tokens"),
        (lambda: bad_json(), "not UTF-8 JSON"),
    ],
)
def test_bad_input_is_invalid_argument(
    stub: kserve_grpc.GRPCInferenceServiceStub, build: Any, message: str
) -> None:
    with pytest.raises(grpc.RpcError) as info:
        stub.ModelInfer(build(), timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in (info.value.details() or "")


def bad_json() -> kserve_pb2.ModelInferRequest:
    req = kserve_pb2.ModelInferRequest(model_name=LLM_NAME)
    req.inputs.add(name="messages", datatype="BYTES", shape=[1]).contents.bytes_contents.append(b"[{oops")
    return req


def test_stream_errors_are_per_request(stub: kserve_grpc.GRPCInferenceServiceStub) -> None:
    wrong_model = request(max_tokens=4)
    wrong_model.model_name = "nope"
    good = request(max_tokens=4)
    good.id = "good"
    responses = list(stub.ModelStreamInfer(iter([bad_json(), wrong_model, good]), timeout=60))
    errors = [r.error_message for r in responses if r.error_message]
    assert len(errors) == 2
    assert any(e.startswith("INVALID_ARGUMENT:") for e in errors) and any(
        e.startswith("NOT_FOUND:") for e in errors
    )
    finals = [
        r.infer_response for r in responses if not r.error_message and read_chunk(r.infer_response).final
    ]
    assert [f.id for f in finals] == ["good"]


def test_status_health_and_reflection(
    stub: kserve_grpc.GRPCInferenceServiceStub, endpoint: KServeEndpoint
) -> None:
    meta = stub.ModelMetadata(kserve_pb2.ModelMetadataRequest(name=LLM_NAME), timeout=5)
    assert {t.name for t in meta.inputs} == {"text_input", "messages"}
    assert {t.name for t in meta.outputs} == {"text_output", "token_logprobs"}
    assert stub.ModelReady(kserve_pb2.ModelReadyRequest(name=LLM_NAME), timeout=5).ready
    with grpc.insecure_channel(f"127.0.0.1:{endpoint.port}") as channel:
        health = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="inference.GRPCInferenceService"), timeout=5
        )
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        answers = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5
        )
        assert "inference.GRPCInferenceService" in {
            s.name for a in answers for s in a.list_services_response.service
        }
    snap = endpoint.servicer.stats.snapshot()
    assert snap.completion_tokens > 0 and snap.ttft_p50_ms > 0


def test_concurrent_streams_share_the_engine(stub: kserve_grpc.GRPCInferenceServiceStub) -> None:
    texts: list[str] = []

    def one(question: str) -> None:
        responses = stub.ModelStreamInfer(
            iter([request([ChatMessage("user", question)], max_tokens=8)]), timeout=60
        )
        texts.append("".join(read_chunk(r.infer_response).text for r in responses))

    threads = [
        threading.Thread(target=one, args=(q,)) for q in ("Say hi.", "Name a fruit.", "Count to three.")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(texts) == 3 and all(t.strip() for t in texts)


def test_replica_with_a_corrupt_llm_reports_not_ready(tmp_path: Path) -> None:
    files = dict.fromkeys(REQUIRED_LLM_FILES, b"x")
    save_bundle(tmp_path, ModelBundle(llm_manifest(files), files))
    bundle = load_bundle(tmp_path / "tiny-llm" / "1")
    (Path(bundle.folder) / "openvino_model.bin").write_bytes(b"")
    replica = Replica("r1", "chat", bundle, ["CPU"], "node-a")
    try:
        health = replica.start()
        assert not health["ready"] and "'openvino_model.bin' is empty" in health["error"]
        with grpc.insecure_channel(health["address"]) as channel:
            with pytest.raises(grpc.RpcError) as info:
                next(
                    kserve_grpc.GRPCInferenceServiceStub(channel).ModelStreamInfer(
                        iter([request()]), timeout=10
                    )
                )
            assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        replica.stop(0.5)
