"""Evaluation metrics recorded in model manifests (accuracy, out-of-scope recall, threshold)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

THRESHOLD_GRID = tuple(round(t, 2) for t in np.arange(0.0, 0.96, 0.05))


def predict_with_threshold(probs: np.ndarray, oos_index: int, threshold: float) -> np.ndarray:
    """Argmax class ids, replaced by ``oos_index`` where the top probability is below ``threshold``."""
    predicted = probs.argmax(axis=1)
    return np.where(probs.max(axis=1) < threshold, oos_index, predicted)


def choose_threshold(val_probs: np.ndarray, val_labels: np.ndarray, oos_index: int) -> float:
    """The confidence threshold (from a 0.05 grid) that maximises, on validation, the mean of
    in-scope accuracy and oos recall when low-confidence predictions count as out-of-scope (a
    balanced score: validation has far fewer oos than in-scope examples); ties go lower."""
    in_scope = val_labels != oos_index
    best_threshold, best_score = 0.0, -1.0
    for threshold in THRESHOLD_GRID:
        correct = predict_with_threshold(val_probs, oos_index, threshold) == val_labels
        parts = [float(correct[mask].mean()) for mask in (in_scope, ~in_scope) if mask.any()]
        score = sum(parts) / len(parts) if parts else 0.0
        if score > best_score + 1e-9:
            best_threshold, best_score = threshold, score
    return best_threshold


def classifier_metrics(
    *,
    val_probs: np.ndarray,
    val_labels: np.ndarray,
    test_probs: np.ndarray,
    test_labels: np.ndarray,
    oos_probs: np.ndarray,
    oos_index: int,
    extra: Mapping[str, np.ndarray] | None = None,
) -> dict[str, float]:
    """Manifest metrics of a classifier with an ``oos`` class.

    - ``test_accuracy``: argmax accuracy on the in-scope (in-domain) test split;
    - ``oos_recall``: share of ``oos_test`` predicted ``oos`` by argmax;
    - ``oos_threshold``: confidence threshold chosen on validation (see choose_threshold), with
      ``test_accuracy_at_threshold`` and ``oos_recall_at_threshold`` using it;
    - ``<name>_recall`` (+ ``_at_threshold``) for each extra set that should all be ``oos``.
    """
    threshold = choose_threshold(val_probs, val_labels, oos_index)
    metrics: dict[str, float] = {
        "test_accuracy": float((test_probs.argmax(axis=1) == test_labels).mean())
        if len(test_labels)
        else 0.0,
        "oos_recall": float((oos_probs.argmax(axis=1) == oos_index).mean()) if len(oos_probs) else 0.0,
        "oos_threshold": threshold,
        "test_accuracy_at_threshold": float(
            (predict_with_threshold(test_probs, oos_index, threshold) == test_labels).mean()
        )
        if len(test_labels)
        else 0.0,
        "oos_recall_at_threshold": float(
            (predict_with_threshold(oos_probs, oos_index, threshold) == oos_index).mean()
        )
        if len(oos_probs)
        else 0.0,
    }
    for name, probs in (extra or {}).items():
        metrics[f"{name}_recall"] = float((probs.argmax(axis=1) == oos_index).mean()) if len(probs) else 0.0
        metrics[f"{name}_recall_at_threshold"] = (
            float((predict_with_threshold(probs, oos_index, threshold) == oos_index).mean())
            if len(probs)
            else 0.0
        )
    return {k: round(v, 4) for k, v in metrics.items()}
