"""The KServe v2 wire convention for generative models (edge LLM replicas), both sides.

It follows what Triton's decoupled LLM backends do, so ``tritonclient.grpc``'s
``start_stream``/``async_stream_infer`` works against an edge replica:

request (``ModelInfer`` or each ``ModelStreamInfer`` message)
    input ``text_input``  BYTES [1]: the prompt, taken as one user message (chat template applied
                          by the replica), or
    input ``messages``    BYTES [1]: a JSON list of ``{"role", "content"}`` (EdgeFleet's extension;
                          wins over ``text_input``)
    parameters            ``max_tokens`` (int), ``temperature`` (double), ``top_p`` (double),
                          ``seed`` (int), ``stop`` (string: a JSON list), ``logprobs`` (bool),
                          ``grammar`` (string: EBNF with a ``root`` rule; decoding is constrained
                          to it), ``apply_chat_template`` (bool, default true; false: the prompt is
                          the text as sent, e.g. a few-shot completion prompt).
                          Ints may come as int64/uint64 or double, doubles as int64 (clients differ).
response (one per chunk when streaming; one in all for ``ModelInfer``)
    output ``text_output``     BYTES [1]: the new text of this chunk (the whole answer when unary)
    output ``token_logprobs``  FP32 [k]: log-probabilities of the chunk's tokens
    parameters            on the last response of a request: ``triton_final_response`` true,
                          ``finish_reason``, ``prompt_tokens``, ``completion_tokens``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from edgefleet.generation import MAX_GRAMMAR_CHARS, ChatMessage, GenerationChunk, SamplingParams
from edgefleet.kserve_codec import BadRequest, split_length_prefixed
from protos.inference import grpc_service_pb2 as kserve_pb2

TEXT_INPUT = "text_input"
MESSAGES_INPUT = "messages"
TEXT_OUTPUT = "text_output"
LOGPROBS_OUTPUT = "token_logprobs"
FINAL_PARAM = "triton_final_response"
EMPTY_FINAL_PARAM = "triton_enable_empty_final_response"
MAX_PARAM_STRING = 4096


# -- the client side (router) ---------------------------------------------------------------------


def generate_request(
    model: str, version: str, messages: Sequence[ChatMessage], params: SamplingParams, request_id: str = ""
) -> kserve_pb2.ModelInferRequest:
    """A request for `messages` (sent as the ``messages`` JSON input) with `params`."""
    request = kserve_pb2.ModelInferRequest(model_name=model, model_version=version, id=request_id)
    payload = json.dumps([{"role": m.role, "content": m.content} for m in messages]).encode("utf-8")
    tensor = request.inputs.add(name=MESSAGES_INPUT, datatype="BYTES", shape=[1])
    tensor.contents.bytes_contents.append(payload)
    p = request.parameters
    p["max_tokens"].int64_param = params.max_tokens
    p["temperature"].double_param = params.temperature
    p["top_p"].double_param = params.top_p
    p["logprobs"].bool_param = params.logprobs
    if params.stop:
        p["stop"].string_param = json.dumps(list(params.stop))
    if params.seed is not None:
        p["seed"].int64_param = params.seed
    if params.grammar:
        p["grammar"].string_param = params.grammar
    if not params.chat_template:
        p["apply_chat_template"].bool_param = False
    return request


def read_chunk(response: kserve_pb2.ModelInferResponse) -> GenerationChunk:
    """One chunk from a response (a streamed message, or a whole unary answer).

    Raises ValueError on a malformed response.
    """
    text = ""
    logprobs: tuple[float, ...] = ()
    raw = list(response.raw_output_contents)
    if raw and len(raw) != len(response.outputs):
        raise ValueError(f"{len(raw)} raw output contents for {len(response.outputs)} outputs")
    for i, out in enumerate(response.outputs):
        if out.name == TEXT_OUTPUT:
            values = split_length_prefixed(raw[i]) if raw else list(out.contents.bytes_contents)
            text = b"".join(values).decode("utf-8", errors="replace")
        elif out.name == LOGPROBS_OUTPUT:
            if raw:
                logprobs = tuple(float(x) for x in np.frombuffer(raw[i], dtype="<f4"))
            else:
                logprobs = tuple(float(x) for x in out.contents.fp32_contents)
    params = response.parameters
    final = FINAL_PARAM in params and params[FINAL_PARAM].bool_param
    reason = params["finish_reason"].string_param if "finish_reason" in params else None
    return GenerationChunk(
        text=text,
        logprobs=logprobs,
        final=final,
        finish_reason=reason if reason in ("stop", "length", "cancelled", "error") else None,  # type: ignore[arg-type]
        prompt_tokens=_int(params, "prompt_tokens", 0) or 0,
        completion_tokens=_int(params, "completion_tokens", 0) or 0,
    )


# -- the server side (replica) --------------------------------------------------------------------


def read_generate_request(request: kserve_pb2.ModelInferRequest) -> tuple[list[ChatMessage], SamplingParams]:
    """The conversation and sampling settings of a request. Raises BadRequest (INVALID_ARGUMENT)
    naming the problem; range checks are :func:`edgefleet.generation.check_sampling`'s."""
    by_name = {t.name: (i, t) for i, t in enumerate(request.inputs)}
    unknown = sorted(set(by_name) - {TEXT_INPUT, MESSAGES_INPUT})
    if unknown:
        raise BadRequest(f"unknown input(s) {unknown}; send {TEXT_INPUT!r} (BYTES [1]) or {MESSAGES_INPUT!r}")
    if MESSAGES_INPUT in by_name:
        raw = _single_bytes(request, *by_name[MESSAGES_INPUT])
        messages = _parse_messages(raw)
    elif TEXT_INPUT in by_name:
        raw = _single_bytes(request, *by_name[TEXT_INPUT])
        try:
            messages = [ChatMessage("user", raw.decode("utf-8"))]
        except UnicodeDecodeError as exc:
            raise BadRequest(f"input {TEXT_INPUT!r} is not valid UTF-8: {exc}") from exc
    else:
        raise BadRequest(
            f"no prompt: send a BYTES input {TEXT_INPUT!r} with shape [1] (or {MESSAGES_INPUT!r})"
        )
    p = request.parameters
    stop_text = _str(p, "stop")
    stop: tuple[str, ...] = ()
    if stop_text:
        try:
            parsed = json.loads(stop_text)
        except json.JSONDecodeError:
            parsed = [stop_text]  # a single stop string sent as is
        if not isinstance(parsed, list) or not all(isinstance(s, str) for s in parsed):
            raise BadRequest("parameter 'stop' must be a JSON list of strings")
        stop = tuple(parsed)
    seed = _int(p, "seed", None)
    max_tokens = _int(p, "max_tokens", None)
    if max_tokens is None:
        max_tokens = _int(p, "max_new_tokens", 256)
    params = SamplingParams(
        max_tokens=int(max_tokens if max_tokens is not None else 256),  # 0 stays 0: check_sampling refuses it
        temperature=_float(p, "temperature", 0.0),
        top_p=_float(p, "top_p", 1.0),
        stop=stop,
        seed=seed,
        logprobs=_bool(p, "logprobs", True),
        grammar=_str(p, "grammar", MAX_GRAMMAR_CHARS),
        chat_template=_bool(p, "apply_chat_template", True),
    )
    return messages, params


