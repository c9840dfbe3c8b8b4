"""The OpenVINO BERT graph against its numpy reference, on a tiny random BERT (no MiniLM weights).

Compiled with f32 inference precision: OpenVINO's CPU default is bf16 on CPUs with BF16."""

from __future__ import annotations

import numpy as np
import openvino as ov
import pytest

from factory.minilm_graph import BertConfig, attach_head, build_encoder_model, reference_embed

F32 = {"INFERENCE_PRECISION_HINT": "f32"}


def _tiny_weights(cfg: BertConfig, vocab: int = 40, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)

    def r(*shape: int, scale: float = 0.2) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    h, f = cfg.hidden, cfg.intermediate
    w = {
        "embeddings.word_embeddings.weight": r(vocab, h),
        "embeddings.position_embeddings.weight": r(32, h),
        "embeddings.token_type_embeddings.weight": r(2, h),
        "embeddings.LayerNorm.weight": 1 + r(h),
        "embeddings.LayerNorm.bias": r(h),
    }
    for i in range(cfg.layers):
        p = f"encoder.layer.{i}"
        for name in ("query", "key", "value"):
            w[f"{p}.attention.self.{name}.weight"], w[f"{p}.attention.self.{name}.bias"] = r(h, h), r(h)
        w[f"{p}.attention.output.dense.weight"], w[f"{p}.attention.output.dense.bias"] = r(h, h), r(h)
        w[f"{p}.attention.output.LayerNorm.weight"], w[f"{p}.attention.output.LayerNorm.bias"] = (
            1 + r(h),
            r(h),
        )
        w[f"{p}.intermediate.dense.weight"], w[f"{p}.intermediate.dense.bias"] = r(f, h), r(f)
        w[f"{p}.output.dense.weight"], w[f"{p}.output.dense.bias"] = r(h, f), r(h)
        w[f"{p}.output.LayerNorm.weight"], w[f"{p}.output.LayerNorm.bias"] = 1 + r(h), r(h)
    return w


@pytest.fixture(scope="module")
def tiny() -> tuple[dict[str, np.ndarray], BertConfig]:
    cfg = BertConfig(hidden=16, heads=4, layers=2, intermediate=32)
    return _tiny_weights(cfg), cfg


def _inputs() -> tuple[np.ndarray, np.ndarray]:
    ids = np.array([[1, 5, 7, 9, 2, 0, 0], [1, 3, 3, 8, 11, 12, 2]], dtype=np.int64)
    mask = (ids != 0).astype(np.int64)
    return ids, mask


def test_graph_matches_numpy_reference(tiny: tuple[dict[str, np.ndarray], BertConfig]) -> None:
    weights, cfg = tiny
    ids, mask = _inputs()
    compiled = ov.Core().compile_model(build_encoder_model(weights, cfg), "CPU", F32)
    got = compiled({"input_ids": ids, "attention_mask": mask})[compiled.output("EMBEDDING")]
    ref = reference_embed(weights, cfg, ids, mask)
    assert got.shape == (2, cfg.hidden)
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert (got * ref).sum(axis=1).min() > 0.99999


def test_padding_does_not_change_the_embedding(tiny: tuple[dict[str, np.ndarray], BertConfig]) -> None:
    weights, cfg = tiny
    ids, mask = _inputs()
    compiled = ov.Core().compile_model(build_encoder_model(weights, cfg), "CPU", F32)
    padded = compiled({"input_ids": ids, "attention_mask": mask})[compiled.output("EMBEDDING")][0]
    alone = compiled({"input_ids": ids[:1, :5], "attention_mask": mask[:1, :5]})[
        compiled.output("EMBEDDING")
    ][0]
    assert float(padded @ alone) > 0.99999


def test_attach_head_adds_probs_and_keeps_embedding(tiny: tuple[dict[str, np.ndarray], BertConfig]) -> None:
    weights, cfg = tiny
    encoder = build_encoder_model(weights, cfg)
    rng = np.random.default_rng(1)
    w, b = rng.standard_normal((cfg.hidden, 3)).astype(np.float32), np.zeros(3, np.float32)
    model = attach_head(encoder, w, b, "tiny-head")
    names = {out.get_any_name() for out in model.outputs}
    assert names == {"PROBS", "EMBEDDING"}
    assert len(encoder.outputs) == 1  # the encoder itself is untouched
    ids, mask = _inputs()
    compiled = ov.Core().compile_model(model, "CPU", F32)
    result = compiled({"input_ids": ids, "attention_mask": mask})
    probs, emb = result[compiled.output("PROBS")], result[compiled.output("EMBEDDING")]
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    logits = emb @ w + b
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    assert np.allclose(probs, expected / expected.sum(axis=1, keepdims=True), atol=1e-5)
