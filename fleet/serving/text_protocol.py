"""The KServe v2 protocol of a text-model replica, shared by its two servers (the grpc.aio one with
dynamic batching in :mod:`fleet.serving.kserve_aio`, the thread-pool one in
:mod:`fleet.serving.kserve_server`): the outputs a model offers, what is wrong with a request's
model name or version, decoding a ``ModelInfer`` request and building its response.

Pure functions over protos and numpy: no server, no threads, no context. A server turns a
:class:`ModelProblem` into an abort with its status, and a :class:`edgefleet.kserve_codec.BadRequest`
or ``ValueError`` from :func:`decode_request` into INVALID_ARGUMENT.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc
import numpy as np

from edgefleet.kserve_codec import BadRequest, add_output, decode_texts, requested_outputs, string_param
from fleet.serving.runtime import TextModel, check_texts
from protos.inference import grpc_service_pb2 as kserve_pb2

SERVER_NAME = "edgefleet-replica"
SERVER_VERSION = "0.1.0"
TEXT_TASKS = ("classify", "embed")


@dataclass(frozen=True)
class ModelProblem:
    """Why a request cannot be served by this replica: the gRPC status and the message."""

    code: grpc.StatusCode
    message: str


@dataclass(frozen=True)
class TextRequest:
    """A decoded ModelInfer request: its texts, whether the client sent raw BYTES contents, and the
    outputs it wants."""

    texts: list[str]
    raw: bool
    outputs: list[str]


def offered_outputs(model: TextModel | None) -> list[str]:
    """The outputs `model` can return: PROBS and/or EMBEDDING from the IR, LABEL beside PROBS."""
    if model is None:
        return []
    declared = set(model.manifest.output_names())
    ir = [n for n in ("PROBS", "EMBEDDING") if n in declared]
    return ir + (["LABEL"] if "PROBS" in ir else [])


def model_problem(
    model: TextModel | None, load_error: str | None, name: str, version: str, need_ready: bool
) -> ModelProblem | None:
    """What is wrong with asking this replica for model `name` at `version` ("" = any), or None.
    A replica whose model did not load is UNAVAILABLE only where the call needs the model."""
    if model is None:
        if need_ready:
            return ModelProblem(grpc.StatusCode.UNAVAILABLE, f"model not loaded: {load_error or 'starting'}")
        return None
    served = model.manifest
    if name != served.name:
        return ModelProblem(
            grpc.StatusCode.NOT_FOUND, f"unknown model {name!r}; this server serves {served.name!r}"
        )
    if version and version != served.version:
        return ModelProblem(
            grpc.StatusCode.NOT_FOUND,
            f"model {name!r} has no version {version!r}; this server serves {served.version!r}",
        )
    return None


def queue_full(replica: str, inflight: int, max_queue: int) -> ModelProblem | None:
    """RESOURCE_EXHAUSTED when `inflight` (this request included) is over `max_queue`."""
    if inflight <= max_queue:
        return None
    return ModelProblem(
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        f"replica {replica or '?'} has {inflight - 1} requests outstanding (max_queue {max_queue}); "
        "retry on another replica",
    )


def decode_request(
    request: kserve_pb2.ModelInferRequest, model: TextModel, offered: list[str], max_batch: int
) -> TextRequest:
    """The texts and wanted outputs of `request`; raises BadRequest (or ValueError) when it is not a
    valid text request for `model` or has more than `max_batch` texts."""
    texts, raw = decode_texts(request)
    check_texts(texts)
    if len(texts) > max_batch:
        raise BadRequest(f"batch of {len(texts)} texts exceeds this replica's max_batch {max_batch}")
    task = string_param(request, "task") or model.manifest.task
    if task not in TEXT_TASKS:
        raise BadRequest(f"parameter 'task' must be 'classify' or 'embed', got {task!r}")
    default = ["PROBS", "LABEL"] if task == "classify" else ["EMBEDDING"]
    return TextRequest(texts, raw, requested_outputs(request, offered, default))


def infer_response(
    request: kserve_pb2.ModelInferRequest,
    model: TextModel,
    decoded: TextRequest,
    outputs: dict[str, np.ndarray],
    *,
    node: str,
    replica: str,
    queue_ms: float,
) -> kserve_pb2.ModelInferResponse:
    """The ModelInferResponse for `decoded` from the model's IR `outputs`, with the replica's
    device, node, name and the time the request waited for inference as parameters."""
    response = kserve_pb2.ModelInferResponse(
        model_name=model.manifest.name, model_version=model.manifest.version, id=request.id
    )
    for name in decoded.outputs:
        add_output(response, name, output_value(name, outputs, model), decoded.raw)
    params = response.parameters
    params["device"].string_param = model.device
    params["node"].string_param = node
    params["replica"].string_param = replica
    params["queue_ms"].double_param = queue_ms
    return response


def metadata_response(model: TextModel, offered: list[str]) -> kserve_pb2.ModelMetadataResponse:
    """ModelMetadata: one BYTES input TEXT, the offered outputs with their widths."""
    tensor = kserve_pb2.ModelMetadataResponse.TensorMetadata
    outputs = [
        tensor(name="LABEL", datatype="BYTES", shape=[-1])
        if name == "LABEL"
        else tensor(name=name, datatype="FP32", shape=[-1, output_width(model, name)])
        for name in offered
    ]
    return kserve_pb2.ModelMetadataResponse(
        name=model.manifest.name,
        versions=[model.manifest.version],
        platform="openvino_ir",
        inputs=[tensor(name="TEXT", datatype="BYTES", shape=[-1])],
        outputs=outputs,
    )


def output_width(model: TextModel, name: str) -> int:
    """Columns of FP32 output `name` (-1 when the manifest does not say)."""
    if name == "PROBS" and model.labels:
        return len(model.labels)
    for spec in model.manifest.outputs:
        if spec.name == name and len(spec.shape) == 2:
            return int(spec.shape[1])
    return -1


def output_value(name: str, outputs: dict[str, np.ndarray], model: TextModel) -> np.ndarray | list[str]:
    """Output `name` from the IR outputs: LABEL is the argmax label, EMBEDDING is L2-normalised."""
    if name == "LABEL":
        best = outputs["PROBS"].argmax(axis=1)
        return [model.labels[int(i)] if int(i) < len(model.labels) else str(int(i)) for i in best]
    if name == "EMBEDDING":
        vectors = outputs["EMBEDDING"]
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        norms[norms == 0.0] = 1.0
        return vectors / norms
    return outputs[name]
