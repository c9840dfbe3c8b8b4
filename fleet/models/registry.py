"""Writing to and listing the model registry (``REGISTRY/<name>/<version>/`` + ``latest``)."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleet.errors import ModelLoadError
from fleet.models.manifest import (
    LATEST_FILE,
    MANIFEST_FILE,
    Manifest,
    ModelBundle,
    TensorSpec,
    check_name,
    sha256_bytes,
)
from fleet.models.store import atomic_write, publish_version, remove_version, writer_lock

REGISTRY_ENV = "EDGEFLEET_MODELS_DIR"


def repo_root() -> Path:
    """The folder holding the ``fleet`` package (the repository root in a checkout)."""
    return Path(__file__).resolve().parents[2]


def default_registry() -> Path:
    """``$EDGEFLEET_MODELS_DIR`` if set, else ``.edgefleet/models`` under the repository root."""
    env = os.environ.get(REGISTRY_ENV)
    return Path(env) if env else repo_root() / ".edgefleet" / "models"


def unique_version(tag: str) -> str:
    """A new version id that sorts by time and cannot collide: ``20261129-213001-4f2a-<tag>``."""
    return f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(2)}-{tag}"


def write_latest(registry: Path, name: str, version: str) -> None:
    """Point ``REGISTRY/<name>/latest`` at ``version`` (written to a unique temporary file, synced,
    renamed into place)."""
    check_name(name, "model name")
    check_name(version, "model version")
    model_dir = Path(registry) / name
    model_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(model_dir / LATEST_FILE, (version + "\n").encode("utf-8"))


def write_model_version(
    registry: Path,
    *,
    name: str,
    version: str,
    task: str,
    labels: list[str],
    precision: str,
    featurizer: Mapping[str, Any],
    inputs: list[TensorSpec],
    outputs: list[TensorSpec],
    files: Mapping[str, bytes],
    data_sha256: str | None = None,
    metrics: Mapping[str, float] | None = None,
    set_latest: bool = True,
) -> Path:
    """Write a complete model version (files + manifest with their sha256s) and return its folder.

    The folder is assembled under a temporary name and renamed into place, so readers never see
    a half-written version; an existing folder of the same version is replaced.
    """
    check_name(name, "model name")
    check_name(version, "model version")
    manifest = Manifest(
        name=name,
        version=version,
        task=task,  # validated by pydantic
        labels=list(labels),
        precision=precision,
        featurizer=dict(featurizer),
        inputs=inputs,
        outputs=outputs,
        files={filename: sha256_bytes(data) for filename, data in files.items()},
        data_sha256=data_sha256,
        metrics={k: float(v) for k, v in (metrics or {}).items()},
        created_unix=time.time(),
    )
    return _write_version(registry, name, version, files, manifest, set_latest)


def save_bundle(registry: Path, bundle: ModelBundle, *, set_latest: bool = True) -> Path:
    """Write an in-memory bundle into ``registry`` unchanged (manifest kept as is); a folder bundle
    (a generative model) is copied from its folder."""
    bundle.verify()
    files = bundle.files
    if bundle.folder:
        files = {name: (Path(bundle.folder) / name).read_bytes() for name in bundle.manifest.files}
    return _write_version(registry, bundle.name, bundle.version, files, bundle.manifest, set_latest)


def write_manifest_version(
    registry: Path, manifest: Manifest, files: Mapping[str, bytes], *, set_latest: bool = True
) -> Path:
    """Write ``files`` with ``manifest`` (its ``files`` must already list their sha256s) as one
    version, crash-safe; returns its folder. For kinds of models the generic writer does not
    describe (collections)."""
    expected = {name: sha256_bytes(data) for name, data in files.items()}
    if expected != manifest.files:
        raise ModelLoadError(
            f"{manifest.name}:{manifest.version}: the manifest's files do not match the data"
        )
    return _write_version(registry, manifest.name, manifest.version, files, manifest, set_latest)


@dataclass(frozen=True)
class RegistryEntry:
    """One model in a registry listing."""

    name: str
    latest: str | None
    versions: list[str]


def list_models(registry: Path) -> list[RegistryEntry]:
    """Models in ``registry`` (sorted by name) with their versions and latest version."""
    registry = Path(registry)
    if not registry.is_dir():
        return []
    entries: list[RegistryEntry] = []
    for model_dir in sorted(p for p in registry.iterdir() if p.is_dir() and not p.name.startswith(".")):
        versions = sorted(
            p.name
            for p in model_dir.iterdir()
            if p.is_dir() and not p.name.startswith(".") and (p / MANIFEST_FILE).exists()
        )
        if not versions:  # e.g. the factory's report folder
            continue
        latest_path = model_dir / LATEST_FILE
        latest = latest_path.read_text(encoding="utf-8").strip() if latest_path.is_file() else None
        entries.append(RegistryEntry(name=model_dir.name, latest=latest or None, versions=versions))
    return entries


def read_manifest(version_dir: Path) -> Manifest:
    """The manifest of one version folder (no file verification; see load_bundle for that)."""
    path = Path(version_dir) / MANIFEST_FILE
    try:
        return Manifest.from_yaml(path.read_text(encoding="utf-8"), source=str(path))
    except OSError as exc:
        raise ModelLoadError(f"{path} cannot be read: {exc}") from exc


def prune_old_versions(registry: Path, names: list[str] | None = None) -> list[Path]:
    """Delete every version folder except ``latest`` (for caches such as the test registry).

    Returns the removed folders. Models without a ``latest`` file are left alone.
    """
    removed: list[Path] = []
    for entry in list_models(registry):
        if entry.latest is None or (names is not None and entry.name not in names):
            continue
        for version in entry.versions:
            if version != entry.latest:
                folder = Path(registry) / entry.name / version
                remove_version(folder)
                removed.append(folder)
    return removed


def _write_version(
    registry: Path, name: str, version: str, files: Mapping[str, bytes], manifest: Manifest, set_latest: bool
) -> Path:
    """Write one version so that a crash at any point leaves either the old or the new version
    whole (see :mod:`fleet.models.store`)."""
    check_name(name, "model name")
    check_name(version, "model version")
    model_dir = Path(registry) / name
    with writer_lock(model_dir):
        final = publish_version(
            model_dir, version, {**files, MANIFEST_FILE: manifest.to_yaml().encode("utf-8")}
        )
        if set_latest:
            write_latest(registry, name, version)
    return final
