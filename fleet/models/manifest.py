"""Model manifests and bundles: the on-disk contract of the model registry.

A model version lives in ``REGISTRY/<name>/<version>/`` with ``manifest.yaml``, ``model.xml``,
``model.bin`` and any featuriser files (e.g. ``tokenizer.json``). ``REGISTRY/<name>/latest`` is a
text file holding the latest version string. :func:`load_bundle` reads a version folder into a
picklable :class:`ModelBundle` after checking every file against the sha256 in the manifest.
Generative models (task ``generate``, :mod:`fleet.models.llm_manifest`) and retrieval collections
(task ``retrieve``, :mod:`fleet.models.collection_manifest`) are checked the same way but stay on
disk: their bundle carries the folder, not the bytes.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from fleet.errors import ModelLoadError
from fleet.models.collection_manifest import RETRIEVE_TASK, RetrievalSpec
from fleet.models.llm_manifest import GENERATE_TASK, LLMSpec, verify_folder

MANIFEST_FILE = "manifest.yaml"
LATEST_FILE = "latest"
REQUIRED_MODEL_FILES = ("model.xml", "model.bin")


class TensorSpec(BaseModel):
    """One named IR input or output: KServe v2 datatype (e.g. ``FP32``, ``INT64``) and shape
    (``-1`` for a dynamic dimension)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    datatype: str
    shape: list[int]


class Manifest(BaseModel):
    """Everything a replica, the router and the TUI need to know about one model version."""

    model_config = ConfigDict(extra="forbid")

    name: str
    version: str
    task: Literal["classify", "embed", "generate", "retrieve"]
    labels: list[str]
    precision: str
    featurizer: dict[str, Any]
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    files: dict[str, str]
    data_sha256: str | None = None
    metrics: dict[str, float] = {}
    created_unix: float
    llm: LLMSpec | None = None  # task "generate" only
    retrieval: RetrievalSpec | None = None  # task "retrieve" only

    @model_validator(mode="after")
    def _sections_match_task(self) -> Manifest:
        if (self.task == GENERATE_TASK) != (self.llm is not None):
            raise ValueError("task 'generate' needs the 'llm' section, and only it may have one")
        if (self.task == RETRIEVE_TASK) != (self.retrieval is not None):
            raise ValueError("task 'retrieve' needs the 'retrieval' section, and only it may have one")
        return self

    @model_validator(mode="after")
    def _confined(self) -> Manifest:
        """Names that become paths stay inside the registry: name and version of the safe
        character set, files plain names in the version folder."""
        for what, value in (("name", self.name), ("version", self.version)):
            if not _SAFE_NAME.match(value) or ".." in value:
                raise ValueError(f"{what} {value!r} is not allowed (letters, digits, '.', '_', '-')")
        for filename in self.files:
            if Path(filename).name != filename or filename in (".", "..") or "\\" in filename:
                raise ValueError(f"file name {filename!r} must be a plain name in the version folder")
        return self

    @property
    def on_disk(self) -> bool:
        """True for models that stay in their folder (LLMs, collections): bundles carry the path."""
        return self.task in (GENERATE_TASK, RETRIEVE_TASK)

    def to_yaml(self) -> str:
        """Serialise to the YAML text stored as ``manifest.yaml``."""
        absent = {name for name in ("llm", "retrieval") if getattr(self, name) is None}
        data = self.model_dump(mode="json", exclude=absent or None)
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)

    def required_files(self) -> list[str]:
        """Files every version folder of this kind of model must hold."""
        if self.llm is not None:
            return self.llm.required_files()
        if self.retrieval is not None:
            return self.retrieval.required_files()
        return list(REQUIRED_MODEL_FILES)

    @classmethod
    def from_yaml(cls, text: str, *, source: str = MANIFEST_FILE) -> Manifest:
        """Parse and validate manifest YAML; raises ModelLoadError naming ``source`` on any problem."""
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ModelLoadError(f"{source}: not valid YAML ({exc})") from exc
        if not isinstance(raw, dict):
            raise ModelLoadError(f"{source}: expected a mapping at the top level, got {type(raw).__name__}")
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()
            )
            raise ModelLoadError(f"{source}: invalid manifest ({problems})") from exc

    def output_names(self) -> list[str]:
        """Names of the IR outputs, e.g. ``["PROBS", "EMBEDDING"]``."""
        return [spec.name for spec in self.outputs]


