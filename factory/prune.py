"""Unstructured magnitude pruning of students (MLP weights) and heads (linear weights), and the
sparsity vs accuracy vs latency table.

Latency is measured on the exported IR; OpenVINO's CPU plugin on AVX2 runs zeroed weights as dense
ones, so pruning is expected to change accuracy and compressed size, not speed. The table shows it.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from factory.export import MLPWeights, build_mlp_model
from factory.heads import Head

SPARSITIES = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95)


def magnitude_prune(weight: np.ndarray, sparsity: float) -> np.ndarray:
    """A copy of ``weight`` with the ``sparsity`` fraction of smallest-magnitude entries set to 0."""
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity}")
    out = np.array(weight, dtype=np.float32, copy=True)
    k = round(out.size * sparsity)
    if k == 0:
        return out
    cutoff = np.partition(np.abs(out).ravel(), k - 1)[k - 1]
    out[np.abs(out) <= cutoff] = 0.0
    return out


def prune_mlp(weights: MLPWeights, sparsity: float) -> MLPWeights:
    """Prune every weight matrix of an MLP (biases kept)."""
    return MLPWeights(
        hidden=[(magnitude_prune(w, sparsity), b) for w, b in weights.hidden],
        output=(magnitude_prune(weights.output[0], sparsity), weights.output[1]),
    )


def prune_head(head: Head, sparsity: float) -> Head:
    """Prune a linear head's weight matrix (bias kept)."""
    return Head(weight=magnitude_prune(head.weight, sparsity), bias=head.bias)


@dataclass(frozen=True)
class PruneRow:
    """One line of the pruning table."""

    model: str
    kind: str  # "student" | "head"
    sparsity: float
    accuracy: float
    nonzero_params: int
    gzip_mb: float  # size of the weights after gzip: what sparsity buys on disk/over the wire
    latency_ms_p50: float  # batch 1, CPU

    def as_dict(self) -> dict[str, float | str | int]:
        """Plain dict for JSON."""
        return asdict(self)


def _gzip_mb(arrays: Sequence[np.ndarray]) -> float:
    return sum(len(gzip.compress(a.astype(np.float32).tobytes(), 6)) for a in arrays) / 1e6


def _latency_ms(model: object, feed: dict[str, np.ndarray], runs: int = 60) -> float:
    import openvino as ov

    config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}  # as `models eval` times
    compiled = ov.Core().compile_model(model, "CPU", config)
    request = compiled.create_infer_request()
    for _ in range(5):
        request.infer(feed)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        request.infer(feed)
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1e3)


def student_table(
    name: str,
    weights: MLPWeights,
    accuracy_of: Callable[[MLPWeights], float],
    sample_features: np.ndarray,
    sparsities: Sequence[float] = SPARSITIES,
) -> list[PruneRow]:
    """Pruning table of a student: accuracy by ``accuracy_of`` and IR latency on one feature row."""
    rows = []
    for s in sparsities:
        pruned = prune_mlp(weights, s)
        arrays = [w for w, _ in pruned.hidden] + [pruned.output[0]]
        latency = _latency_ms(build_mlp_model(pruned), {"FEATURES": sample_features[:1].astype(np.float32)})
        rows.append(
            PruneRow(
                name,
                "student",
                s,
                accuracy_of(pruned),
                int(sum(np.count_nonzero(a) for a in arrays)),
                round(_gzip_mb(arrays), 3),
                round(latency, 4),
            )
        )
    return rows


def head_table(
    name: str, head: Head, embeddings: np.ndarray, gold: np.ndarray, sparsities: Sequence[float] = SPARSITIES
) -> list[PruneRow]:
    """Pruning table of a head on frozen embeddings (latency: the head alone, batch 1)."""
    import openvino as ov
    import openvino.opset13 as ops

    rows = []
    for s in sparsities:
        pruned = prune_head(head, s)
        accuracy = float((pruned.probs(embeddings).argmax(axis=1) == gold).mean())
        x = ops.parameter([-1, head.weight.shape[0]], ov.Type.f32, name="EMBEDDING_IN")
        probs = ops.softmax(
            ops.add(ops.matmul(x, ops.constant(pruned.weight), False, False), ops.constant(pruned.bias)), -1
        )
        latency = _latency_ms(ov.Model([ops.result(probs)], [x], "head"), {"EMBEDDING_IN": embeddings[:1]})
        rows.append(
            PruneRow(
                name,
                "head",
                s,
                accuracy,
                int(np.count_nonzero(pruned.weight)),
                round(_gzip_mb([pruned.weight]), 3),
                round(latency, 4),
            )
        )
    return rows
