"""Fuzzing a replica's KServe v2 data plane over gRPC: ModelInfer on a text replica and
ModelStreamInfer on an LLM replica (the real servicers and servers, fake models), with generated
requests and broken wire bytes, with and without the fleet token."""

from __future__ import annotations

import time
from collections.abc import Iterator

import grpc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgefleet.constants import FLEET_TOKEN_METADATA
from protos.inference import grpc_service_pb2 as kserve_pb2
from tests.fuzz import strategies as fz
from tests.fuzz.live import FLEET_TOKEN, LiveServers
from tests.fuzz.tally import CLIENT_TIMEOUT_S, FUZZ_SETTINGS, TALLY

pytestmark = pytest.mark.integration
IDENTITY = {"request_serializer": lambda b: b, "response_deserializer": lambda b: b}
TOKENS = st.sampled_from([FLEET_TOKEN] * 8 + ["wrong", None])


def _metadata(token: str | None) -> tuple[tuple[str, str], ...]:
    return () if token is None else ((FLEET_TOKEN_METADATA, token),)


@pytest.fixture(scope="module")
def text_channel(live: LiveServers) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(live.text_address, options=[("grpc.max_send_message_length", 8 << 20)]) as ch:
        yield ch


@pytest.fixture(scope="module")
def llm_channel(live: LiveServers) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(live.llm_address, options=[("grpc.max_send_message_length", 8 << 20)]) as ch:
        yield ch


@FUZZ_SETTINGS
@given(payload=fz.mutated(fz.model_infer_requests(("fuzz-clf",))), token=TOKENS)
def test_model_infer(text_channel: grpc.Channel, payload: bytes, token: str | None) -> None:
    call = text_channel.unary_unary("/inference.GRPCInferenceService/ModelInfer", **IDENTITY)
    start = time.monotonic()
    try:
        call(payload, timeout=CLIENT_TIMEOUT_S, metadata=_metadata(token))
        code, details = grpc.StatusCode.OK, ""
    except grpc.RpcError as exc:
        code, details = exc.code(), exc.details() or ""
    assert TALLY.grpc("KServe/ModelInfer", code, time.monotonic() - start, details) == "ok"


@FUZZ_SETTINGS
@given(payloads=st.lists(fz.mutated(fz.model_infer_requests(("tiny-llm",))), max_size=6), token=TOKENS)
def test_model_stream_infer(llm_channel: grpc.Channel, payloads: list[bytes], token: str | None) -> None:
    call = llm_channel.stream_stream("/inference.GRPCInferenceService/ModelStreamInfer", **IDENTITY)
    start = time.monotonic()
    try:
        for _ in call(iter(payloads), timeout=CLIENT_TIMEOUT_S, metadata=_metadata(token)):
            pass
        code, details = grpc.StatusCode.OK, ""
    except grpc.RpcError as exc:
        code, details = exc.code(), exc.details() or ""
    assert TALLY.grpc("KServe/ModelStreamInfer", code, time.monotonic() - start, details) == "ok"


def test_replicas_still_answer(text_channel: grpc.Channel, live: LiveServers) -> None:
    """After the fuzzing: a plain request is answered, and without the token it is refused."""
    request = kserve_pb2.ModelInferRequest(model_name="fuzz-clf")
    tensor = request.inputs.add(name="TEXT", datatype="BYTES", shape=[1])
    tensor.contents.bytes_contents.append(b"hello")
    call = text_channel.unary_unary(
        "/inference.GRPCInferenceService/ModelInfer",
        request_serializer=kserve_pb2.ModelInferRequest.SerializeToString,
        response_deserializer=kserve_pb2.ModelInferResponse.FromString,
    )
    assert call(request, timeout=10, metadata=_metadata(FLEET_TOKEN)).outputs
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=10)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert live.text_replica.servicer.stats.snapshot().inflight == 0  # type: ignore[attr-defined]
