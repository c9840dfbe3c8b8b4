"""Finding and describing the stand-in's local LLM without loading it (standin/llm.py); generation
with the real SmolLM2 is in tests/integration/test_standin_llm.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from standin.llm import DEFAULT_CONTEXT_TOKENS, LlmUnavailable, LocalLLM, context_tokens, resolve_llm


def test_default_is_the_smollm2_wheel_gguf() -> None:
    path = resolve_llm(None)
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.is_file()
    llm = LocalLLM(path)
    assert not llm.loaded and llm.context_tokens == DEFAULT_CONTEXT_TOKENS and llm.name == path.name


def test_paths_registry_names_and_missing_models(tmp_path: Path) -> None:
    folder = tmp_path / "my-llm"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"max_position_embeddings": 2048}))
    assert resolve_llm(str(folder)) == folder and context_tokens(folder) == 2048
    version = tmp_path / "registry" / "tiny-llm" / "3"
    version.mkdir(parents=True)
    (tmp_path / "registry" / "tiny-llm" / "latest").write_text("3")
    assert resolve_llm("tiny-llm", tmp_path / "registry") == version
    with pytest.raises(LlmUnavailable, match="neither a path nor a registry model"):
        resolve_llm("nope", tmp_path / "registry")
    with pytest.raises(LlmUnavailable, match="does not exist"):
        resolve_llm(str(tmp_path / "missing.gguf"))


def test_a_broken_model_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"not a gguf")
    with pytest.raises(LlmUnavailable, match=r"cannot load the stand-in LLM .*broken\.gguf"):
        LocalLLM(bad).load()
