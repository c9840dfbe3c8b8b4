"""KServe v2 tensors <-> numpy for EdgeFleet's text models (pure functions, no server).

Input ``TEXT`` is BYTES ``[N]`` (UTF-8), sent either in ``contents.bytes_contents`` or in
``raw_input_contents`` where each element carries a 4-byte little-endian length prefix.
Outputs ``PROBS``/``EMBEDDING`` are FP32 ``[N, K]`` and ``LABEL`` BYTES ``[N]``; they go back in
``raw_output_contents`` when the request used raw inputs, else in ``contents``.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence

import numpy as np

from protos.inference import grpc_service_pb2 as kserve_pb2

TEXT_INPUT = "TEXT"
OUTPUT_DATATYPES = {"PROBS": "FP32", "EMBEDDING": "FP32", "LABEL": "BYTES"}
_LEN = struct.Struct("<I")


class BadRequest(ValueError):
    """The request is malformed (becomes INVALID_ARGUMENT)."""


def split_length_prefixed(raw: bytes, expected: int) -> list[bytes]:
    """Split a raw BYTES tensor (4-byte LE length + payload per element) into `expected` items."""
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
    if len(items) != expected:
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
