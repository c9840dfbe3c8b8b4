"""fleet.models.llm_manifest: generative-model manifests, folder bundles and on-disk sha256 checks."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import yaml

from fleet.errors import ModelLoadError
from fleet.models.llm_manifest import REQUIRED_LLM_FILES, file_sha256, verify_folder
from fleet.models.manifest import Manifest, ModelBundle, load_bundle, sha256_bytes
from fleet.models.registry import save_bundle, write_model_version
from tests.unit.llm_fakes import llm_manifest

LLM_FILES = {name: f"{name} bytes".encode() * 10 for name in REQUIRED_LLM_FILES} | {"config.json": b"{}"}


def write_llm(registry: Path, files: dict[str, bytes] = LLM_FILES) -> Path:
    return save_bundle(registry, ModelBundle(llm_manifest(files), dict(files)))


def test_generate_manifest_round_trip_and_folder_bundle(tmp_path: Path) -> None:
    folder = write_llm(tmp_path)
    bundle = load_bundle(folder)
    assert bundle.files == {} and Path(bundle.folder) == folder.absolute()
    assert bundle.manifest.llm is not None and bundle.manifest.llm.context_length == 8192
    assert len(pickle.dumps(bundle)) < 10_000  # what crosses Ray: no weights
    bundle.verify()
    assert Manifest.from_yaml(bundle.manifest.to_yaml()) == bundle.manifest
    copy = save_bundle(tmp_path / "copy", bundle)  # a folder bundle is copied from its folder
    assert (copy / "openvino_model.bin").read_bytes() == LLM_FILES["openvino_model.bin"]


def test_classify_manifests_do_not_change(tmp_path: Path) -> None:
    folder = write_model_version(
        tmp_path,
        name="toy",
        version="1",
        task="classify",
        labels=["a"],
        precision="FP32",
        featurizer={"kind": "hashed"},
        inputs=[],
        outputs=[],
        files={"model.xml": b"<net/>", "model.bin": b""},
    )
    assert "llm" not in yaml.safe_load((folder / "manifest.yaml").read_text())


def test_generate_needs_the_llm_section_and_only_it() -> None:
    raw = llm_manifest(LLM_FILES).model_dump(mode="json")
    without = dict(raw, llm=None)
    with pytest.raises(ModelLoadError, match="needs the 'llm' section"):
        Manifest.from_yaml(yaml.safe_dump(without))
    with pytest.raises(ModelLoadError, match="only it may have one"):
        Manifest.from_yaml(yaml.safe_dump(dict(raw, task="classify")))


def test_corrupt_truncated_and_missing_files_are_named(tmp_path: Path) -> None:
    folder = write_llm(tmp_path)
    bundle = load_bundle(folder)
    target = Path(bundle.folder) / "openvino_model.bin"
    target.write_bytes(b"short")
    with pytest.raises(ModelLoadError, match=r"'openvino_model.bin' is corrupt or truncated \(5 bytes\)"):
        bundle.verify()
    target.write_bytes(b"")
    with pytest.raises(ModelLoadError, match=r"'openvino_model\.bin' is empty"):
        load_bundle(folder)
    target.unlink()
    with pytest.raises(ModelLoadError, match=r"'openvino_model\.bin' is missing"):
        load_bundle(folder)


def test_required_files_must_be_listed(tmp_path: Path) -> None:
    files = {k: v for k, v in LLM_FILES.items() if k != "openvino_detokenizer.xml"}
    with pytest.raises(ModelLoadError, match=r"required file 'openvino_detokenizer\.xml'"):
        write_llm(tmp_path, files)
    with pytest.raises(ModelLoadError, match="plain name"):
        verify_folder(tmp_path, {"../x": "0"}, [], where="here")


def test_file_sha256_streams(tmp_path: Path) -> None:
    data = b"x" * (3 << 20)
    (tmp_path / "big").write_bytes(data)
    assert file_sha256(tmp_path / "big") == sha256_bytes(data)
