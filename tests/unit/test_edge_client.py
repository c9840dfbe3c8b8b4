"""KServe v2 request building and response parsing (no sockets)."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from protos.inference import grpc_service_pb2 as kserve_pb2
from router.edge_client import build_request, parse_response


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
