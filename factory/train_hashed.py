"""A small numpy MLP trainer for hashed (sparse) text features.

``features -> hidden (ReLU) -> labels (softmax)``, trained with minibatch Adam on cross-entropy
against hard labels (int class ids) or soft labels (probability rows, for distillation), with
optional per-example weights, hidden dropout, a fixed seed (deterministic results) and early
stopping on a validation split. Inputs may be a dense ndarray or a scipy CSR matrix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from factory.export import MLPWeights

ProgressFn = Callable[[int, int, float], None]  # (epoch, epochs, val_accuracy)


@dataclass(frozen=True)
class TrainConfig:
    """Trainer hyper-parameters (all part of a model's build hash)."""

    hidden: int = 256
    epochs: int = 10
    batch_size: int = 256
    lr: float = 4e-3
    weight_decay: float = 0.0
    dropout: float = 0.2
    patience: int = 2
    seed: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Plain dict of the hyper-parameters."""
        return dict(self.__dict__)


@dataclass
class TrainResult:
    """Best weights (by validation accuracy) and the per-epoch history."""

    weights: MLPWeights
    best_epoch: int
    val_accuracy: float
    history: list[dict[str, float]] = field(default_factory=list)


def _targets(labels: np.ndarray, num_labels: int) -> np.ndarray:
    """One-hot float32 rows for int labels; soft label rows are passed through (renormalised)."""
    if labels.ndim == 1:
        onehot = np.zeros((labels.shape[0], num_labels), dtype=np.float32)
        onehot[np.arange(labels.shape[0]), labels.astype(np.int64)] = 1.0
        return onehot
    if labels.shape[1] != num_labels:
        raise ValueError(f"soft labels have {labels.shape[1]} columns, expected {num_labels}")
    sums = labels.sum(axis=1, keepdims=True)
    return (labels / np.where(sums > 0, sums, 1.0)).astype(np.float32)


def forward_probs(weights: MLPWeights, features: Any, chunk: int = 2048) -> np.ndarray:
    """Softmax probabilities [N, L] for dense or CSR features (numpy reference forward)."""
    out = []
    for start in range(0, features.shape[0], chunk):
        hidden = features[start : start + chunk]
        for w, b in weights.hidden:
            hidden = np.maximum(hidden @ w + b, 0.0)
        logits = np.asarray(hidden @ weights.output[0] + weights.output[1])
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        out.append(probs / probs.sum(axis=1, keepdims=True))
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, weights.num_labels), np.float32)


class _Adam:
    """Adam over a list of float32 arrays, updated in place with few temporaries."""

    def __init__(self, params: list[np.ndarray], lr: float, weight_decay: float) -> None:
        self.params = params
        self.lr = lr
        self.weight_decay = weight_decay
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t = 0
        self.beta1, self.beta2, self.eps = 0.9, 0.999, 1e-8

    def step(self, grads: list[np.ndarray]) -> None:
        """One Adam update of every parameter from its gradient."""
        self.t += 1
        scale = float(self.lr * np.sqrt(1 - self.beta2**self.t) / (1 - self.beta1**self.t))
        for p, g, m, v in zip(self.params, grads, self.m, self.v, strict=True):
            if self.weight_decay and p.ndim == 2:
                g = g + self.weight_decay * p
            tmp = np.multiply(g, 1 - self.beta1)
            m *= self.beta1
            m += tmp
            np.multiply(g, g, out=tmp)
            tmp *= 1 - self.beta2
            v *= self.beta2
            v += tmp
            np.sqrt(v, out=tmp)
            tmp += self.eps
            np.divide(m, tmp, out=tmp)
            tmp *= scale
            p -= tmp


@contextmanager
def _single_threaded_blas() -> Iterator[None]:
    """Small matmuls run much faster on one BLAS thread, above all on a busy 2-core machine."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # threadpoolctl comes with scikit-learn (the build extra)
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def train_mlp(
    x_train: Any,
    y_train: np.ndarray,
    num_labels: int,
    x_val: Any,
    y_val: np.ndarray,
    config: TrainConfig = TrainConfig(),
    *,
    sample_weight: np.ndarray | None = None,
    progress: ProgressFn | None = None,
) -> TrainResult:
    """Train ``features -> hidden -> softmax`` and return the best-on-validation weights.

    ``y_train``/``y_val`` are int class ids [N] or soft label rows [N, L]; validation accuracy
    compares argmaxes. ``sample_weight`` scales each example's loss (e.g. class balancing).
    """
    with _single_threaded_blas():
        return _train(x_train, y_train, num_labels, x_val, y_val, config, sample_weight, progress)


def _train(
    x_train: Any,
    y_train: np.ndarray,
    num_labels: int,
    x_val: Any,
    y_val: np.ndarray,
    config: TrainConfig,
    sample_weight: np.ndarray | None,
    progress: ProgressFn | None,
) -> TrainResult:
    rng = np.random.default_rng(config.seed)
    n, dim = x_train.shape
    targets = _targets(np.asarray(y_train), num_labels)
    val_true = np.asarray(y_val) if np.asarray(y_val).ndim == 1 else np.asarray(y_val).argmax(axis=1)
    weights_per_example = (
        np.ones(n, dtype=np.float32) if sample_weight is None else np.asarray(sample_weight, dtype=np.float32)
    )
    if hasattr(x_train, "tocsr"):
        x_train = x_train.tocsr()
    w1 = (rng.standard_normal((dim, config.hidden)) * np.sqrt(2.0 / max(dim, 1)) * 4.0).astype(np.float32)
    b1 = np.zeros(config.hidden, dtype=np.float32)
    w2 = (rng.standard_normal((config.hidden, num_labels)) * np.sqrt(1.0 / config.hidden)).astype(np.float32)
    b2 = np.zeros(num_labels, dtype=np.float32)
    adam = _Adam([w1, b1, w2, b2], config.lr, config.weight_decay)
    best = (-1.0, 0, [a.copy() for a in (w1, b1, w2, b2)])
    history: list[dict[str, float]] = []
    stale = 0
    for epoch in range(1, config.epochs + 1):
        order = rng.permutation(n)
        total_loss = 0.0
        for start in range(0, n, config.batch_size):
            idx = order[start : start + config.batch_size]
            yb, sw = targets[idx], weights_per_example[idx]
            xb = x_train[idx]
            pre = np.asarray(xb @ w1, dtype=np.float32) + b1
            hidden = np.maximum(pre, 0.0)
            if config.dropout > 0:
                keep = (rng.random(hidden.shape) >= config.dropout).astype(np.float32) / (1 - config.dropout)
                hidden *= keep
            logits = hidden @ w2 + b2
            logits -= logits.max(axis=1, keepdims=True)
            probs = np.exp(logits)
            probs /= probs.sum(axis=1, keepdims=True)
            norm = float(sw.sum()) or 1.0
            total_loss += float(-(sw[:, None] * yb * np.log(probs + 1e-9)).sum())
            d_logits = (probs - yb) * (sw[:, None] / norm)
            g_w2 = hidden.T @ d_logits
            g_b2 = d_logits.sum(axis=0)
            d_hidden = d_logits @ w2.T
            if config.dropout > 0:
                d_hidden *= keep
            d_hidden[pre <= 0] = 0.0
            g_b1 = d_hidden.sum(axis=0)
            g_w1 = np.asarray(xb.T @ d_hidden, dtype=np.float32)
            adam.step([g_w1, g_b1.astype(np.float32), g_w2.astype(np.float32), g_b2.astype(np.float32)])
        current = MLPWeights(hidden=[(w1, b1)], output=(w2, b2))
        val_acc = (
            float((forward_probs(current, x_val).argmax(axis=1) == val_true).mean()) if len(val_true) else 0.0
        )
        history.append({"epoch": float(epoch), "loss": total_loss / max(n, 1), "val_accuracy": val_acc})
        if progress is not None:
            progress(epoch, config.epochs, val_acc)
        if val_acc > best[0]:
            best = (val_acc, epoch, [a.copy() for a in (w1, b1, w2, b2)])
            stale = 0
        else:
            stale += 1
            if stale >= config.patience:
                break
    bw1, bb1, bw2, bb2 = best[2]
    return TrainResult(
        weights=MLPWeights(hidden=[(bw1, bb1)], output=(bw2, bb2)),
        best_epoch=best[1],
        val_accuracy=best[0],
        history=history,
    )
