"""Dense search over unit vectors: exact (numpy brute force) or approximate (an HNSW graph from
usearch, for large collections).

Brute force is a matrix-vector product and a partial sort: about 50 ns per 384-d vector, so well
under a millisecond up to ~20k chunks and ~5 ms at 100k. Above the build's ``ann_min_chunks`` the
collection also holds an HNSW index (``usearch``, inner product on f32), which answers in ~0.1-0.3
ms at 100k but finds ~95-97% of the exact top-5 (see README "Retrieval"). usearch is imported only
when such an index is used; without it the search falls back to brute force and says why.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np

HNSW_CONNECTIVITY = 16
HNSW_EXPANSION_ADD = 128
HNSW_EXPANSION_SEARCH = 128


class DenseIndex(Protocol):
    """Finds the chunks whose vectors have the largest inner product with a query vector."""

    kind: str

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(chunk ids int64 ``[k']``, cosine float32 ``[k']``), best first (``k' = min(k, size)``)."""
        ...


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest ``scores``, largest first (ties: lower index first)."""
    k = min(k, len(scores))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    if k < len(scores):
        kth = scores[np.argpartition(-scores, k - 1)[k - 1]]
        part = np.flatnonzero(scores >= kth)  # every tie at the boundary, so ties break by index
    else:
        part = np.arange(len(scores))
    order = np.lexsort((part, -scores[part]))
    return part[order[:k]].astype(np.int64)


class BruteForceIndex:
    """Exact search: ``vectors @ query``."""

    kind = "brute"

    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors = vectors

    def similarities(self, query: np.ndarray) -> np.ndarray:
        """Cosine of every chunk with ``query`` (vectors and query are unit length)."""
        return self.vectors @ np.asarray(query, dtype=np.float32)

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact top ``k``."""
        sims = self.similarities(query)
        ids = top_k(sims, k)
        return ids, sims[ids]


class HnswIndex:
    """Approximate search with a usearch HNSW graph (memory-mapped from the collection folder)."""

    kind = "hnsw"

    def __init__(
        self, index: Any, vectors: np.ndarray, expansion_search: int = HNSW_EXPANSION_SEARCH
    ) -> None:
        self.index = index
        self.vectors = vectors
        self.index.expansion_search = expansion_search

    @classmethod
    def open(
        cls, path: Path, vectors: np.ndarray, expansion_search: int = HNSW_EXPANSION_SEARCH
    ) -> HnswIndex:
        """Open a saved index; ImportError without usearch, ValueError when it does not fit."""
        from usearch.index import Index

        index = Index.restore(str(path), view=True)
        if index is None or len(index) != len(vectors) or index.ndim != vectors.shape[1]:
            size = "unreadable" if index is None else f"{len(index)} x {index.ndim}"
            raise ValueError(
                f"{path.name} holds {size} vectors, the collection {vectors.shape[0]} x {vectors.shape[1]}"
            )
        return cls(index, vectors, expansion_search)

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Approximate top ``k``; cosines recomputed exactly from the stored vectors."""
        k = min(k, len(self.vectors))
        if k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        found = self.index.search(np.asarray(query, dtype=np.float32), k, threads=1)
        keys = np.asarray(found.keys, dtype=np.uint64)
        ids = keys[keys < len(self.vectors)].astype(np.int64)
        sims = self.vectors[ids] @ np.asarray(query, dtype=np.float32)
        order = np.lexsort((ids, -sims))
        return ids[order], sims[order]


def build_hnsw(
    vectors: np.ndarray,
    path: Path,
    *,
    connectivity: int = HNSW_CONNECTIVITY,
    expansion_add: int = HNSW_EXPANSION_ADD,
    threads: int = 0,
) -> None:
    """Build an inner-product HNSW graph over ``vectors`` (key = row) and save it to ``path``."""
    from usearch.index import Index

    index = Index(
        ndim=int(vectors.shape[1]),
        metric="ip",
        dtype="f32",
        connectivity=connectivity,
        expansion_add=expansion_add,
    )
    index.add(
        np.arange(len(vectors), dtype=np.uint64),
        np.ascontiguousarray(vectors, dtype=np.float32),
        threads=threads,
    )
    index.save(str(path))
