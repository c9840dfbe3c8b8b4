"""Hybrid scoring: cosine + weight x normalised BM25, exact and over HNSW candidates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fleet.retrieval.dense import BruteForceIndex, HnswIndex, build_hnsw
from fleet.retrieval.hybrid import hybrid_search, normalised_bm25
from fleet.retrieval.lexical import BM25Index

TEXTS = ["red apples and green pears", "the stock market fell", "apples grow on trees", "pears are sweet"]


def _vectors() -> np.ndarray:
    x = np.eye(4, 8, dtype=np.float32) + 0.05
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_normalised_bm25_is_zero_without_matches() -> None:
    assert normalised_bm25(np.zeros(3, dtype=np.float32)).tolist() == [0.0, 0.0, 0.0]
    assert normalised_bm25(np.array([1.0, 4.0], dtype=np.float32)).tolist() == [0.25, 1.0]


def test_fused_score_is_cosine_plus_weighted_normalised_bm25() -> None:
    vectors = _vectors()
    bm25 = BM25Index.build(TEXTS)
    query = vectors[1]  # dense says "stock market"
    hits = hybrid_search(BruteForceIndex(vectors), vectors, bm25, query, "apples", 4, weight=0.45)
    lexical = normalised_bm25(bm25.scores("apples"))
    cos = vectors @ query
    for hit in hits:
        assert hit.dense == pytest.approx(cos[hit.chunk], abs=1e-6)
        assert hit.lexical == pytest.approx(lexical[hit.chunk], abs=1e-6)
        assert hit.score == pytest.approx(hit.dense + 0.45 * hit.lexical, abs=1e-6)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert hits[0].chunk == 1  # cosine 1.0 beats 0.45 of BM25
    heavy = hybrid_search(BruteForceIndex(vectors), vectors, bm25, query, "apples", 2, weight=2.0)
    assert {h.chunk for h in heavy} == {0, 2}  # the lexical matches win once BM25 weighs more


def test_weight_zero_or_no_bm25_is_dense_only() -> None:
    vectors = _vectors()
    dense_only = hybrid_search(BruteForceIndex(vectors), vectors, None, vectors[2], "apples", 2)
    assert dense_only[0].chunk == 2 and dense_only[0].lexical == 0.0
    zero = hybrid_search(
        BruteForceIndex(vectors), vectors, BM25Index.build(TEXTS), vectors[2], "pears", 2, weight=0.0
    )
    assert [h.chunk for h in zero] == [h.chunk for h in dense_only]


def test_k_larger_than_the_collection_and_empty_queries() -> None:
    vectors = _vectors()
    assert (
        len(hybrid_search(BruteForceIndex(vectors), vectors, BM25Index.build(TEXTS), vectors[0], "", 10)) == 4
    )
    assert hybrid_search(BruteForceIndex(vectors), vectors, None, vectors[0], "x", 0) == []


def test_hnsw_candidates_give_the_exact_fusion_on_a_small_set(tmp_path: Path) -> None:
    pytest.importorskip("usearch")
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(300, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    texts = [f"doc {i} word{i % 7} topic{i % 11}" for i in range(300)]
    bm25 = BM25Index.build(texts)
    build_hnsw(vectors, tmp_path / "ann.usearch", threads=1)  # one thread: the same graph every run
    ann = HnswIndex.open(tmp_path / "ann.usearch", vectors)
    for row in (5, 77, 200):
        exact = hybrid_search(BruteForceIndex(vectors), vectors, bm25, vectors[row], "word3 topic5", 5)
        approx = hybrid_search(ann, vectors, bm25, vectors[row], "word3 topic5", 5)
        assert [h.chunk for h in approx] == [h.chunk for h in exact]
        assert [h.score for h in approx] == pytest.approx([h.score for h in exact], abs=1e-5)
