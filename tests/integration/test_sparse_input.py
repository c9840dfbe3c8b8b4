"""fleet.serving.sparse_input: a hashed model's first MatMul rewritten over the non-zero features
gives the dense model's outputs (OpenVINO on CPU, a small synthetic IR), texts without features
included; graphs of another shape are left alone."""

from __future__ import annotations

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from fleet.models.featurize import HashedFeaturizer
from fleet.serving.sparse_input import SPARSE_INPUTS, SparseFeatures, sparsify

DIM, HIDDEN, LABELS = 256, 16, 4


def _model(transpose_b: bool = False) -> ov.Model:
    rng = np.random.default_rng(0)
    features = ops.parameter([-1, DIM], ov.Type.f32, name="FEATURES")
    features.get_output_tensor(0).set_names({"FEATURES"})
    w1 = rng.normal(size=(HIDDEN, DIM) if transpose_b else (DIM, HIDDEN)).astype(np.float32)
    hidden = ops.relu(ops.matmul(features, ops.constant(w1), False, transpose_b))
    logits = ops.matmul(
        hidden, ops.constant(rng.normal(size=(HIDDEN, LABELS)).astype(np.float32)), False, False
    )
    probs = ops.softmax(logits, 1)
    probs.get_output_tensor(0).set_names({"PROBS"})
    return ov.Model([probs], [features], "student")


def _run(model: ov.Model, inputs: dict[str, np.ndarray]) -> np.ndarray:
    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    return np.asarray(compiled(inputs)[compiled.output(0)])


def test_sparse_first_layer_matches_the_dense_model() -> None:
    featurizer = HashedFeaturizer(dim=DIM)
    texts = ["what is my balance", "", "transfer money to my savings account please", "hi", "!!!"]
    dense = _run(_model(), featurizer(texts))
    sparse_model = sparsify(_model())
    assert sparse_model is not None
    assert {p.get_any_name() for p in sparse_model.inputs} == set(SPARSE_INPUTS)
    sparse = _run(sparse_model, SparseFeatures(featurizer)(texts))
    assert sparse.shape == (len(texts), LABELS)
    np.testing.assert_allclose(sparse, dense, atol=1e-5)


def test_padding_keeps_the_input_width_a_multiple_of_pad() -> None:
    from fleet.serving.sparse_input import PAD

    inputs = SparseFeatures(HashedFeaturizer(dim=DIM))(["one two three", "four"])
    width = len(inputs["FEATURE_INDICES"])
    assert width % PAD == 0 and len(inputs["FEATURE_ROWS"]) == width == len(inputs["FEATURE_VALUES"])
    assert inputs["FEATURE_COUNT"].tolist() == [2]


def test_other_graphs_are_left_alone() -> None:
    assert sparsify(_model(transpose_b=True)) is None
    assert sparsify(_model(), input_name="input_ids") is None