def chunk_response(
    model: str, version: str, request_id: str, chunk: GenerationChunk, *, raw: bool = False
) -> kserve_pb2.ModelInferResponse:
    """The response carrying `chunk` (with the final parameters when it is the last one)."""
    response = kserve_pb2.ModelInferResponse(model_name=model, model_version=version, id=request_id)
    text = response.outputs.add(name=TEXT_OUTPUT, datatype="BYTES", shape=[1])
    data = chunk.text.encode("utf-8")
    lp = np.asarray(chunk.logprobs, dtype="<f4")
    lps = response.outputs.add(name=LOGPROBS_OUTPUT, datatype="FP32", shape=[lp.size])
    if raw:
        response.raw_output_contents.append(len(data).to_bytes(4, "little") + data)
        response.raw_output_contents.append(lp.tobytes())
    else:
        text.contents.bytes_contents.append(data)
        lps.contents.fp32_contents.extend(lp.tolist())
    if chunk.final:
        p = response.parameters
        p[FINAL_PARAM].bool_param = True
        p["finish_reason"].string_param = chunk.finish_reason or "stop"
        p["prompt_tokens"].int64_param = chunk.prompt_tokens
        p["completion_tokens"].int64_param = chunk.completion_tokens
    return response


def empty_final_response(
    model: str, version: str, request_id: str, chunk: GenerationChunk
) -> kserve_pb2.ModelInferResponse:
    """A final response without outputs (what tritonclient's ``enable_empty_final_response`` asks
    for), carrying the finish parameters of `chunk`."""
    response = kserve_pb2.ModelInferResponse(model_name=model, model_version=version, id=request_id)
    p = response.parameters
    p[FINAL_PARAM].bool_param = True
    p["finish_reason"].string_param = chunk.finish_reason or "stop"
    p["prompt_tokens"].int64_param = chunk.prompt_tokens
    p["completion_tokens"].int64_param = chunk.completion_tokens
    return response


