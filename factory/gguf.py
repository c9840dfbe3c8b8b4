"""A small reader of GGUF metadata (the key/value header of a llama.cpp model file), no dependency.

OpenVINO GenAI loads a GGUF directly but exposes neither its context length nor the rest of its
metadata, and the IR it saves carries no ``config.json``. :func:`read_metadata` reads the header
(scalars and strings; large arrays such as the vocabulary are skipped, keeping only their length)
and :func:`hf_config` turns it into the Hugging Face style ``config.json`` GenAI and the registry
read.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from fleet.errors import ModelLoadError

MAGIC = b"GGUF"
_SCALARS = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_STRING, _ARRAY = 8, 9
MAX_STRING = 16 << 20  # a chat template is a few KB; a longer string means a damaged file
MAX_KEYS = 100_000
SMALL_ARRAY = 64  # arrays up to this length are kept, longer ones are summarised


@dataclass(frozen=True)
class SkippedArray:
    """A metadata array too long to keep (e.g. the vocabulary): its element type and length."""

    element_type: int
    length: int


def _unpack(fh: BinaryIO, fmt: str) -> Any:
    size = struct.calcsize(fmt)
    data = fh.read(size)
    if len(data) != size:
        raise ModelLoadError("GGUF header ends early (truncated file)")
    return struct.unpack(fmt, data)[0]


def _string(fh: BinaryIO) -> str:
    n = _unpack(fh, "<Q")
    if n > MAX_STRING:
        raise ModelLoadError(f"GGUF string of {n} bytes in the header: damaged file")
    data = fh.read(n)
    if len(data) != n:
        raise ModelLoadError("GGUF header ends early (truncated file)")
    return data.decode("utf-8", errors="replace")


def _value(fh: BinaryIO, kind: int) -> Any:
    if kind in _SCALARS:
        return _unpack(fh, _SCALARS[kind])
    if kind == _STRING:
        return _string(fh)
    if kind == _ARRAY:
        element = _unpack(fh, "<I")
        length = _unpack(fh, "<Q")
        if length <= SMALL_ARRAY:
            return [_value(fh, element) for _ in range(length)]
        if element in _SCALARS:
            fh.seek(length * struct.calcsize(_SCALARS[element]), 1)
        else:
            for _ in range(length):
                _value(fh, element)
        return SkippedArray(element, length)
    raise ModelLoadError(f"unknown GGUF metadata type {kind}: damaged or newer file")


def read_metadata(path: Path) -> dict[str, Any]:
    """The metadata of a GGUF file (``__version__`` and ``__tensors__`` added). Raises
    ModelLoadError when the file is not a GGUF or its header is damaged."""
    try:
        with Path(path).open("rb") as fh:
            if fh.read(4) != MAGIC:
                raise ModelLoadError(f"{path} is not a GGUF file (no GGUF magic)")
            version = _unpack(fh, "<I")
            if version not in (2, 3):
                raise ModelLoadError(f"{path}: GGUF version {version} is not supported (2 or 3)")
            tensors, count = _unpack(fh, "<Q"), _unpack(fh, "<Q")
            if count > MAX_KEYS:
                raise ModelLoadError(f"{path}: {count} metadata keys: damaged file")
            meta: dict[str, Any] = {"__version__": version, "__tensors__": tensors}
            for _ in range(count):
                key = _string(fh)
                meta[key] = _value(fh, _unpack(fh, "<I"))
            return meta
    except OSError as exc:
        raise ModelLoadError(f"{path} cannot be read: {exc}") from exc
    except ModelLoadError as exc:
        if str(path) in str(exc):
            raise
        raise ModelLoadError(f"{path}: {exc}") from None


def architecture(meta: dict[str, Any]) -> str:
    """``general.architecture`` (e.g. ``llama``)."""
    arch = meta.get("general.architecture")
    if not isinstance(arch, str) or not arch:
        raise ModelLoadError("GGUF metadata has no general.architecture")
    return arch


def context_length(meta: dict[str, Any]) -> int:
    """``<arch>.context_length``: the most tokens the model was trained to attend to."""
    arch = architecture(meta)
    value = meta.get(f"{arch}.context_length")
    if not isinstance(value, int) or value <= 0:
        raise ModelLoadError(f"GGUF metadata has no {arch}.context_length")
    return value


def chat_template(meta: dict[str, Any]) -> str:
    """``tokenizer.chat_template`` ('' when the file has none)."""
    value = meta.get("tokenizer.chat_template", "")
    return value if isinstance(value, str) else ""


def hf_config(meta: dict[str, Any], source: str) -> dict[str, Any]:
    """A Hugging Face style ``config.json`` from the GGUF metadata (what GenAI's saved IR lacks)."""
    arch = architecture(meta)

    def key(name: str) -> Any:
        return meta.get(f"{arch}.{name}")

    vocab = key("vocab_size")
    if vocab is None and isinstance(meta.get("tokenizer.ggml.tokens"), SkippedArray):
        vocab = meta["tokenizer.ggml.tokens"].length
    config = {
        "architectures": ["LlamaForCausalLM"] if arch == "llama" else [arch],
        "model_type": arch,
        "max_position_embeddings": context_length(meta),
        "hidden_size": key("embedding_length"),
        "intermediate_size": key("feed_forward_length"),
        "num_hidden_layers": key("block_count"),
        "num_attention_heads": key("attention.head_count"),
        "num_key_value_heads": key("attention.head_count_kv"),
        "rope_theta": key("rope.freq_base"),
        "rms_norm_eps": key("attention.layer_norm_rms_epsilon"),
        "vocab_size": vocab,
        "bos_token_id": meta.get("tokenizer.ggml.bos_token_id"),
        "eos_token_id": meta.get("tokenizer.ggml.eos_token_id"),
        "pad_token_id": meta.get("tokenizer.ggml.padding_token_id"),
        "source_gguf": source,
    }
    return {k: v for k, v in config.items() if v is not None}
