"""Sparse input for hashed n-gram models: the first layer over the non-zero features only.

A hashed featuriser yields ~50-150 non-zero buckets out of 8,192 per text, and the student IR starts
with ``MatMul(FEATURES [N, dim], W [dim, H])``: at batch 1 that multiplies a mostly-zero row by 8 MB
of weights (~0.3 ms, memory-bound). :func:`sparsify` rewrites the graph at load time so that this
product reads only the rows of W of the batch's non-zero buckets (a Gather, scaled, summed per text
with a ScatterNDUpdate): the same weights and the same sum (up to float summation order), in ~1/50
of the work. The IR's other inputs and every output stay as they are. When the graph does not start
with that pattern the model is left alone (``None``), and the dense path is used.

:class:`SparseFeatures` turns the featuriser's COO parts into the three new inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

SPARSE_INPUTS = ("FEATURE_INDICES", "FEATURE_ROWS", "FEATURE_VALUES", "FEATURE_COUNT")
PAD = 32  # non-zeros are padded (zero weight) to a multiple of this: fewer distinct input shapes


def sparsify(model: Any, input_name: str = "FEATURES") -> Any | None:
    """`model` (an ``ov.Model``) with its dense `input_name` replaced by the sparse inputs
    :data:`SPARSE_INPUTS`, or None when the first layer is not ``MatMul(input, Constant[dim, H])``.

    ``FEATURE_INDICES`` / ``FEATURE_ROWS`` / ``FEATURE_VALUES`` (``[nnz]``) are the batch's non-zero
    buckets, the text each belongs to and its value, ``FEATURE_COUNT`` (``[1]``) the number of texts.
    The first layer becomes ``ScatterNDUpdate(zeros[N, H], rows, Gather(W, indices) * values,
    reduction=sum)``: only the rows of W that are used are read, each once.
    """
    import openvino as ov
    import openvino.opset15 as ops

    params = [p for p in model.get_parameters() if p.get_output_tensor(0).get_names() & {input_name}]
    if len(params) != 1:
        return None
    param = params[0]
    consumers = list(param.output(0).get_target_inputs())
    if len(consumers) != 1:
        return None
    matmul = consumers[0].get_node()
    if matmul.get_type_name() != "MatMul" or consumers[0].get_index() != 0:
        return None
    attrs = matmul.get_attributes()
    if attrs.get("transpose_a") or attrs.get("transpose_b"):
        return None
    weights = matmul.input_value(1).get_node()
    shape = weights.get_output_shape(0)
    if weights.get_type_name() != "Constant" or len(shape) != 2:
        return None
    indices = ops.parameter([-1], ov.Type.i32, name=SPARSE_INPUTS[0])
    rows = ops.parameter([-1], ov.Type.i32, name=SPARSE_INPUTS[1])
    values = ops.parameter([-1], ov.Type.f32, name=SPARSE_INPUTS[2])
    count = ops.parameter([1], ov.Type.i64, name=SPARSE_INPUTS[3])
    new_params = (indices, rows, values, count)
    for node, name in zip(new_params, SPARSE_INPUTS, strict=True):
        node.get_output_tensor(0).set_names({name})
    axis1 = ops.constant(np.int32(1))
    gathered = ops.gather(weights.output(0), indices, ops.constant(np.int32(0)))
    scaled = ops.multiply(gathered, ops.unsqueeze(values, axis1))
    out_shape = ops.concat([count, ops.constant(np.array([shape[1]], dtype=np.int64))], 0)
    zeros = ops.broadcast(ops.constant(np.float32(0.0)), out_shape)
    first = ops.scatter_nd_update(zeros, ops.unsqueeze(rows, axis1), scaled, reduction="sum")
    for target in list(matmul.output(0).get_target_inputs()):
        target.replace_source_output(first.output(0))
    others = [p for p in model.get_parameters() if p is not param]
    return ov.Model(model.get_results(), [*others, *new_params], model.get_friendly_name())


class SparseFeatures:
    """A hashed featuriser's output as the inputs of a :func:`sparsify`-ed model."""

    input_names: tuple[str, ...] = SPARSE_INPUTS

    def __init__(self, featurizer: Any) -> None:
        self.featurizer = featurizer

    def __call__(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """The batch's non-zero buckets, their texts and values (padded), and the number of texts."""
        rows, cols, values = self.featurizer.sparse_batch(texts)
        width = max(PAD, -(-len(cols) // PAD) * PAD)
        nnz = len(cols)
        indices = np.zeros(width, dtype=np.int32)
        indices[:nnz] = cols
        text_of = np.zeros(width, dtype=np.int32)
        text_of[:nnz] = rows
        weights = np.zeros(width, dtype=np.float32)
        weights[:nnz] = values
        return {
            SPARSE_INPUTS[0]: indices,
            SPARSE_INPUTS[1]: text_of,
            SPARSE_INPUTS[2]: weights,
            SPARSE_INPUTS[3]: np.array([len(texts)], dtype=np.int64),
        }
