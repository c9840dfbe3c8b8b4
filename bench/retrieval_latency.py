"""Retrieval latency per query, interleaved so that every variant sees the same load: in process
with the collection's INT8 query encoder, in process with an FP32 query encoder, and over KServe
v2 to a retriever replica (the fleet's Replica class, served from this process's gRPC threads).

    python -m bench.retrieval_latency --registry .edgefleet/models [--queries 500]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import grpc

from edgefleet.kserve_retrieval import read_retrieval_response, retrieve_request
from edgefleet.stats import percentiles
from factory.rag_encoder import RagEncoder
from factory.squad import load_squad_dev
from fleet.models.manifest import ModelBundle, load_bundle, resolve_model_dir
from fleet.serving.replica import Replica
from fleet.serving.retriever import RetrieverModel, encoder_bundle, load_retriever
from fleet.serving.runtime import TextModel
from protos.inference import grpc_service_pb2_grpc as kserve_grpc


def fp32_variant(model: RetrieverModel, bundle: ModelBundle) -> RetrieverModel:
    """The same collection with an FP32 query encoder (built from the factory's graph)."""
    xml, weights = RagEncoder().serialized("FP32")
    base = encoder_bundle(bundle.manifest, model.folder)
    files = {**base.files, "model.xml": xml, "model.bin": weights}
    from fleet.models.manifest import sha256_bytes

    manifest = base.manifest.model_copy(
        update={"precision": "FP32", "files": {k: sha256_bytes(v) for k, v in files.items()}}
    )
    encoder = TextModel.load(ModelBundle(manifest, files), precision="f32")
    return RetrieverModel(bundle.manifest, encoder, model.collection, model.folder, 0.0)


def run(registry: Path, n: int, k: int) -> None:
    """Print p50 / p95 / min per variant (markdown)."""
    bundle = load_bundle(resolve_model_dir(registry, "squad-dev"))
    int8 = load_retriever(bundle, precision="f32")
    fp32 = fp32_variant(int8, bundle)
    replica = Replica("bench-r0", "squad-retriever", bundle, ["CPU"], "local", precision="f32")
    address = replica.start()["address"]
    channel = grpc.insecure_channel(address)
    stub = kserve_grpc.GRPCInferenceServiceStub(channel)

    def over_kserve(q: str) -> object:
        response = stub.ModelInfer(retrieve_request(bundle.name, bundle.version, [q], k), timeout=10)
        return read_retrieval_response(response, 1)

    variants: dict[str, Callable[[str], object]] = {
        f"in process, {bundle.manifest.precision} query encoder": lambda q: int8.retrieve([q], k),
        "in process, FP32 query encoder": lambda q: fp32.retrieve([q], k),
        f"over KServe v2 (gRPC, loopback), {bundle.manifest.precision} query encoder": over_kserve,
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    questions = [q.text for q in load_squad_dev().split("report")[::5][:n]]
    try:
        for q in questions:
            for name, fn in variants.items():
                t = time.perf_counter()
                fn(q)
                times[name].append((time.perf_counter() - t) * 1000.0)
    finally:
        channel.close()
        replica.stop(1.0)
    print(f"{len(questions)} SQuAD report questions, top {k}, {bundle.name} {bundle.version}, interleaved\n")
    print("| variant | p50 ms | p95 ms | min ms |")
    print("| --- | ---: | ---: | ---: |")
    for name, values in times.items():
        p50, p95 = percentiles(values, (50, 95))
        print(f"| {name} | {p50:.2f} | {p95:.2f} | {min(values):.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--registry", default=".edgefleet/models")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--top-k", type=int, default=5)
    args = parser.parse_args()
    run(Path(args.registry), args.queries, args.top_k)


if __name__ == "__main__":
    main()
