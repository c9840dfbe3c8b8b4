"""edgefleet.kserve_llm: the generation wire convention round-trips, and bad requests are refused
with a message that names the problem."""

from __future__ import annotations

import json

import pytest

from edgefleet.generation import (
    ChatMessage,
    GenerationChunk,
    GenerationInputError,
    GenerationSummary,
    SamplingParams,
    check_messages,
    check_sampling,
    raw_prompt,
)
from edgefleet.kserve_codec import BadRequest
from edgefleet.kserve_llm import (
    chunk_response,
    empty_final_response,
    generate_request,
    read_chunk,
    read_generate_request,
    wants_empty_final,
)
from protos.inference import grpc_service_pb2 as pb


def test_request_round_trip() -> None:
    msgs = [ChatMessage("system", "be brief"), ChatMessage("user", "capital of France?")]
    params = SamplingParams(max_tokens=16, temperature=0.7, top_p=0.9, stop=("\n", "."), seed=3)
    got_msgs, got_params = read_generate_request(generate_request("llm", "1", msgs, params, "r1"))
    assert got_msgs == msgs and got_params == params


def test_tritonclient_style_request() -> None:
    req = pb.ModelInferRequest(model_name="llm")
    t = req.inputs.add(name="text_input", datatype="BYTES", shape=[1])
    t.contents.bytes_contents.append(b"hello")
    req.parameters["max_tokens"].int64_param = 8
    req.parameters["temperature"].int64_param = 0  # an int where a double is expected: accepted
    req.parameters["stop"].string_param = "END"  # a bare stop string
    req.parameters["triton_enable_empty_final_response"].bool_param = True
    msgs, params = read_generate_request(req)
    assert msgs == [ChatMessage("user", "hello")] and params.max_tokens == 8 and params.stop == ("END",)
    assert params.temperature == 0.0 and wants_empty_final(req)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r.ClearField("inputs"), "no prompt"),
        (lambda r: r.inputs.add(name="image", datatype="BYTES", shape=[1]), "unknown input"),
        (lambda r: setattr(r.inputs[0], "datatype", "FP32"), "datatype BYTES"),
        (lambda r: r.inputs[0].shape.append(2), r"shape \[1\]"),
        (lambda r: r.parameters["max_tokens"].CopyFrom(pb.InferParameter(double_param=1.5)), "integer"),
        (lambda r: r.parameters["logprobs"].CopyFrom(pb.InferParameter(string_param="yes")), "bool"),
        (lambda r: r.parameters["stop"].CopyFrom(pb.InferParameter(string_param='{"a": 1}')), "JSON list"),
        (lambda r: r.inputs[0].contents.bytes_contents.__setitem__(0, b"[{]"), "JSON"),
        (lambda r: r.inputs[0].contents.bytes_contents.__setitem__(0, b'[{"role": 1}]'), "string 'role'"),
    ],
)
def test_bad_requests_name_the_problem(mutate: object, message: str) -> None:
    req = generate_request("llm", "", [ChatMessage("user", "hi")], SamplingParams())
    mutate(req)  # type: ignore[operator]
    with pytest.raises(BadRequest, match=message):
        read_generate_request(req)


@pytest.mark.parametrize("raw", [False, True])
def test_chunks_round_trip(raw: bool) -> None:
    mid = GenerationChunk("Par", (-0.5, -0.25))
    last = GenerationChunk(
        "is.", (-0.125,), final=True, finish_reason="stop", prompt_tokens=12, completion_tokens=3
    )
    assert read_chunk(chunk_response("llm", "1", "r", mid, raw=raw)) == mid
    assert read_chunk(chunk_response("llm", "1", "r", last, raw=raw)) == last
    empty = read_chunk(empty_final_response("llm", "1", "r", last))
    assert empty.final and empty.text == "" and empty.completion_tokens == 3


def test_summary_and_confidence() -> None:
    s = GenerationSummary()
    s.add(GenerationChunk("a", (-0.5,)))
    s.add(GenerationChunk("b", (-1.5,), final=True, finish_reason="length", prompt_tokens=4))
    assert s.text == "ab" and s.finish_reason == "length" and s.completion_tokens == 2
    assert s.mean_logprob() == -1.0 and 0.36 < s.confidence() < 0.37
    assert GenerationSummary().confidence() == 0.0


def test_validation() -> None:
    with pytest.raises(GenerationInputError, match="empty"):
        check_messages([], 100)
    with pytest.raises(GenerationInputError, match="unknown"):
        check_messages([ChatMessage("robot", "x")], 100)  # type: ignore[arg-type]
    with pytest.raises(GenerationInputError, match="last message"):
        check_messages([ChatMessage("user", "x"), ChatMessage("assistant", "y")], 100)
    with pytest.raises(GenerationInputError, match="limit"):
        check_messages([ChatMessage("user", "x" * 101)], 100)
    for bad in (
        SamplingParams(max_tokens=0),
        SamplingParams(max_tokens=10**9),
        SamplingParams(temperature=float("nan")),
        SamplingParams(top_p=0.0),
        SamplingParams(stop=("",)),
        SamplingParams(stop=tuple("abcde")),
        SamplingParams(seed=-1),
    ):
        with pytest.raises(GenerationInputError):
            check_sampling(bad)
    assert check_sampling(SamplingParams()) == SamplingParams()
    assert json.loads(json.dumps(["ok"])) == ["ok"]


def test_max_tokens_zero_is_kept_for_validation_to_refuse() -> None:
    req = generate_request("m", "", [ChatMessage("user", "hi")], SamplingParams(max_tokens=0))
    _, params = read_generate_request(req)
    assert params.max_tokens == 0
    del req.parameters["max_tokens"]
    assert read_generate_request(req)[1].max_tokens == 256
    req.parameters["max_new_tokens"].int64_param = 5
    assert read_generate_request(req)[1].max_tokens == 5


def test_grammar_and_raw_prompt_round_trip_and_are_checked() -> None:
    grammar = 'root ::= (" Rollo" | " the Normans") "\\n"'
    params = SamplingParams(max_tokens=8, grammar=grammar, chat_template=False, stop=("\n",))
    req = generate_request("llm", "", [ChatMessage("user", "Passage: x\nAnswer:")], params)
    assert req.parameters["apply_chat_template"].bool_param is False
    assert read_generate_request(req)[1] == params
    plain = generate_request("llm", "", [ChatMessage("user", "hi")], SamplingParams())
    assert "grammar" not in plain.parameters and "apply_chat_template" not in plain.parameters
    assert check_sampling(params) == params
    with pytest.raises(GenerationInputError, match="grammar: the grammar has no 'root' rule"):
        check_sampling(SamplingParams(grammar='x ::= "a"'))
    with pytest.raises(GenerationInputError, match="the limit is 65536"):
        check_sampling(SamplingParams(grammar="root ::= " + '"a" ' * 20000))
    assert raw_prompt([ChatMessage("system", "a"), ChatMessage("user", "b")]) == "a\n\nb"
    req.parameters["grammar"].string_param = "x" * 70000
    with pytest.raises(BadRequest, match="longer than 65536"):
        read_generate_request(req)
