"""Dense search: exact top-k ordering and ties, and the HNSW index against brute force."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fleet.retrieval.dense import BruteForceIndex, HnswIndex, build_hnsw, top_k


def _unit(rows: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(rows, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_top_k_orders_best_first_with_ties_by_index() -> None:
    scores = np.array([0.5, 0.9, 0.5, 0.1, 0.9], dtype=np.float32)
    assert top_k(scores, 3).tolist() == [1, 4, 0]
    assert top_k(scores, 10).tolist() == [1, 4, 0, 2, 3]
    assert top_k(scores, 0).tolist() == []


def test_brute_force_is_exact() -> None:
    vectors = _unit(200)
    query = vectors[17] + 0.1 * vectors[3]
    query /= np.linalg.norm(query)
    ids, sims = BruteForceIndex(vectors).search(query, 5)
    expected = np.argsort(-(vectors @ query))[:5]
    assert ids.tolist() == expected.tolist() and ids[0] == 17
    assert sims == pytest.approx((vectors @ query)[expected], rel=1e-6)


def test_hnsw_finds_the_exact_neighbours_of_a_small_set(tmp_path: Path) -> None:
    pytest.importorskip("usearch")
    vectors = _unit(500, 32, seed=1)
    build_hnsw(vectors, tmp_path / "ann.usearch", threads=1)  # one thread: the same graph every run
    index = HnswIndex.open(tmp_path / "ann.usearch", vectors)
    exact = BruteForceIndex(vectors)
    overlap = []
    for row in range(0, 500, 25):
        query = vectors[row]
        ids, sims = index.search(query, 5)
        assert ids[0] == row and sims[0] == pytest.approx(1.0, abs=1e-5)
        overlap.append(len(set(ids.tolist()) & set(exact.search(query, 5)[0].tolist())) / 5)
    assert np.mean(overlap) >= 0.95


def test_hnsw_of_another_size_is_refused(tmp_path: Path) -> None:
    pytest.importorskip("usearch")
    build_hnsw(_unit(50), tmp_path / "ann.usearch")
    with pytest.raises(ValueError, match="50"):
        HnswIndex.open(tmp_path / "ann.usearch", _unit(60))
