"""factory.train_hashed: learns a toy problem, soft labels, determinism, metrics."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from factory.export import numpy_forward
from factory.metrics import choose_threshold, classifier_metrics
from factory.train_hashed import TrainConfig, forward_probs, train_mlp

SMALL = TrainConfig(hidden=32, epochs=30, batch_size=32, lr=1e-2, dropout=0.0, patience=30, seed=3)


def _toy(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Three classes separable by which block of 30 sparse features is active (XOR-free)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    features = np.zeros((n, 90), dtype=np.float32)
    for row, label in enumerate(labels):
        active = rng.choice(30, 5, replace=False) + 30 * label
        features[row, active] = 1.0
        features[row, rng.choice(90, 2, replace=False)] += 0.5  # noise
    features /= np.linalg.norm(features, axis=1, keepdims=True)
    return features, labels


def test_learns_a_toy_problem_from_sparse_input() -> None:
    x, y = _toy(600, 0)
    xv, yv = _toy(150, 1)
    result = train_mlp(sp.csr_matrix(x), y, 3, sp.csr_matrix(xv), yv, SMALL)
    assert result.val_accuracy > 0.95
    assert len(result.history) == 30 and 1 <= result.best_epoch <= 30
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    probs = forward_probs(result.weights, xv)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(numpy_forward(result.weights, xv)[0], probs, atol=1e-5)


def test_deterministic_for_a_seed() -> None:
    x, y = _toy(200, 0)
    config = TrainConfig(hidden=16, epochs=3, batch_size=32, seed=7)
    first = train_mlp(x, y, 3, x, y, config)
    second = train_mlp(x, y, 3, x, y, config)
    np.testing.assert_array_equal(first.weights.hidden[0][0], second.weights.hidden[0][0])
    np.testing.assert_array_equal(first.weights.output[0], second.weights.output[0])


def test_soft_labels_and_sample_weights() -> None:
    x, y = _toy(400, 2)
    soft = np.full((400, 3), 0.05, dtype=np.float32)
    soft[np.arange(400), y] = 0.9
    result = train_mlp(x, soft, 3, x[:100], soft[:100], SMALL, sample_weight=np.ones(400))
    assert result.val_accuracy > 0.95
    probs = forward_probs(result.weights, x[:100])
    assert probs.max(axis=1).mean() < 0.99  # soft targets keep it from saturating


def test_early_stopping_keeps_best_epoch() -> None:
    x, y = _toy(200, 4)
    config = TrainConfig(hidden=16, epochs=50, batch_size=32, lr=1e-2, patience=2, seed=1)
    result = train_mlp(x, y, 3, x, y, config)
    assert len(result.history) < 50
    best = max(h["val_accuracy"] for h in result.history)
    assert result.val_accuracy == best


def test_threshold_and_metrics() -> None:
    oos = 2
    val_probs = np.array([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.4, 0.35, 0.25], [0.45, 0.3, 0.25]])
    val_labels = np.array([0, 1, oos, oos])
    threshold = choose_threshold(val_probs, val_labels, oos)
    assert 0.45 < threshold <= 0.8
    metrics = classifier_metrics(
        val_probs=val_probs,
        val_labels=val_labels,
        test_probs=val_probs[:2],
        test_labels=val_labels[:2],
        oos_probs=val_probs[2:],
        oos_index=oos,
        extra={"other": val_probs[2:]},
    )
    assert metrics["test_accuracy"] == 1.0 and metrics["oos_recall"] == 0.0
    assert metrics["oos_recall_at_threshold"] == 1.0 and metrics["other_recall_at_threshold"] == 1.0
