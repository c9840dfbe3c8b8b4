"""Writing factory models into the registry: IR serialisation, manifests, build stamps and the
registry's hidden cache folder (``REGISTRY/.cache``), plus version names shared by the factory.

A build stamp (``.cache/stamps/<name>@<version>``) records the content hash of everything a model
version was built from; a rebuild with the same hash and intact files skips that version.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from factory.encoder import TOKENIZER_FILE, WORDPIECE_FEATURIZER
from factory.export import serialize_model
from fleet.errors import ModelLoadError
from fleet.models.manifest import TensorSpec, load_bundle
from fleet.models.registry import write_model_version

FACTORY_GENERATION = "2"
VERSION_FP32 = f"{FACTORY_GENERATION}-minilm"  # e.g. generalist 2-minilm (the new latest)
VERSION_INT8 = f"{FACTORY_GENERATION}-minilm-int8"  # nncf.quantize, static INT8
VERSION_INT8_WEIGHTS = f"{FACTORY_GENERATION}-minilm-int8w"  # nncf.compress_weights, INT8 weights only
STUDENT_VERSION = "1-distilled"
ENCODER_NAME = "minilm-l6"
CACHE_DIR = ".cache"
REPORT_DIR = "report"
EMBED_DIM = 384


def cache_dir(registry: Path) -> Path:
    """``REGISTRY/.cache`` (hidden, so registry listings skip it)."""
    return Path(registry) / CACHE_DIR


def content_key(*parts: Any) -> str:
    """sha256 of the JSON of ``parts`` (stable across processes)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def file_sha256(path: Path) -> str:
    """sha256 of a file, streamed."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _stamp_path(registry: Path, name: str, version: str) -> Path:
    return cache_dir(registry) / "stamps" / f"{name}@{version}"


def is_current(registry: Path, name: str, version: str, key: str) -> bool:
    """True when ``name:version`` was built from ``key`` and its files still verify."""
    stamp = _stamp_path(registry, name, version)
    if not stamp.is_file() or stamp.read_text(encoding="utf-8").strip() != key:
        return False
    try:
        load_bundle(Path(registry) / name / version)
    except ModelLoadError:
        return False
    return True


def write_stamp(registry: Path, name: str, version: str, key: str) -> None:
    """Record that ``name:version`` was built from ``key``."""
    stamp = _stamp_path(registry, name, version)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(key + "\n", encoding="utf-8")


def encoder_specs(num_labels: int | None) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """Manifest inputs/outputs of a MiniLM IR (``num_labels`` None: embed only)."""
    inputs = [TensorSpec(name=n, datatype="INT64", shape=[-1, -1]) for n in ("input_ids", "attention_mask")]
    outputs = [TensorSpec(name="EMBEDDING", datatype="FP32", shape=[-1, EMBED_DIM])]
    if num_labels is not None:
        outputs.insert(0, TensorSpec(name="PROBS", datatype="FP32", shape=[-1, num_labels]))
    return inputs, outputs


def write_encoder_model(
    registry: Path,
    *,
    name: str,
    version: str,
    model: Any,
    labels: list[str],
    precision: str,
    tokenizer_json: bytes,
    data_sha256: str | None,
    metrics: Mapping[str, float],
    key: str,
    set_latest: bool,
) -> Path:
    """Serialise a MiniLM-based ``ov.Model`` with its tokenizer into ``registry`` and stamp it."""
    xml, weights = serialize_model(model, compress_to_fp16=False)
    task = "classify" if labels else "embed"
    inputs, outputs = encoder_specs(len(labels) if labels else None)
    folder = write_model_version(
        registry,
        name=name,
        version=version,
        task=task,
        labels=labels,
        precision=precision,
        featurizer=dict(WORDPIECE_FEATURIZER),
        inputs=inputs,
        outputs=outputs,
        files={"model.xml": xml, "model.bin": weights, TOKENIZER_FILE: tokenizer_json},
        data_sha256=data_sha256,
        metrics=metrics,
        set_latest=set_latest,
    )
    write_stamp(registry, name, version, key)
    return folder
