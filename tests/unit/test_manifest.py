"""fleet.models.manifest + registry: round trip, latest, and clear errors on damaged models."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from fleet.errors import ModelLoadError
from fleet.models.manifest import Manifest, TensorSpec, load_bundle, resolve_model_dir
from fleet.models.registry import list_models, read_manifest, save_bundle, write_latest, write_model_version

FILES = {"model.xml": b"<net/>", "model.bin": b"\x00\x01\x02\x03" * 64, "tokenizer.json": b"{}"}


def _write(registry: Path, version: str = "1", files: dict[str, bytes] | None = None) -> Path:
    return write_model_version(
        registry,
        name="toy",
        version=version,
        task="classify",
        labels=["a", "b", "oos"],
        precision="FP32",
        featurizer={"kind": "hashed", "dim": 16},
        inputs=[TensorSpec(name="FEATURES", datatype="FP32", shape=[-1, 16])],
        outputs=[TensorSpec(name="PROBS", datatype="FP32", shape=[-1, 3])],
        files=files or FILES,
        data_sha256="abc",
        metrics={"test_accuracy": 0.9},
    )


def test_round_trip(tmp_path: Path) -> None:
    folder = _write(tmp_path)
    assert folder == tmp_path / "toy" / "1"
    assert (tmp_path / "toy" / "latest").read_text().strip() == "1"
    bundle = load_bundle(resolve_model_dir(tmp_path, "toy"))
    assert bundle.files == FILES
    assert bundle.manifest.labels == ["a", "b", "oos"] and bundle.manifest.metrics == {"test_accuracy": 0.9}
    assert bundle.manifest.output_names() == ["PROBS"]
    clone = pickle.loads(pickle.dumps(bundle))
    assert clone == bundle
    clone.verify()
    assert Manifest.from_yaml(bundle.manifest.to_yaml()) == bundle.manifest
    assert read_manifest(folder) == bundle.manifest
    assert load_bundle(tmp_path / "toy").manifest.version == "1"  # a model folder loads its latest


def test_latest_and_versions(tmp_path: Path) -> None:
    _write(tmp_path, "1")
    _write(tmp_path, "2")
    assert resolve_model_dir(tmp_path, "toy") == tmp_path / "toy" / "2"
    write_latest(tmp_path, "toy", "1")
    assert resolve_model_dir(tmp_path, "toy") == tmp_path / "toy" / "1"
    assert resolve_model_dir(tmp_path, "toy", "2") == tmp_path / "toy" / "2"
    [entry] = list_models(tmp_path)
    assert (entry.name, entry.latest, entry.versions) == ("toy", "1", ["1", "2"])
    again = save_bundle(tmp_path / "copy", load_bundle(tmp_path / "toy" / "2"))
    assert load_bundle(again).files == FILES


def test_resolve_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="'nope' not found in registry"):
        resolve_model_dir(tmp_path, "nope")
    _write(tmp_path)
    with pytest.raises(ModelLoadError, match="no version '9'"):
        resolve_model_dir(tmp_path, "toy", "9")
    (tmp_path / "toy" / "latest").unlink()
    with pytest.raises(ModelLoadError, match="latest is missing"):
        resolve_model_dir(tmp_path, "toy")


def test_truncated_file_is_named(tmp_path: Path) -> None:
    folder = _write(tmp_path)
    (folder / "model.bin").write_bytes(FILES["model.bin"][:100])
    with pytest.raises(ModelLoadError, match=r"'model\.bin' is corrupt or truncated \(100 bytes\)"):
        load_bundle(folder)


def test_missing_and_empty_files(tmp_path: Path) -> None:
    folder = _write(tmp_path)
    (folder / "tokenizer.json").write_bytes(b"")
    with pytest.raises(ModelLoadError, match=r"'tokenizer.json' is empty"):
        load_bundle(folder)
    (folder / "model.xml").unlink()
    with pytest.raises(ModelLoadError, match=r"model\.xml is missing"):
        load_bundle(folder)
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_bundle(tmp_path / "elsewhere")


def test_bad_manifests(tmp_path: Path) -> None:
    folder = _write(tmp_path)
    manifest = folder / "manifest.yaml"
    original = manifest.read_text()
    manifest.write_text(original + "surprise: 1\n")
    with pytest.raises(ModelLoadError, match="surprise"):
        load_bundle(folder)
    manifest.write_text(original.replace("task: classify", "task: dance"))
    with pytest.raises(ModelLoadError, match=r"invalid manifest.*task"):
        load_bundle(folder)
    manifest.write_text("name: [unclosed")
    with pytest.raises(ModelLoadError, match="not valid YAML"):
        load_bundle(folder)
    manifest.unlink()
    with pytest.raises(ModelLoadError, match=r"manifest.yaml is missing"):
        load_bundle(folder)


def test_manifest_must_list_the_ir(tmp_path: Path) -> None:
    folder = _write(tmp_path, files={"model.xml": b"<net/>", "extra.txt": b"x"})
    with pytest.raises(ModelLoadError, match=r"required file 'model.bin'"):
        load_bundle(folder)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("name: toy", "name: ../../etc"),
        ("version: '1'", "version: '..'"),
        ("  model.bin:", "  ../model.bin:"),
        ("  model.bin:", "  /etc/model.bin:"),
    ],
)
def test_manifests_cannot_point_outside_the_registry(tmp_path: Path, old: str, new: str) -> None:
    """A manifest's name, version and file names become paths: anything that could leave the
    version folder is an invalid manifest, refused before any file is read."""
    folder = _write(tmp_path)
    manifest = folder / "manifest.yaml"
    text = manifest.read_text()
    assert old in text, text
    manifest.write_text(text.replace(old, new, 1))
    with pytest.raises(ModelLoadError, match="invalid manifest"):
        load_bundle(folder)
