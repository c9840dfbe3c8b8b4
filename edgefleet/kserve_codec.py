"""KServe v2 tensors <-> numpy for EdgeFleet's text models: the one codec of both sides, the
replica's server (decode texts, add outputs) and the router's client (build a request, read the
outputs). Pure functions, no server, no channel.

Input ``TEXT`` is BYTES ``[N]`` (UTF-8), sent either in ``contents.bytes_contents`` or in
``raw_input_contents`` where each element carries a 4-byte little-endian length prefix.
Outputs ``PROBS``/``EMBEDDING`` are FP32 ``[N, K]`` and ``LABEL`` BYTES ``[N]``; they go back in
``raw_output_contents`` when the request used raw inputs, else in ``contents``.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from protos.inference import grpc_service_pb2 as kserve_pb2

TEXT_INPUT = "TEXT"
OUTPUT_DATATYPES = {"PROBS": "FP32", "EMBEDDING": "FP32", "LABEL": "BYTES"}
_LEN = struct.Struct("<I")


class BadRequest(ValueError):
    """The request is malformed (becomes INVALID_ARGUMENT)."""


def split_length_prefixed(raw: bytes, expected: int | None = None) -> list[bytes]:
    """Split a raw BYTES tensor (4-byte LE length + payload per element) into its items; when
    `expected` is given, exactly that many."""
    items: list[bytes] = []
    offset = 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise BadRequest(f"raw BYTES input is truncated at offset {offset} (incomplete length prefix)")
        (size,) = _LEN.unpack_from(raw, offset)
        offset += 4
        if offset + size > len(raw):
            raise BadRequest(
                f"raw BYTES element {len(items)} claims {size} bytes but only {len(raw) - offset} remain"
            )
        items.append(raw[offset : offset + size])
        offset += size
    if expected is not None and len(items) != expected:
        raise BadRequest(f"raw BYTES input holds {len(items)} elements but its shape says {expected}")
    return items


def join_length_prefixed(items: Sequence[bytes]) -> bytes:
    """Encode BYTES elements with 4-byte little-endian length prefixes."""
    return b"".join(_LEN.pack(len(item)) + item for item in items)


def decode_texts(request: kserve_pb2.ModelInferRequest) -> tuple[list[str], bool]:
    """The request's texts and whether it used raw input contents. Raises BadRequest."""
    if not request.inputs:
        raise BadRequest(f"no inputs; send one BYTES input named {TEXT_INPUT!r} with shape [N]")
    names = [t.name for t in request.inputs]
    if TEXT_INPUT not in names:
        raise BadRequest(f"unknown input(s) {names}; expected one BYTES input named {TEXT_INPUT!r}")
    if len(names) > 1:
        raise BadRequest(f"expected exactly one input {TEXT_INPUT!r}, got {names}")
    tensor = request.inputs[0]
    if tensor.datatype != "BYTES":
        raise BadRequest(f"input {TEXT_INPUT!r} must have datatype BYTES, got {tensor.datatype!r}")
    shape = list(tensor.shape)
    if not shape or any(d < 0 for d in shape) or (len(shape) == 2 and shape[1] != 1) or len(shape) > 2:
        raise BadRequest(f"input {TEXT_INPUT!r} must have shape [N] (or [N, 1]), got {shape}")
    count = math.prod(shape)
    raw = bool(request.raw_input_contents)
    if raw:
        if len(request.raw_input_contents) != 1:
            raise BadRequest(f"expected 1 raw input content, got {len(request.raw_input_contents)}")
        items = split_length_prefixed(request.raw_input_contents[0], count)
    else:
        items = list(tensor.contents.bytes_contents)
        if len(items) != count:
            raise BadRequest(f"input {TEXT_INPUT!r} holds {len(items)} strings but its shape says {count}")
    if count == 0:
        raise BadRequest(f"input {TEXT_INPUT!r} is empty; send at least one text")
    try:
        return [item.decode("utf-8") for item in items], raw
    except UnicodeDecodeError as exc:
        raise BadRequest(f"input {TEXT_INPUT!r} is not valid UTF-8: {exc}") from exc


