"""The retrieval wire convention: request, top_k checks, outputs raw and typed, reading them back."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgefleet import kserve_retrieval as kr
from edgefleet.kserve_codec import BadRequest, decode_texts
from protos.inference import grpc_service_pb2 as kserve_pb2


def test_request_carries_texts_and_top_k() -> None:
    request = kr.retrieve_request("squad-dev", "1", ["who?", "what?"], 7)
    assert request.model_name == "squad-dev" and request.model_version == "1"
    assert decode_texts(request) == (["who?", "what?"], False)
    assert kr.read_top_k(request) == 7


def test_top_k_default_and_checks() -> None:
    request = kr.retrieve_request("m", "", ["q"], 5)
    del request.parameters[kr.TOP_K_PARAM]
    assert kr.read_top_k(request) == kr.DEFAULT_TOP_K
    for bad in (0, kr.MAX_TOP_K + 1):
        request.parameters[kr.TOP_K_PARAM].int64_param = bad
        with pytest.raises(BadRequest, match=r"must be 1\.\."):
            kr.read_top_k(request)
    request.parameters[kr.TOP_K_PARAM].string_param = "5"
    with pytest.raises(BadRequest, match="must be an integer"):
        kr.read_top_k(request)


def _response(raw: bool) -> kserve_pb2.ModelInferResponse:
    response = kserve_pb2.ModelInferResponse(model_name="squad-dev", model_version="1")
    passages = [
        [kr.passage_json("d1", 0, "T", "text ü"), kr.passage_json("d2", 3, "", "two")],
        [kr.passage_json("d3", 1, "U", "three"), kr.passage_json("d1", 0, "T", "text ü")],
    ]
    kr.add_tensor(response, kr.PASSAGES, passages, raw)
    kr.add_tensor(response, kr.SCORES, np.array([[1.2, 0.5], [0.9, 0.1]]), raw)
    kr.add_tensor(response, kr.DENSE_SCORES, np.array([[0.7, 0.5], [0.6, 0.1]]), raw)
    kr.add_tensor(response, kr.LEXICAL_SCORES, np.array([[1.0, 0.0], [0.7, 0.0]]), raw)
    kr.add_tensor(response, kr.EMBEDDING, np.eye(2, 4), raw)
    response.parameters["collection"].string_param = "squad-dev"
    response.parameters["collection_version"].string_param = "1"
    return response


@pytest.mark.parametrize("raw", [False, True])
def test_outputs_round_trip(raw: bool) -> None:
    response = _response(raw)
    assert [(o.name, o.datatype, list(o.shape)) for o in response.outputs] == [
        ("PASSAGES", "BYTES", [2, 2]),
        ("SCORES", "FP32", [2, 2]),
        ("DENSE_SCORES", "FP32", [2, 2]),
        ("LEXICAL_SCORES", "FP32", [2, 2]),
        ("EMBEDDING", "FP32", [2, 4]),
    ]
    first, second = kr.read_retrieval_response(response, 2)
    assert first.collection == "squad-dev" and first.version == "1"
    assert first.passages[0] == kr.Passage(
        "d1", 0, "T", "text ü", pytest.approx(1.2), pytest.approx(0.7), 1.0
    )  # type: ignore[arg-type]
    assert [p.doc for p in second.passages] == ["d3", "d1"] and second.embedding == (0.0, 1.0, 0.0, 0.0)


def test_passage_json_is_an_object() -> None:
    assert json.loads(kr.passage_json("d", 2, "t", "x")) == {
        "doc": "d",
        "chunk": 2,
        "title": "t",
        "text": "x",
    }


def test_malformed_responses_are_value_errors() -> None:
    response = _response(False)
    with pytest.raises(ValueError, match=r"expected \[3, k\]"):
        kr.read_retrieval_response(response, 3)
    del response.outputs[0]
    with pytest.raises(ValueError, match="needs PASSAGES and SCORES"):
        kr.read_retrieval_response(response, 2)
    bad = kserve_pb2.ModelInferResponse()
    kr.add_tensor(bad, kr.PASSAGES, [["not json"]], False)
    kr.add_tensor(bad, kr.SCORES, np.ones((1, 1)), False)
    with pytest.raises(ValueError):
        kr.read_retrieval_response(bad, 1)


def test_only_scores_and_passages_are_required() -> None:
    response = kserve_pb2.ModelInferResponse()
    kr.add_tensor(response, kr.PASSAGES, [[kr.passage_json("d", 0, "", "x")]], False)
    kr.add_tensor(response, kr.SCORES, np.ones((1, 1)), False)
    (only,) = kr.read_retrieval_response(response, 1)
    assert only.embedding == () and np.isnan(only.passages[0].dense)