def wants_empty_final(request: kserve_pb2.ModelInferRequest) -> bool:
    """True when the client asked for a separate, empty final response (tritonclient does)."""
    return EMPTY_FINAL_PARAM in request.parameters and request.parameters[EMPTY_FINAL_PARAM].bool_param


# -- helpers ----------------------------------------------------------------------------------------


def _single_bytes(request: kserve_pb2.ModelInferRequest, index: int, tensor: Any) -> bytes:
    if tensor.datatype != "BYTES":
        raise BadRequest(f"input {tensor.name!r} must have datatype BYTES, got {tensor.datatype!r}")
    shape = list(tensor.shape)
    if shape not in ([1], [1, 1]):
        raise BadRequest(f"input {tensor.name!r} must have shape [1], got {shape}")
    if request.raw_input_contents:
        if index >= len(request.raw_input_contents):
            raise BadRequest(f"no raw input content for input {tensor.name!r}")
        items = split_length_prefixed(request.raw_input_contents[index], 1)
    else:
        items = list(tensor.contents.bytes_contents)
        if len(items) != 1:
            raise BadRequest(f"input {tensor.name!r} holds {len(items)} strings; expected 1")
    return bytes(items[0])


def _parse_messages(raw: bytes) -> list[ChatMessage]:
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"input {MESSAGES_INPUT!r} is not UTF-8 JSON: {exc}") from exc
    if not isinstance(data, list):
        raise BadRequest(f"input {MESSAGES_INPUT!r} must be a JSON list of {{role, content}} objects")
    out: list[ChatMessage] = []
    for i, item in enumerate(data):
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("role"), str)
            or not isinstance(item.get("content"), str)
        ):
            raise BadRequest(f"{MESSAGES_INPUT}[{i}] must be an object with string 'role' and 'content'")
        out.append(ChatMessage(item["role"], item["content"]))
    return out


def _number(params: Any, key: str) -> float | int | None:
    if key not in params:
        return None
    param = params[key]
    kind = param.WhichOneof("parameter_choice")
    if kind in ("int64_param", "uint64_param", "double_param"):
        value = getattr(param, kind)
        return value if isinstance(value, int) else float(value)
    if kind == "string_param":
        try:
            return float(param.string_param) if "." in param.string_param else int(param.string_param)
        except ValueError:
            raise BadRequest(f"parameter {key!r} must be a number, got {param.string_param[:40]!r}") from None
    raise BadRequest(f"parameter {key!r} must be a number")


def _int(params: Any, key: str, default: int | None) -> int | None:
    value = _number(params, key)
    if value is None:
        return default
    if isinstance(value, float) and not value.is_integer():
        raise BadRequest(f"parameter {key!r} must be an integer, got {value}")
    return int(value)


def _float(params: Any, key: str, default: float) -> float:
    value = _number(params, key)
    return default if value is None else float(value)


def _bool(params: Any, key: str, default: bool) -> bool:
    if key not in params:
        return default
    param = params[key]
    if param.WhichOneof("parameter_choice") != "bool_param":
        raise BadRequest(f"parameter {key!r} must be a bool")
    return bool(param.bool_param)


def _str(params: Any, key: str, limit: int = MAX_PARAM_STRING) -> str:
    if key not in params:
        return ""
    param = params[key]
    if param.WhichOneof("parameter_choice") != "string_param":
        raise BadRequest(f"parameter {key!r} must be a string")
    if len(param.string_param) > limit:
        raise BadRequest(f"parameter {key!r} is longer than {limit} characters")
    return param.string_param