def requested_outputs(
    request: kserve_pb2.ModelInferRequest, available: Sequence[str], default: Sequence[str]
) -> list[str]:
    """Names of the outputs to return (the requested ones, else `default`). Raises BadRequest."""
    names = [o.name for o in request.outputs] or list(default)
    unknown = [n for n in names if n not in available]
    if unknown:
        raise BadRequest(f"unknown output(s) {unknown}; this model offers {list(available)}")
    return names


def add_output(
    response: kserve_pb2.ModelInferResponse, name: str, value: np.ndarray | list[str], raw: bool
) -> None:
    """Append output `name` to `response`, raw or in typed contents."""
    tensor = response.outputs.add()
    tensor.name = name
    tensor.datatype = OUTPUT_DATATYPES[name]
    if tensor.datatype == "BYTES":
        encoded = [str(v).encode("utf-8") for v in value]
        tensor.shape.append(len(encoded))
        if raw:
            response.raw_output_contents.append(join_length_prefixed(encoded))
        else:
            tensor.contents.bytes_contents.extend(encoded)
        return
    array = np.ascontiguousarray(value, dtype="<f4")
    tensor.shape.extend(array.shape)
    if raw:
        response.raw_output_contents.append(array.tobytes())
    else:
        tensor.contents.fp32_contents.extend(array.ravel().tolist())


def string_param(request: kserve_pb2.ModelInferRequest, key: str) -> str | None:
    """A string request parameter, or None when absent. Raises BadRequest on another type."""
    if key not in request.parameters:
        return None
    param = request.parameters[key]
    if param.WhichOneof("parameter_choice") != "string_param":
        raise BadRequest(f"parameter {key!r} must be a string")
    return param.string_param


# -- the client side ------------------------------------------------------------------------------


def text_request(
    model: str, version: str, texts: Sequence[str], parameters: Mapping[str, str] | None = None
) -> kserve_pb2.ModelInferRequest:
    """A ModelInferRequest with TEXT as BYTES [N] in ``contents.bytes_contents`` and string parameters."""
    request = kserve_pb2.ModelInferRequest(model_name=model, model_version=version)
    for key, value in (parameters or {}).items():
        request.parameters[key].string_param = value
    tensor = request.inputs.add(name=TEXT_INPUT, datatype="BYTES", shape=[len(texts)])
    tensor.contents.bytes_contents.extend(t.encode("utf-8") for t in texts)
    return request


@dataclass
class DecodedOutputs:
    """A ModelInferResponse's outputs: FP32 tensors as arrays, BYTES tensors as strings, and the
    response parameters as plain values."""

    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    strings: dict[str, list[str]] = field(default_factory=dict)
    parameters: dict[str, str | float | int | bool] = field(default_factory=dict)


def decode_outputs(response: kserve_pb2.ModelInferResponse) -> DecodedOutputs:
    """Read every output of `response`, from ``raw_output_contents`` or typed ``contents``.

    Raises ValueError (or struct.error) on a malformed response.
    """
    out = DecodedOutputs()
    use_raw = len(response.raw_output_contents) > 0
    if use_raw and len(response.raw_output_contents) != len(response.outputs):
        raise ValueError(
            f"{len(response.raw_output_contents)} raw output contents for {len(response.outputs)} outputs"
        )
    for i, tensor in enumerate(response.outputs):
        shape = [int(d) for d in tensor.shape]
        if tensor.datatype == "BYTES":
            values = (
                split_length_prefixed(response.raw_output_contents[i])
                if use_raw
                else list(tensor.contents.bytes_contents)
            )
            out.strings[tensor.name] = [v.decode("utf-8") for v in values]
        elif tensor.datatype == "FP32":
            if use_raw:
                arr = np.frombuffer(response.raw_output_contents[i], dtype="<f4")
            else:
                arr = np.asarray(tensor.contents.fp32_contents, dtype=np.float32)
            out.arrays[tensor.name] = arr.reshape(shape)
    for key, param in response.parameters.items():
        kind = param.WhichOneof("parameter_choice")
        if kind is not None:
            out.parameters[key] = getattr(param, kind)
    return out
