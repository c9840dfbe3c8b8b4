"""A blocking KServe v2 retrieval client for the command line and the benchmarks."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import grpc

from edgefleet.kserve_retrieval import read_retrieval_response, retrieve_request
from protos.inference import grpc_service_pb2_grpc as kserve_grpc


def kserve_retrieve(
    address: str, model: str, version: str = "", timeout_s: float = 10.0
) -> Callable[[Sequence[str], int], list[list[str]]]:
    """A function (queries, k) -> the doc ids of each query's passages, calling the retriever at
    ``address`` over one channel."""
    channel = grpc.insecure_channel(address)
    stub = kserve_grpc.GRPCInferenceServiceStub(channel)

    def retrieve(queries: Sequence[str], k: int) -> list[list[str]]:
        response = stub.ModelInfer(retrieve_request(model, version, queries, k), timeout=timeout_s)
        return [[p.doc for p in r.passages] for r in read_retrieval_response(response, len(queries))]

    return retrieve
