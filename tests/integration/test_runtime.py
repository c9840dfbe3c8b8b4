"""fleet.serving.runtime with real OpenVINO: built CLINC models classify correctly, device fallback,
inference precision (asked and read back), thread safety, input validation and clear errors for
damaged models."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from factory.data import load_clinc150
from factory.export import MLPWeights, export_mlp, mlp_tensor_specs, numpy_forward
from fleet.errors import ModelLoadError
from fleet.models.featurize import DEFAULT_HASHED_CONFIG, HashedFeaturizer
from fleet.models.manifest import ModelBundle, load_bundle
from fleet.models.registry import write_model_version
from fleet.serving import runtime
from fleet.serving.cpu import cpu_isa
from fleet.serving.runtime import TextModel, available_devices, device_supports_bf16
from tests.fixtures.models import bundle

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def generalist(model_registry: Path) -> TextModel:
    return TextModel.load(bundle(model_registry, "generalist"))


def test_available_devices_lists_cpu() -> None:
    devices = {d.name: d for d in available_devices()}
    assert "CPU" in devices and devices["CPU"].full_name
    assert "FP32" in devices["CPU"].capabilities


def test_generalist_classifies_clinc_test_texts(generalist: TextModel) -> None:
    clinc = load_clinc150()
    sample = clinc.test[::15]  # 300 texts across all intents
    probs = generalist.classify([t for t, _ in sample])
    assert probs.shape == (len(sample), 151) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-4)
    predicted = [generalist.labels[i] for i in probs.argmax(axis=1)]
    accuracy = np.mean([p == intent for p, (_, intent) in zip(predicted, sample, strict=True)])
    assert accuracy > 0.85
    assert generalist.predict_labels(["please freeze my bank account right now"])[0][0] == "freeze_account"
    assert generalist.manifest.metrics["test_accuracy"] > 0.85


def test_embeddings_are_normalised_and_meaningful(generalist: TextModel) -> None:
    vectors = generalist.embed(["freeze my bank account", "block my account please", "what's the weather"])
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-4)
    assert float(vectors[0] @ vectors[1]) > float(vectors[0] @ vectors[2])


def test_router_and_specialist(model_registry: Path) -> None:
    router = TextModel.load(bundle(model_registry, "domain-router"))
    [(domain, _)] = router.predict_labels(["what is my checking account balance"])
    assert domain == "banking"
    banking = TextModel.load(bundle(model_registry, "clinc-banking"))
    assert banking.labels[-1] == "oos" and len(banking.labels) == 16
    labels = [
        label
        for label, _ in banking.predict_labels(
            ["what is my checking account balance", "book me a flight to paris", "play some jazz music"]
        )
    ]
    assert labels == ["balance", "oos", "oos"]
    for name in (f"clinc-{d}" for d in load_clinc150().domain_names):
        assert bundle(model_registry, name).manifest.metrics["test_accuracy"] > 0.75


def test_gpu_preference_falls_back_to_cpu(model_registry: Path) -> None:
    model = TextModel.load(bundle(model_registry, "clinc-travel"), ("GPU",))
    assert model.device == "CPU"
    assert model.fallback_reason == "GPU not present on this node; compiled for CPU"
    assert TextModel.load(bundle(model_registry, "clinc-travel"), ("GPU", "CPU")).fallback_reason is None


def test_f32_precision_is_asked_and_reported(model_registry: Path) -> None:
    model = TextModel.load(bundle(model_registry, "clinc-travel"), precision="f32")
    assert (model.precision, model.inference_precision, model.precision_note) == ("f32", "f32", "")
    assert model.classify(["book a flight"]).shape == (1, len(model.labels))
    default = TextModel.load(bundle(model_registry, "clinc-travel"))
    assert default.precision == "auto" and default.inference_precision in ("f32", "bf16")


@pytest.mark.skipif(
    not device_supports_bf16("CPU"),
    reason=f"this CPU has no BF16 (not in OpenVINO's CPU capabilities; ISA: {' '.join(cpu_isa()) or '-'})",
)
def test_bf16_precision_is_asked_and_reported(model_registry: Path) -> None:
    model = TextModel.load(bundle(model_registry, "clinc-travel"), precision="bf16")
    assert (model.precision, model.inference_precision, model.precision_note) == ("bf16", "bf16", "")
    probs = model.classify(["book a flight", "what is my balance"])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-2)  # bf16 keeps ~3 significant digits
    f32 = TextModel.load(bundle(model_registry, "clinc-travel"), precision="f32")
    assert model.predict_labels(["book a flight"])[0][0] == f32.predict_labels(["book a flight"])[0][0]


def test_bf16_without_cpu_support_compiles_f32_and_says_why(
    model_registry: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime, "device_supports_bf16", lambda device: False)
    model = TextModel.load(bundle(model_registry, "clinc-travel"), precision="bf16")
    assert model.inference_precision == "f32"
    assert "bf16 requested" in model.precision_note and "no BF16" in model.precision_note
    with pytest.raises(ValueError, match="precision must be one of"):
        TextModel.load(bundle(model_registry, "clinc-travel"), precision="fp8")


def test_thread_safe_inference(generalist: TextModel) -> None:
    texts = [t for t, _ in load_clinc150().test[:64]]
    expected = generalist.classify(texts)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda t: generalist.classify([t])[0], texts))
    np.testing.assert_allclose(np.stack(results), expected, atol=1e-5)


def test_bad_input_raises_value_error(generalist: TextModel) -> None:
    with pytest.raises(ValueError, match="not be empty"):
        generalist.classify([])
    with pytest.raises(ValueError, match="not a single string"):
        generalist.classify("freeze my account")
    with pytest.raises(ValueError, match=r"texts\[1\] is int"):
        generalist.classify(["ok", 3])  # type: ignore[list-item]


def test_truncated_weights_raise_model_load_error(model_registry: Path, tmp_path: Path) -> None:
    source = bundle(model_registry, "clinc-meta")
    folder = tmp_path / "clinc-meta" / source.version
    shutil.copytree(model_registry / "clinc-meta" / source.version, folder)
    weights = folder / "model.bin"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ModelLoadError, match=r"model\.bin.*truncated"):
        load_bundle(folder)


def test_unreadable_ir_raises_model_load_error(model_registry: Path) -> None:
    source = bundle(model_registry, "clinc-meta")
    broken = ModelBundle(source.manifest, {**source.files, "model.bin": source.files["model.bin"][:1000]})
    with pytest.raises(ModelLoadError, match="clinc-meta"):
        TextModel.load(broken)
    garbage = ModelBundle(source.manifest, {**source.files, "model.xml": b"<not-ir"})
    with pytest.raises(ModelLoadError, match="cannot read"):
        TextModel.load(garbage)


def test_exported_ir_matches_numpy(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    weights = MLPWeights(
        hidden=[
            (rng.normal(0, 0.1, (8192, 24)).astype(np.float32), rng.normal(0, 0.1, 24).astype(np.float32))
        ],
        output=(rng.normal(0, 0.5, (24, 4)).astype(np.float32), np.zeros(4, np.float32)),
    )
    xml, weights_bin = export_mlp(weights)
    inputs, outputs = mlp_tensor_specs(weights)
    folder = write_model_version(
        tmp_path,
        name="toy",
        version="1",
        task="classify",
        labels=list("abcd"),
        precision="FP32",
        featurizer=DEFAULT_HASHED_CONFIG,
        inputs=inputs,
        outputs=outputs,
        files={"model.xml": xml, "model.bin": weights_bin},
    )
    model = TextModel.load(load_bundle(folder), precision="f32")  # numpy computes in f32
    texts = ["hello there", "transfer money to savings", "x"]
    probs, embedding = numpy_forward(weights, HashedFeaturizer().dense(texts))
    np.testing.assert_allclose(model.classify(texts), probs, atol=1e-5)
    np.testing.assert_allclose(model.embed(texts), embedding, atol=1e-5)


def test_build_is_idempotent_and_content_hashed(tmp_path: Path) -> None:
    from factory.hashed_models import build_default_models, build_summary_rows

    [first] = build_default_models(tmp_path, only=["clinc-meta"], train_limit=10, progress=False)
    manifest = load_bundle(first).manifest
    assert manifest.labels[-1] == "oos" and manifest.data_sha256
    assert {"test_accuracy", "oos_recall", "oos_threshold", "val_accuracy"} <= set(manifest.metrics)
    assert (tmp_path / "clinc-meta" / "latest").read_text().strip() == manifest.version
    stamp = (first / "model.bin").stat().st_mtime_ns
    [again] = build_default_models(tmp_path, only=["clinc-meta"], train_limit=10, progress=False)
    assert again == first and (again / "model.bin").stat().st_mtime_ns == stamp
    [other] = build_default_models(tmp_path, only=["clinc-meta"], train_limit=11, progress=False)
    assert other != first
    assert build_summary_rows([other])[0]["name"] == "clinc-meta"
    with pytest.raises(ValueError, match="unknown default model"):
        build_default_models(tmp_path, only=["nope"], progress=False)
