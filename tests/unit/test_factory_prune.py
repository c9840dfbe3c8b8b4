"""Magnitude pruning of weights, MLP students and linear heads."""

from __future__ import annotations

import numpy as np
import pytest

from factory.export import MLPWeights
from factory.heads import Head
from factory.prune import head_table, magnitude_prune, prune_head, prune_mlp


def test_magnitude_prune_zeroes_the_smallest_fraction() -> None:
    w = np.arange(1, 101, dtype=np.float32).reshape(10, 10) * np.where(np.arange(100) % 2, 1, -1).reshape(
        10, 10
    )
    pruned = magnitude_prune(w, 0.3)
    assert np.count_nonzero(pruned) == 70
    assert np.all(np.abs(pruned[pruned != 0]) > 30)
    assert np.count_nonzero(w) == 100  # input untouched


def test_zero_sparsity_is_identity_and_bad_sparsity_rejected() -> None:
    w = np.random.default_rng(0).standard_normal((4, 4)).astype(np.float32)
    assert np.array_equal(magnitude_prune(w, 0.0), w)
    with pytest.raises(ValueError):
        magnitude_prune(w, 1.0)


def test_prune_mlp_and_head_keep_biases() -> None:
    rng = np.random.default_rng(0)
    mlp = MLPWeights(
        hidden=[(rng.standard_normal((8, 4)).astype(np.float32), np.ones(4, np.float32))],
        output=(rng.standard_normal((4, 3)).astype(np.float32), np.ones(3, np.float32)),
    )
    pruned = prune_mlp(mlp, 0.5)
    assert np.count_nonzero(pruned.hidden[0][0]) == 16 and np.count_nonzero(pruned.output[0]) == 6
    assert np.array_equal(pruned.hidden[0][1], mlp.hidden[0][1])
    head = prune_head(
        Head(weight=rng.standard_normal((6, 2)).astype(np.float32), bias=np.ones(2, np.float32)), 0.5
    )
    assert np.count_nonzero(head.weight) == 6 and np.array_equal(head.bias, np.ones(2))


def test_head_table_reports_accuracy_falling_with_sparsity() -> None:
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((3, 16)).astype(np.float32) * 3
    gold = np.repeat(np.arange(3), 20)
    emb = (centres[gold] + rng.standard_normal((60, 16)).astype(np.float32) * 0.3).astype(np.float32)
    head = Head(weight=centres.T.copy(), bias=np.zeros(3, np.float32))
    rows = head_table("toy head", head, emb, gold, sparsities=(0.0, 0.9))
    assert [r.sparsity for r in rows] == [0.0, 0.9]
    assert rows[0].accuracy == 1.0 and rows[1].nonzero_params < rows[0].nonzero_params
    assert all(r.latency_ms_p50 > 0 for r in rows)
