"""The KServe v2 wire convention of retriever replicas (task ``retrieve``), shared by the replica's
servicer and the router's client. Pure functions on the protos, no server, no channel.

Request: input ``TEXT`` BYTES ``[N]`` (the queries, UTF-8), optional INT64 parameter ``top_k``
(default 5, at most :data:`MAX_TOP_K`), optional requested outputs (default: all).
Response, with ``k = min(top_k, chunks in the collection)``:

- ``PASSAGES`` BYTES ``[N, k]``: one JSON object per passage, ``{"doc", "chunk", "title", "text"}``
- ``SCORES`` FP32 ``[N, k]``: the hybrid score, best first
- ``DENSE_SCORES`` FP32 ``[N, k]``: the cosine of query and passage
- ``LEXICAL_SCORES`` FP32 ``[N, k]``: BM25 divided by the query's best BM25 in the collection (0..1)
- ``EMBEDDING`` FP32 ``[N, 384]``: the query's unit embedding

and the parameters ``collection``, ``collection_version``, ``node``, ``replica``, ``device`` and
``queue_ms``. Outputs go back raw (``raw_output_contents``) when the request's input was raw.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edgefleet.kserve_codec import BadRequest, decode_outputs, join_length_prefixed, text_request
from protos.inference import grpc_service_pb2 as kserve_pb2

PASSAGES = "PASSAGES"
SCORES = "SCORES"
DENSE_SCORES = "DENSE_SCORES"
LEXICAL_SCORES = "LEXICAL_SCORES"
EMBEDDING = "EMBEDDING"
RETRIEVAL_OUTPUTS = (PASSAGES, SCORES, DENSE_SCORES, LEXICAL_SCORES, EMBEDDING)
TOP_K_PARAM = "top_k"
DEFAULT_TOP_K = 5
MAX_TOP_K = 100


@dataclass(frozen=True)
class Passage:
    """One retrieved passage and its scores."""

    doc: str
    chunk: int
    title: str
    text: str
    score: float
    dense: float
    lexical: float


@dataclass(frozen=True)
class Retrieved:
    """What a retriever returned for one query: passages best first, and the query's embedding."""

    passages: tuple[Passage, ...]
    embedding: tuple[float, ...]
    collection: str = ""
    version: str = ""


def passage_json(doc: str, chunk: int, title: str, text: str) -> str:
    """The PASSAGES element of one passage."""
    return json.dumps({"doc": doc, "chunk": chunk, "title": title, "text": text}, ensure_ascii=False)


def retrieve_request(
    model: str, version: str, texts: Sequence[str], top_k: int
) -> kserve_pb2.ModelInferRequest:
    """A ModelInferRequest asking for the ``top_k`` passages of each text."""
    request = text_request(model, version, texts)
    request.parameters[TOP_K_PARAM].int64_param = int(top_k)
    return request


def read_top_k(request: kserve_pb2.ModelInferRequest) -> int:
    """The request's ``top_k`` (default :data:`DEFAULT_TOP_K`); BadRequest when out of 1..MAX_TOP_K."""
    if TOP_K_PARAM not in request.parameters:
        return DEFAULT_TOP_K
    param = request.parameters[TOP_K_PARAM]
    kind = param.WhichOneof("parameter_choice")
    if kind not in ("int64_param", "uint64_param"):
        raise BadRequest(f"parameter {TOP_K_PARAM!r} must be an integer (int64_param), got {kind}")
    value = int(getattr(param, kind))
    if not 1 <= value <= MAX_TOP_K:
        raise BadRequest(f"parameter {TOP_K_PARAM!r} must be 1..{MAX_TOP_K}, got {value}")
    return value


def add_tensor(
    response: kserve_pb2.ModelInferResponse, name: str, value: np.ndarray | Sequence[Sequence[str]], raw: bool
) -> None:
    """Append one retrieval output: PASSAGES from rows of JSON strings, the rest from float arrays."""
    tensor = response.outputs.add(name=name)
    if name == PASSAGES:
        rows = [list(r) for r in value]
        width = len(rows[0]) if rows else 0
        tensor.datatype = "BYTES"
        tensor.shape.extend([len(rows), width])
        encoded = [str(item).encode("utf-8") for row in rows for item in row]
        if raw:
            response.raw_output_contents.append(join_length_prefixed(encoded))
        else:
            tensor.contents.bytes_contents.extend(encoded)
        return
    array = np.ascontiguousarray(value, dtype="<f4")
    tensor.datatype = "FP32"
    tensor.shape.extend(array.shape)
    if raw:
        response.raw_output_contents.append(array.tobytes())
    else:
        tensor.contents.fp32_contents.extend(array.ravel().tolist())


def read_retrieval_response(response: kserve_pb2.ModelInferResponse, n: int) -> list[Retrieved]:
    """Per query: its passages (with their three scores) and its embedding. ValueError when the
    response does not follow the convention."""
    decoded = decode_outputs(response)
    scores = decoded.arrays.get(SCORES)
    passages = decoded.strings.get(PASSAGES)
    if scores is None or passages is None:
        raise ValueError(f"a retrieval response needs {PASSAGES} and {SCORES}")
    if scores.ndim != 2 or scores.shape[0] != n:
        raise ValueError(f"{SCORES} has shape {list(scores.shape)}, expected [{n}, k]")
    k = scores.shape[1]
    if len(passages) != n * k:
        raise ValueError(f"{PASSAGES} holds {len(passages)} passages, expected {n} x {k}")
    dense = decoded.arrays.get(DENSE_SCORES, np.full((n, k), math.nan, dtype=np.float32)).reshape(n, k)
    lexical = decoded.arrays.get(LEXICAL_SCORES, np.full((n, k), math.nan, dtype=np.float32)).reshape(n, k)
    embedding = decoded.arrays.get(EMBEDDING)
    if embedding is not None and (embedding.ndim != 2 or embedding.shape[0] != n):
        raise ValueError(f"{EMBEDDING} has shape {list(embedding.shape)}, expected [{n}, D]")
    params = decoded.parameters
    out: list[Retrieved] = []
    for row in range(n):
        found = []
        for col in range(k):
            raw = json.loads(passages[row * k + col])
            if not isinstance(raw, dict) or "text" not in raw:
                raise ValueError(f"{PASSAGES}[{row}, {col}] is not a passage object")
            found.append(
                Passage(
                    doc=str(raw.get("doc", "")),
                    chunk=int(raw.get("chunk", 0)),
                    title=str(raw.get("title", "")),
                    text=str(raw["text"]),
                    score=float(scores[row, col]),
                    dense=float(dense[row, col]),
                    lexical=float(lexical[row, col]),
                )
            )
        vector = tuple(embedding[row].tolist()) if embedding is not None else ()
        out.append(
            Retrieved(
                tuple(found),
                vector,
                collection=str(params.get("collection", "")),
                version=str(params.get("collection_version", "")),
            )
        )
    return out
