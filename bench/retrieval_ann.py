"""Exact vs HNSW search for retrieval collections: recall and latency at a collection's own size
and at ``--size`` chunks (default 100k), hybrid scoring as served.

The large set is SYNTHETIC: the collection's vectors tiled with Gaussian noise (norm ``--noise``)
and renormalised, their texts repeated, so every real chunk has look-alike distractors; queries are
real SQuAD questions embedded with the collection's own query encoder. Run:

    python -m bench.retrieval_ann --registry .edgefleet/models [--size 100000] [--queries 300]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from edgefleet.stats import percentiles
from factory.squad import load_squad_dev
from fleet.models.manifest import load_bundle, resolve_model_dir
from fleet.retrieval.dense import BruteForceIndex, DenseIndex, HnswIndex, build_hnsw
from fleet.retrieval.hybrid import Hit, hybrid_search
from fleet.retrieval.lexical import BM25Index
from fleet.serving.retriever import load_retriever

SearchFn = Callable[[np.ndarray, str], list[Hit]]


def searcher(dense: DenseIndex, vectors: np.ndarray, bm25: BM25Index, weight: float) -> SearchFn:
    """Hybrid top-5 over one index."""

    def search(vector: np.ndarray, text: str) -> list[Hit]:
        return hybrid_search(dense, vectors, bm25, vector, text, 5, weight=weight)

    return search


def tiled(vectors: np.ndarray, size: int, noise: float, seed: int = 0) -> np.ndarray:
    """``size`` unit vectors: ``vectors`` first, then noisy copies of them."""
    rng = np.random.default_rng(seed)
    reps = -(-size // len(vectors))
    out = np.tile(vectors, (reps, 1))[:size].copy()
    extra = out[len(vectors) :]
    jitter = rng.normal(size=extra.shape).astype(np.float32)
    jitter *= noise / np.linalg.norm(jitter, axis=1, keepdims=True)
    extra += jitter
    out[len(vectors) :] = extra / np.linalg.norm(extra, axis=1, keepdims=True)
    return out


def measure(
    search: SearchFn, queries: Sequence[tuple[np.ndarray, str]]
) -> tuple[list[list[int]], float, float]:
    """Top chunk ids per query and per-query p50 / p95 ms."""
    found: list[list[int]] = []
    times: list[float] = []
    for vector, text in queries:
        t = time.perf_counter()
        hits = search(vector, text)
        times.append((time.perf_counter() - t) * 1000.0)
        found.append([h.chunk for h in hits])
    p50, p95 = percentiles(times, (50, 95))
    return found, p50, p95


def overlap(a: list[list[int]], b: list[list[int]], k: int) -> float:
    """Mean share of b's top-k that a's top-k holds."""
    return float(np.mean([len(set(x[:k]) & set(y[:k])) / k for x, y in zip(a, b, strict=True)]))


def gold_recall(found: list[list[int]], gold: list[set[int]], k: int) -> float:
    """Share of queries with a gold chunk in the top k."""
    return float(np.mean([bool(set(f[:k]) & g) for f, g in zip(found, gold, strict=True)]))


def run(registry: Path, size: int, n_queries: int, noise: float, ef: int) -> None:
    """Print the comparison table (markdown)."""
    bundle = load_bundle(resolve_model_dir(registry, "squad-dev"))
    model = load_retriever(bundle, precision="f32")
    collection = model.collection
    questions = load_squad_dev().split("report")[::7][:n_queries]
    vectors_q = model.encoder.embed([q.text for q in questions])
    queries = list(zip(vectors_q, [q.text for q in questions], strict=True))
    rows_of: dict[str, set[int]] = {}
    for i, c in enumerate(collection.chunks):
        rows_of.setdefault(c.doc, set()).add(i)
    gold = [rows_of[q.pid] for q in questions]
    weight = collection.spec.hybrid.bm25_weight
    print("| set | chunks | search | build s | MB | p50 ms | p95 ms | recall@1 | recall@5 | top-5 = exact |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for label, n in (("squad-dev", len(collection.chunks)), (f"synthetic {size // 1000}k", size)):
        vectors = collection.vectors if n == len(collection.chunks) else tiled(collection.vectors, n, noise)
        texts = [collection.chunks[i % len(collection.chunks)].text for i in range(n)]
        t = time.perf_counter()
        bm25 = collection.bm25 if n == len(collection.chunks) else BM25Index.build(texts)
        bm25_s = time.perf_counter() - t
        exact, p50, p95 = measure(searcher(BruteForceIndex(vectors), vectors, bm25, weight), queries)
        print(
            f"| {label} | {n:,} | exact (numpy) | {bm25_s:.1f} (BM25) | {vectors.nbytes / 1e6:.0f} | {p50:.2f} "
            f"| {p95:.2f} | {gold_recall(exact, gold, 1):.3f} | {gold_recall(exact, gold, 5):.3f} | 1.000 |"
        )
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "ann.usearch"
            t = time.perf_counter()
            build_hnsw(vectors, path)
            build_s = time.perf_counter() - t
            ann = HnswIndex.open(path, vectors, ef)
            approx, p50, p95 = measure(searcher(ann, vectors, bm25, weight), queries)
            print(
                f"| {label} | {n:,} | HNSW (usearch M=16, ef {ef}) | {build_s:.1f} | {path.stat().st_size / 1e6:.0f} | "
                f"{p50:.2f} | {p95:.2f} | {gold_recall(approx, gold, 1):.3f} | {gold_recall(approx, gold, 5):.3f} "
                f"| {overlap(approx, exact, 5):.3f} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--registry", default=".edgefleet/models")
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--noise", type=float, default=0.5)
    parser.add_argument("--ef", type=int, default=128)
    args = parser.parse_args()
    run(Path(args.registry), args.size, args.queries, args.noise, args.ef)


if __name__ == "__main__":
    main()