_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def check_name(value: str, what: str) -> str:
    """A model or collection name or version: letters, digits, ``.``, ``_`` and ``-``, starting
    with a letter or digit, at most 128 characters (so it can never leave the registry folder).
    Raises ModelLoadError naming `what` otherwise."""
    if not isinstance(value, str) or not _SAFE_NAME.match(value) or ".." in value:
        raise ModelLoadError(
            f"{what} {value!r} is not allowed: use letters, digits, '.', '_' and '-' "
            "(starting with a letter or digit, at most 128 characters, no '..')"
        )
    return value


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class ModelBundle:
    """A verified model version held in memory: the manifest plus the bytes of every file.

    Picklable, so it can be shipped to replica actors through Ray. A generative model's or a
    collection's bundle holds no bytes (`files` is empty): `folder` is its version folder, which the replica reads on
    its own node (a remote node needs the registry synced or mounted at the same path, or under
    ``$EDGEFLEET_MODELS_DIR``).
    """

    manifest: Manifest
    files: dict[str, bytes] = field(repr=False)
    folder: str = ""

    @property
    def name(self) -> str:
        """The model name from the manifest."""
        return self.manifest.name

    @property
    def version(self) -> str:
        """The model version from the manifest."""
        return self.manifest.version

    def file(self, filename: str) -> bytes:
        """Bytes of one bundled file; ModelLoadError if the bundle lacks it."""
        try:
            return self.files[filename]
        except KeyError:
            raise ModelLoadError(
                f"model {self.manifest.name}:{self.manifest.version}: bundle has no file {filename!r} "
                f"(files: {sorted(self.files)})"
            ) from None

    def verify(self) -> None:
        """Re-check every file against the manifest's sha256 (e.g. after unpickling; on disk for a
        folder bundle)."""
        where = f"bundle {self.manifest.name}:{self.manifest.version}"
        if self.folder:
            verify_folder(Path(self.folder), self.manifest.files, self.manifest.required_files(), where=where)
        else:
            _verify_files(self.manifest, self.files, where=where)


def _verify_files(manifest: Manifest, files: dict[str, bytes], *, where: str) -> None:
    for required in manifest.required_files():
        if required not in manifest.files:
            raise ModelLoadError(f"{where}: manifest does not list required file {required!r}")
    for filename, expected in manifest.files.items():
        if filename not in files:
            raise ModelLoadError(f"{where}: file {filename!r} is missing")
        data = files[filename]
        actual = sha256_bytes(data)
        if actual != expected.lower():
            what = "is empty" if not data else f"is corrupt or truncated ({len(data)} bytes)"
            raise ModelLoadError(
                f"{where}: file {filename!r} {what}: sha256 {actual[:16]}... does not match the "
                f"manifest's {expected[:16]}..."
            )


def load_bundle(path: Path) -> ModelBundle:
    """Read the model version folder ``path`` into a verified :class:`ModelBundle`.

    ``path`` may also be a model folder (``REGISTRY/<name>``), in which case its ``latest`` version
    is loaded. Raises ModelLoadError naming the file and the problem when the folder or a file is
    missing, unreadable, truncated or corrupt, or the manifest is invalid.
    """
    path = Path(path)
    if not path.is_dir():
        raise ModelLoadError(f"model folder {path} does not exist")
    if not (path / MANIFEST_FILE).exists() and (path / LATEST_FILE).is_file():
        path = resolve_model_dir(path.parent, path.name)
    manifest_path = path / MANIFEST_FILE
    try:
        manifest_text = manifest_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelLoadError(f"{manifest_path} is missing (not a model version folder?)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"{manifest_path} cannot be read: {exc}") from exc
    manifest = Manifest.from_yaml(manifest_text, source=str(manifest_path))
    if manifest.on_disk:
        verify_folder(path, manifest.files, manifest.required_files(), where=str(path))
        return ModelBundle(manifest=manifest, files={}, folder=str(path.absolute()))
    files: dict[str, bytes] = {}
    for filename in manifest.files:
        if Path(filename).name != filename:
            raise ModelLoadError(
                f"{manifest_path}: file name {filename!r} must be a plain name in the folder"
            )
        file_path = path / filename
        try:
            files[filename] = file_path.read_bytes()
        except FileNotFoundError:
            raise ModelLoadError(f"{file_path} is missing (listed in {MANIFEST_FILE})") from None
        except OSError as exc:
            raise ModelLoadError(f"{file_path} cannot be read: {exc}") from exc
    _verify_files(manifest, files, where=str(path))
    return ModelBundle(manifest=manifest, files=files)


def resolve_model_dir(registry: Path, name: str, version: str = "latest") -> Path:
    """Folder of model ``name`` at ``version`` in ``registry``; ``"latest"`` reads ``<name>/latest``.

    Raises ModelLoadError when the model, its ``latest`` file or the version folder is missing.
    """
    check_name(name, "model name")
    registry = Path(registry)
    model_dir = registry / name
    if not model_dir.is_dir():
        known = sorted(p.name for p in registry.iterdir() if p.is_dir()) if registry.is_dir() else []
        raise ModelLoadError(
            f"model {name!r} not found in registry {registry} (known: {', '.join(known) or 'none'}); "
            "build the defaults with `edgefleet models build`"
        )
    if version == "latest":
        latest_path = model_dir / LATEST_FILE
        try:
            version = latest_path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise ModelLoadError(f"{latest_path} is missing: no latest version of model {name!r}") from None
        if not version:
            raise ModelLoadError(f"{latest_path} is empty: no latest version of model {name!r}")
    check_name(version, f"version of model {name!r}")
    version_dir = model_dir / version
    if not version_dir.is_dir():
        raise ModelLoadError(f"model {name!r} has no version {version!r} in {model_dir}")
    if not version_dir.resolve().is_relative_to(model_dir.resolve()):
        raise ModelLoadError(f"{version_dir} points outside {model_dir}: refused")
    return version_dir
