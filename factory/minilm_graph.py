"""all-MiniLM-L6-v2 as an OpenVINO graph, built with opsets straight from ``model.safetensors``.

No torch and no transformers: the BERT math (embeddings, 6 x [self-attention + GELU FFN], mean
pooling over ``attention_mask``, L2 normalisation) is written once with OpenVINO ops
(:func:`build_encoder_model`) and once in numpy (:func:`reference_embed`) so the two can be checked
against each other. An optional classification head (``probs = softmax(emb @ W + b)``) can be folded
into any encoder model, FP32 or INT8, with :func:`attach_head`.

IR interface: inputs ``input_ids`` and ``attention_mask`` (i64 ``[N, T]``; ``token_type_ids`` is not
declared, segment 0 is baked in), outputs ``EMBEDDING`` (f32 ``[N, 384]``) and, with a head,
``PROBS`` (f32 ``[N, L]``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov
import openvino.opset13 as ops

EMBEDDING_OUTPUT = "EMBEDDING"
PROBS_OUTPUT = "PROBS"
MASK_BIAS = -10000.0  # added to attention scores of padding positions (BERT's convention)


@dataclass(frozen=True)
class BertConfig:
    """The few hyper-parameters of a BERT encoder that the graph needs."""

    hidden: int = 384
    heads: int = 12
    layers: int = 6
    intermediate: int = 1536
    eps: float = 1e-12

    @classmethod
    def from_json(cls, path: Path) -> BertConfig:
        """Read a HuggingFace ``config.json``."""
        raw: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(
            hidden=int(raw["hidden_size"]),
            heads=int(raw["num_attention_heads"]),
            layers=int(raw["num_hidden_layers"]),
            intermediate=int(raw["intermediate_size"]),
            eps=float(raw.get("layer_norm_eps", 1e-12)),
        )


Weights = dict[str, np.ndarray]


def load_weights(model_dir: Path) -> tuple[Weights, BertConfig]:
    """Load ``model.safetensors`` (as numpy float32) and ``config.json`` from ``model_dir``."""
    from safetensors.numpy import load_file

    raw = load_file(str(Path(model_dir) / "model.safetensors"))
    weights = {k: v.astype(np.float32) for k, v in raw.items() if v.dtype.kind == "f"}
    return weights, BertConfig.from_json(Path(model_dir) / "config.json")


def _const(array: np.ndarray | np.floating | float | list[int]) -> ov.Node:
    arr = np.asarray(array)
    if arr.dtype.kind == "f":
        arr = arr.astype(np.float32)
    return ops.constant(arr)


def _layer_norm(x: ov.Output, w: Weights, prefix: str, eps: float) -> ov.Node:
    normed = ops.mvn(x, _const(np.array([-1], dtype=np.int64)), True, eps, "inside_sqrt")
    return ops.add(ops.multiply(normed, _const(w[f"{prefix}.weight"])), _const(w[f"{prefix}.bias"]))


def _dense(x: ov.Output, w: Weights, prefix: str) -> ov.Node:
    """``x @ W.T + b`` with a torch-layout (out, in) weight."""
    return ops.add(ops.matmul(x, _const(w[f"{prefix}.weight"]), False, True), _const(w[f"{prefix}.bias"]))


def _split_heads(x: ov.Output, cfg: BertConfig) -> ov.Node:
    head_dim = cfg.hidden // cfg.heads
    shaped = ops.reshape(x, _const(np.array([0, 0, cfg.heads, head_dim], dtype=np.int64)), True)
    return ops.transpose(shaped, _const(np.array([0, 2, 1, 3], dtype=np.int64)))


def _attention(x: ov.Output, mask_bias: ov.Output, w: Weights, prefix: str, cfg: BertConfig) -> ov.Node:
    q = _split_heads(_dense(x, w, f"{prefix}.self.query").output(0), cfg)
    k = _split_heads(_dense(x, w, f"{prefix}.self.key").output(0), cfg)
    v = _split_heads(_dense(x, w, f"{prefix}.self.value").output(0), cfg)
    scale = _const(np.float32(1.0 / math.sqrt(cfg.hidden // cfg.heads)))
    scores = ops.add(ops.multiply(ops.matmul(q, k, False, True), scale), mask_bias)
    context = ops.matmul(ops.softmax(scores, -1), v, False, False)
    merged = ops.reshape(
        ops.transpose(context, _const(np.array([0, 2, 1, 3], dtype=np.int64))),
        _const(np.array([0, 0, cfg.hidden], dtype=np.int64)),
        True,
    )
    attended = _dense(merged.output(0), w, f"{prefix}.output.dense")
    return _layer_norm(ops.add(attended, x).output(0), w, f"{prefix}.output.LayerNorm", cfg.eps)


def _layer(x: ov.Output, mask_bias: ov.Output, w: Weights, index: int, cfg: BertConfig) -> ov.Node:
    prefix = f"encoder.layer.{index}"
    attended = _attention(x, mask_bias, w, f"{prefix}.attention", cfg).output(0)
    hidden = ops.gelu(_dense(attended, w, f"{prefix}.intermediate.dense"), "erf")
    out = _dense(hidden.output(0), w, f"{prefix}.output.dense")
    return _layer_norm(ops.add(out, attended).output(0), w, f"{prefix}.output.LayerNorm", cfg.eps)


def build_encoder_model(weights: Weights, cfg: BertConfig) -> ov.Model:
    """The sentence encoder as an ``ov.Model``: token ids + mask -> L2-normalised mean-pooled embedding."""
    input_ids = ops.parameter([-1, -1], ov.Type.i64, name="input_ids")
    attention_mask = ops.parameter([-1, -1], ov.Type.i64, name="attention_mask")
    input_ids.output(0).get_tensor().set_names({"input_ids"})
    attention_mask.output(0).get_tensor().set_names({"attention_mask"})

    axis0 = _const(np.array(0, dtype=np.int64))
    words = ops.gather(_const(weights["embeddings.word_embeddings.weight"]), input_ids, axis0)
    seq_len = ops.gather(ops.shape_of(input_ids), _const(np.array(1, dtype=np.int64)), axis0)
    positions = ops.range(
        _const(np.array(0, dtype=np.int64)), seq_len, _const(np.array(1, dtype=np.int64)), "i64"
    )
    pos_emb = ops.gather(_const(weights["embeddings.position_embeddings.weight"]), positions, axis0)
    type_emb = _const(weights["embeddings.token_type_embeddings.weight"][0])
    summed = ops.add(ops.add(words, pos_emb), type_emb)
    x = _layer_norm(summed.output(0), weights, "embeddings.LayerNorm", cfg.eps).output(0)

    mask_f = ops.convert(attention_mask, "f32")
    mask_bias = ops.multiply(
        ops.subtract(
            _const(np.float32(1.0)), ops.unsqueeze(mask_f, _const(np.array([1, 2], dtype=np.int64)))
        ),
        _const(np.float32(MASK_BIAS)),
    ).output(0)
    for index in range(cfg.layers):
        x = _layer(x, mask_bias, weights, index, cfg).output(0)

    mask3 = ops.unsqueeze(mask_f, _const(np.array([2], dtype=np.int64)))
    summed_tokens = ops.reduce_sum(ops.multiply(x, mask3), _const(np.array([1], dtype=np.int64)), False)
    counts = ops.maximum(
        ops.reduce_sum(mask3, _const(np.array([1], dtype=np.int64)), False), _const(np.float32(1e-9))
    )
    pooled = ops.divide(summed_tokens, counts)
    embedding = ops.normalize_l2(pooled, _const(np.array([1], dtype=np.int64)), 1e-12, "max")
    result = ops.result(embedding)
    result.output(0).get_tensor().set_names({EMBEDDING_OUTPUT})
    embedding.output(0).get_tensor().set_names({EMBEDDING_OUTPUT})
    return ov.Model([result], [input_ids, attention_mask], "minilm-l6-encoder")


def attach_head(
    encoder: ov.Model, weight: np.ndarray, bias: np.ndarray, name: str, projection: np.ndarray | None = None
) -> ov.Model:
    """A copy of ``encoder`` with ``PROBS = softmax(EMBEDDING @ weight + bias)`` added as an output.

    ``weight`` is ``[D, L]``; ``projection`` (``[L, K]``, optional) maps the probabilities onto K
    coarser labels (e.g. intents summed into domains). Works on FP32 and quantised encoders alike
    (the head stays FP32).
    """
    model = encoder.clone()
    embedding_result = next(r for r in model.get_results() if EMBEDDING_OUTPUT in r.output(0).get_names())
    embedding = embedding_result.input_value(0)
    logits = ops.add(ops.matmul(embedding, _const(weight), False, False), _const(bias))
    probs = ops.softmax(logits, -1)
    if projection is not None:
        probs = ops.matmul(probs, _const(projection), False, False)
    probs.output(0).get_tensor().set_names({PROBS_OUTPUT})
    probs_result = ops.result(probs)
    probs_result.output(0).get_tensor().set_names({PROBS_OUTPUT})
    return ov.Model([probs_result, embedding_result], model.get_parameters(), name)


# ---------------------------------------------------------------- numpy reference of the same math


def _np_layer_norm(x: np.ndarray, w: Weights, prefix: str, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w[f"{prefix}.weight"] + w[f"{prefix}.bias"]


def _np_dense(x: np.ndarray, w: Weights, prefix: str) -> np.ndarray:
    return x @ w[f"{prefix}.weight"].T + w[f"{prefix}.bias"]


def _np_gelu(x: np.ndarray) -> np.ndarray:
    from math import erf

    return 0.5 * x * (1.0 + np.vectorize(erf)(x / math.sqrt(2.0)))


def reference_embed(weights: Weights, cfg: BertConfig, input_ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The encoder in plain numpy (float64), for checking the OpenVINO graph; ``[N, hidden]``."""
    w = {k: v.astype(np.float64) for k, v in weights.items()}
    n, t = input_ids.shape
    x = w["embeddings.word_embeddings.weight"][input_ids] + w["embeddings.position_embeddings.weight"][:t]
    x = _np_layer_norm(
        x + w["embeddings.token_type_embeddings.weight"][0], w, "embeddings.LayerNorm", cfg.eps
    )
    head_dim = cfg.hidden // cfg.heads
    bias = (1.0 - mask[:, None, None, :].astype(np.float64)) * MASK_BIAS
    for i in range(cfg.layers):
        p = f"encoder.layer.{i}"

        def heads(h: np.ndarray) -> np.ndarray:
            return h.reshape(n, t, cfg.heads, head_dim).transpose(0, 2, 1, 3)

        q, k, v = (heads(_np_dense(x, w, f"{p}.attention.self.{s}")) for s in ("query", "key", "value"))
        scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(head_dim) + bias
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        ctx = (scores / scores.sum(-1, keepdims=True)) @ v
        ctx = ctx.transpose(0, 2, 1, 3).reshape(n, t, cfg.hidden)
        x = _np_layer_norm(
            _np_dense(ctx, w, f"{p}.attention.output.dense") + x,
            w,
            f"{p}.attention.output.LayerNorm",
            cfg.eps,
        )
        ffn = _np_dense(_np_gelu(_np_dense(x, w, f"{p}.intermediate.dense")), w, f"{p}.output.dense")
        x = _np_layer_norm(ffn + x, w, f"{p}.output.LayerNorm", cfg.eps)
    m = mask[:, :, None].astype(np.float64)
    pooled = (x * m).sum(1) / np.maximum(m.sum(1), 1e-9)
    return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
