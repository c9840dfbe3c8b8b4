"""A generative model loaded on a replica's node: folder lookup, sha256 check, pipeline, engine.

The weights never travel through Ray: the replica receives a folder bundle (manifest + path) and
reads the version folder on its own node. On a remote node the registry must be synced or mounted
at the same path, or under ``$EDGEFLEET_MODELS_DIR`` (looked up as ``<dir>/<name>/<version>``).
Every file is checked against the manifest before OpenVINO sees it; a missing or corrupt file is a
:class:`ModelLoadError` naming it (the replica then reports not-ready with that reason).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from edgefleet.policy.llm_options import LLMOptions
from fleet.errors import ModelLoadError
from fleet.models.llm_manifest import GENERATE_TASK, LLMSpec, verify_folder
from fleet.models.manifest import Manifest, ModelBundle
from fleet.models.registry import REGISTRY_ENV
from fleet.serving.llm_engine import BatchingEngine, LLMEngine
from fleet.serving.llm_serial import SerialEngine


@dataclass
class LLMModel:
    """A loaded generative model: its engine, where it runs and how long loading took."""

    manifest: Manifest
    engine: LLMEngine
    device: str
    fallback_reason: str | None
    folder: Path
    load_s: float

    @property
    def spec(self) -> LLMSpec:
        """The manifest's generative-model section."""
        assert self.manifest.llm is not None
        return self.manifest.llm

    def close(self) -> None:
        """Stop the engine (outstanding requests end as cancelled)."""
        self.engine.close()


def model_folder(bundle: ModelBundle) -> Path:
    """The version folder of a folder bundle on this node (see the module docstring)."""
    where = f"model {bundle.name}:{bundle.version}"
    if not bundle.folder:
        raise ModelLoadError(f"{where}: not a folder bundle (a generative model is loaded from its folder)")
    folder = Path(bundle.folder)
    if folder.is_dir():
        return folder
    env = os.environ.get(REGISTRY_ENV)
    if env and (Path(env) / bundle.name / bundle.version).is_dir():
        return Path(env) / bundle.name / bundle.version
    raise ModelLoadError(
        f"{where}: folder {folder} does not exist on this node; a remote node needs the registry synced "
        f"or mounted at the same path (or under ${REGISTRY_ENV})"
    )


def load_llm(
    bundle: ModelBundle,
    device_prefs: Sequence[str] = ("CPU",),
    options: LLMOptions | None = None,
    *,
    max_queue: int = 64,
) -> LLMModel:
    """Verify the folder and load the model with its engine. Raises ModelLoadError."""
    manifest = bundle.manifest
    if manifest.task != GENERATE_TASK or manifest.llm is None:
        raise ModelLoadError(f"model {manifest.name}:{manifest.version} is not a generative model")
    options = options or LLMOptions()
    started = time.perf_counter()
    folder = model_folder(bundle)
    verify_folder(
        folder, manifest.files, manifest.required_files(), where=f"model {manifest.name}:{manifest.version}"
    )
    from fleet.serving.llm_backend import OVBatchPipeline, open_pipeline  # OpenVINO only once verified

    pipeline, device, fallback = open_pipeline(folder, manifest.llm, device_prefs, options)
    engine: LLMEngine
    ctx = manifest.llm.context_length
    if isinstance(pipeline, OVBatchPipeline):
        engine = BatchingEngine(pipeline, context_length=ctx, options=options, max_queue=max_queue)
    else:
        engine = SerialEngine(pipeline, context_length=ctx, options=options, max_queue=max_queue)
    return LLMModel(manifest, engine, device, fallback, folder, time.perf_counter() - started)
