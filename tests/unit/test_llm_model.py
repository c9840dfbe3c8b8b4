"""fleet.serving.llm_model: folder lookup on the node and the checks made before OpenVINO is used."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fleet.errors import ModelLoadError
from fleet.models.llm_manifest import REQUIRED_LLM_FILES
from fleet.models.manifest import ModelBundle, load_bundle
from fleet.models.registry import REGISTRY_ENV, save_bundle
from fleet.serving.llm_model import load_llm, model_folder
from tests.unit.llm_fakes import llm_manifest

FILES = {name: name.encode() * 3 for name in REQUIRED_LLM_FILES}


def registry_with_llm(root: Path) -> ModelBundle:
    save_bundle(root, ModelBundle(llm_manifest(FILES), dict(FILES)))
    return load_bundle(root / "tiny-llm" / "1")


def test_folder_on_this_node_or_under_the_env_registry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = registry_with_llm(tmp_path / "a")
    assert model_folder(bundle) == Path(bundle.folder)
    shutil.copytree(tmp_path / "a", tmp_path / "mounted", symlinks=True)
    shutil.rmtree(tmp_path / "a")
    with pytest.raises(ModelLoadError, match="synced or mounted"):
        model_folder(bundle)
    monkeypatch.setenv(REGISTRY_ENV, str(tmp_path / "mounted"))
    assert model_folder(bundle) == tmp_path / "mounted" / "tiny-llm" / "1"


def test_corrupt_file_fails_before_openvino(tmp_path: Path) -> None:
    bundle = registry_with_llm(tmp_path)
    (Path(bundle.folder) / "openvino_tokenizer.bin").write_bytes(b"garbage")
    with pytest.raises(ModelLoadError, match=r"'openvino_tokenizer\.bin' is corrupt or truncated"):
        load_llm(bundle)
    (Path(bundle.folder) / "openvino_tokenizer.bin").unlink()
    with pytest.raises(ModelLoadError, match=r"'openvino_tokenizer\.bin' is missing"):
        load_llm(bundle)


def test_only_generative_folder_bundles(tmp_path: Path) -> None:
    bundle = registry_with_llm(tmp_path)
    with pytest.raises(ModelLoadError, match="not a folder bundle"):
        model_folder(ModelBundle(bundle.manifest, {}))
    classify = bundle.manifest.model_copy(update={"task": "classify", "llm": None})
    with pytest.raises(ModelLoadError, match="not a generative model"):
        load_llm(ModelBundle(classify, {}))
