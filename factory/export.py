"""Build an OpenVINO IR from numpy MLP weights with OpenVINO opsets.

Graph: ``FEATURES`` f32 ``[?, D]`` -> (MatMul, Add, Relu) per hidden layer -> ``EMBEDDING``
(the last hidden layer, L2-normalised) and -> MatMul, Add, Softmax -> ``PROBS`` f32 ``[?, L]``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fleet.models.manifest import TensorSpec


@dataclass(frozen=True)
class MLPWeights:
    """Dense layers of an MLP: ``hidden`` is a list of (W [in, out], b [out]) with ReLU after each;
    ``output`` is the final (W [H, L], b [L]) before the softmax."""

    hidden: list[tuple[np.ndarray, np.ndarray]]
    output: tuple[np.ndarray, np.ndarray]

    @property
    def input_dim(self) -> int:
        """Number of input features D."""
        first = self.hidden[0][0] if self.hidden else self.output[0]
        return int(first.shape[0])

    @property
    def embedding_dim(self) -> int:
        """Width of the EMBEDDING output (the last hidden layer)."""
        return int(self.hidden[-1][0].shape[1]) if self.hidden else self.input_dim

    @property
    def num_labels(self) -> int:
        """Number of PROBS columns."""
        return int(self.output[0].shape[1])


def _name_output(node: Any, name: str) -> Any:
    node.set_friendly_name(name)
    node.output(0).get_tensor().set_names({name})
    return node


def build_mlp_model(weights: MLPWeights, *, model_name: str = "edgefleet_mlp") -> Any:
    """An ``openvino.Model`` computing PROBS and EMBEDDING from FEATURES (FP32 constants)."""
    import openvino as ov
    import openvino.opset13 as ops

    features = ops.parameter([-1, weights.input_dim], ov.Type.f32, name="FEATURES")
    features.output(0).get_tensor().set_names({"FEATURES"})
    hidden: Any = features
    for layer, (w, b) in enumerate(weights.hidden):
        matmul = ops.matmul(hidden, ops.constant(np.ascontiguousarray(w, dtype=np.float32)), False, False)
        biased = ops.add(matmul, ops.constant(np.ascontiguousarray(b, dtype=np.float32).reshape(1, -1)))
        hidden = ops.relu(biased, name=f"hidden{layer}")
    embedding = ops.normalize_l2(hidden, ops.constant(np.array([1], dtype=np.int64)), 1e-12, "max")
    _name_output(embedding, "EMBEDDING")
    w_out, b_out = weights.output
    logits = ops.add(
        ops.matmul(hidden, ops.constant(np.ascontiguousarray(w_out, dtype=np.float32)), False, False),
        ops.constant(np.ascontiguousarray(b_out, dtype=np.float32).reshape(1, -1)),
    )
    probs = _name_output(ops.softmax(logits, 1), "PROBS")
    results = [ops.result(probs, name="PROBS_result"), ops.result(embedding, name="EMBEDDING_result")]
    return ov.Model(results, [features], model_name)


def serialize_model(model: Any, *, compress_to_fp16: bool = False) -> tuple[bytes, bytes]:
    """(model.xml bytes, model.bin bytes) of an ``openvino.Model`` via ``ov.save_model``."""
    import openvino as ov

    with tempfile.TemporaryDirectory(prefix="edgefleet-ir-") as tmp:
        xml_path = Path(tmp) / "model.xml"
        ov.save_model(model, str(xml_path), compress_to_fp16=compress_to_fp16)
        return xml_path.read_bytes(), (Path(tmp) / "model.bin").read_bytes()


def export_mlp(weights: MLPWeights, *, model_name: str = "edgefleet_mlp") -> tuple[bytes, bytes]:
    """Serialised FP32 IR (xml, bin) of an MLP."""
    return serialize_model(build_mlp_model(weights, model_name=model_name), compress_to_fp16=False)


def mlp_tensor_specs(weights: MLPWeights) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """Manifest (inputs, outputs) of an exported MLP."""
    inputs = [TensorSpec(name="FEATURES", datatype="FP32", shape=[-1, weights.input_dim])]
    outputs = [
        TensorSpec(name="PROBS", datatype="FP32", shape=[-1, weights.num_labels]),
        TensorSpec(name="EMBEDDING", datatype="FP32", shape=[-1, weights.embedding_dim]),
    ]
    return inputs, outputs


def numpy_forward(weights: MLPWeights, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reference (probs, embedding) computed in numpy, to check an exported IR against."""
    hidden = features.astype(np.float32)
    for w, b in weights.hidden:
        hidden = np.maximum(hidden @ w + b, 0.0)
    logits = hidden @ weights.output[0] + weights.output[1]
    logits = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    norms = np.maximum(np.linalg.norm(hidden, axis=1, keepdims=True), 1e-12)
    return probs.astype(np.float32), (hidden / norms).astype(np.float32)


def stack_layers(layers: Sequence[tuple[np.ndarray, np.ndarray]]) -> MLPWeights:
    """MLPWeights from a flat list of layers (the last one is the output layer)."""
    return MLPWeights(hidden=list(layers[:-1]), output=layers[-1])
