"""KServe v2 request building and response parsing, and generation over ModelStreamInfer against
a FAKE stream call (no sockets)."""

from __future__ import annotations

import struct

import grpc
import numpy as np
import pytest

from edgefleet.generation import ChatMessage, GenerationChunk, SamplingParams
from edgefleet.kserve_llm import chunk_response
from protos.inference import grpc_service_pb2 as kserve_pb2
from router.edge_client import EdgeClient, build_request, parse_response
from router.errors import TargetBusy, TargetError


def _aio_error(code: grpc.StatusCode, details: str) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details)


def test_build_request_sends_text_as_bytes() -> None:
    req = build_request("clinc-banking", "3", ["héllo", "b"], "classify")
    assert req.model_name == "clinc-banking" and req.model_version == "3"
    assert req.parameters["task"].string_param == "classify"
    (tensor,) = req.inputs
    assert (tensor.name, tensor.datatype, list(tensor.shape)) == ("TEXT", "BYTES", [2])
    assert list(tensor.contents.bytes_contents) == ["héllo".encode(), b"b"]


def _response(raw: bool) -> kserve_pb2.ModelInferResponse:
    probs = np.array([[0.1, 0.9], [0.7, 0.3]], dtype=np.float32)
    resp = kserve_pb2.ModelInferResponse(model_name="m")
    resp.parameters["device"].string_param = "CPU"
    resp.parameters["node"].string_param = "node-1"
    resp.parameters["replica"].string_param = "m-0"
    resp.parameters["queue_ms"].double_param = 1.5
    p = resp.outputs.add(name="PROBS", datatype="FP32", shape=[2, 2])
    lab = resp.outputs.add(name="LABEL", datatype="BYTES", shape=[2])
    if raw:
        resp.raw_output_contents.append(probs.tobytes())
        resp.raw_output_contents.append(b"".join(struct.pack("<I", len(s)) + s for s in (b"b", b"a")))
    else:
        p.contents.fp32_contents.extend(probs.ravel().tolist())
        lab.contents.bytes_contents.extend([b"b", b"a"])
    return resp


@pytest.mark.parametrize("raw", [False, True])
def test_parse_probs_and_labels(raw: bool) -> None:
    outs = parse_response(_response(raw), 2)
    assert [o.label for o in outs] == ["b", "a"]
    assert outs[0].probs == pytest.approx((0.1, 0.9))
    assert (outs[1].device, outs[1].node, outs[1].replica, outs[1].queue_ms) == ("CPU", "node-1", "m-0", 1.5)


def test_parse_embedding_and_errors() -> None:
    resp = kserve_pb2.ModelInferResponse()
    e = resp.outputs.add(name="EMBEDDING", datatype="FP32", shape=[1, 3])
    e.contents.fp32_contents.extend([0.0, 0.6, 0.8])
    (out,) = parse_response(resp, 1)
    assert out.embedding == pytest.approx((0.0, 0.6, 0.8)) and out.probs is None and out.label is None
    with pytest.raises(ValueError, match="expected \\[2, \\*\\]"):
        parse_response(resp, 2)
    with pytest.raises(ValueError, match="neither PROBS nor EMBEDDING"):
        parse_response(kserve_pb2.ModelInferResponse(), 1)


# -- generation over ModelStreamInfer (a FAKE stream call, no sockets) ---------------------------


class FakeStreamCall:
    """Stands in for a grpc.aio stream-stream call: records writes, replays `responses`
    (an AioRpcError in the list is raised by read())."""

    def __init__(self, responses: list[object]) -> None:
        self.responses = list(responses)
        self.written: list[kserve_pb2.ModelInferRequest] = []
        self.done_writing_called = False
        self.cancelled = False

    async def write(self, request: kserve_pb2.ModelInferRequest) -> None:
        self.written.append(request)

    async def read(self) -> object:
        if not self.responses:
            return grpc.aio.EOF
        item = self.responses.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    async def done_writing(self) -> None:
        self.done_writing_called = True

    def cancel(self) -> bool:
        self.cancelled = True
        return True


class FakeStub:
    def __init__(self, call: FakeStreamCall) -> None:
        self.call = call
        self.timeout: float | None = None

    def ModelStreamInfer(self, timeout: float) -> FakeStreamCall:
        self.timeout = timeout
        return self.call


def _client(responses: list[object]) -> tuple[EdgeClient, FakeStreamCall, FakeStub]:
    client = EdgeClient()
    call = FakeStreamCall(responses)
    stub = FakeStub(call)
    client._stubs["llm:1"] = stub  # type: ignore[assignment]
    return client, call, stub


def _stream_response(chunk: GenerationChunk) -> kserve_pb2.ModelStreamInferResponse:
    return kserve_pb2.ModelStreamInferResponse(infer_response=chunk_response("smollm", "1", "r", chunk))


async def _generate(client: EdgeClient) -> list[GenerationChunk]:
    msgs = [ChatMessage("user", "hi")]
    return [c async for c in client.generate("llm:1", "smollm", "1", msgs, SamplingParams(max_tokens=8), 2.0)]


async def test_generate_sends_one_request_and_reads_until_final() -> None:
    final = GenerationChunk("", (), True, "stop", prompt_tokens=5, completion_tokens=2)
    client, call, stub = _client(
        [
            _stream_response(GenerationChunk("Hel", (-0.1,))),
            _stream_response(GenerationChunk("lo", (-0.2,))),
            _stream_response(final),
        ]
    )
    got = await _generate(client)
    assert [c.text for c in got] == ["Hel", "lo", ""] and got[-1].final
    assert got[0].logprobs == pytest.approx((-0.1,)) and got[-1].completion_tokens == 2
    (request,) = call.written
    assert request.model_name == "smollm" and request.inputs[0].name == "messages"
    assert request.parameters["max_tokens"].int64_param == 8
    assert call.done_writing_called and not call.cancelled and stub.timeout == 2.0


@pytest.mark.parametrize(
    ("responses", "error", "message"),
    [
        (
            [kserve_pb2.ModelStreamInferResponse(error_message="model not loaded")],
            TargetError,
            "model not loaded",
        ),
        ([_stream_response(GenerationChunk("a"))], TargetError, "ended the stream before the final"),
        ([_aio_error(grpc.StatusCode.RESOURCE_EXHAUSTED, "queue full (8)")], TargetBusy, "busy: queue full"),
        ([_aio_error(grpc.StatusCode.UNAVAILABLE, "connect failed")], TargetError, "UNAVAILABLE"),
    ],
)
async def test_generate_failures_become_target_errors(
    responses: list[object], error: type[Exception], message: str
) -> None:
    client, call, _ = _client(responses)
    with pytest.raises(error, match=message):
        await _generate(client)
    assert call.cancelled  # the replica stops generating


async def test_generate_deadline_is_a_timeout_and_closing_early_cancels_the_call() -> None:
    client, call, _ = _client([_aio_error(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline")])
    with pytest.raises(TargetError) as info:
        await _generate(client)
    assert info.value.timeout and not isinstance(info.value, TargetBusy)
    client, call, _ = _client(
        [_stream_response(GenerationChunk("a")), _stream_response(GenerationChunk("b"))]
    )
    stream = client.generate("llm:1", "smollm", "1", [ChatMessage("user", "hi")], SamplingParams(), 2.0)
    assert (await anext(stream)).text == "a"
    await stream.aclose()
    assert call.cancelled and not call.done_writing_called
