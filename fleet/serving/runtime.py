"""The one OpenVINO interface of EdgeFleet: device discovery and :class:`TextModel`.

``TextModel.load(bundle, device_prefs)`` compiles a model bundle's IR (read straight from the
bundle's bytes, no temporary files) on the first preferred device OpenVINO really has, falling
back to CPU with a recorded ``fallback_reason``. ``precision`` chooses OpenVINO's
``INFERENCE_PRECISION_HINT`` (``auto``: the device's default, which is bf16 on CPUs with BF16;
``f32``; ``bf16``, compiled with f32 and a recorded ``precision_note`` where the device cannot),
and the effective precision is read back from the compiled model (``inference_precision``).
``classify``/``embed`` featurise texts with the manifest's featuriser and run a per-instance pool
of infer requests, so one TextModel may be shared by threads.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgefleet.constants import INFERENCE_PRECISIONS
from fleet.errors import ModelLoadError
from fleet.models.featurize import Featurizer, make_featurizer
from fleet.models.manifest import Manifest, ModelBundle
from fleet.serving.sparse_input import SparseFeatures, sparsify

_core_lock = threading.Lock()
_core: Any = None
MAX_TEXT_CHARS = 10_000
THREADS_ENV = "EDGEFLEET_OV_THREADS"
PRECISIONS = INFERENCE_PRECISIONS
_TYPE_NAMES = {"float32": "f32", "bfloat16": "bf16", "float16": "f16"}


def shared_core() -> Any:
    """The process-wide ``openvino.Core`` (created on first use)."""
    global _core
    with _core_lock:
        if _core is None:
            import openvino as ov

            _core = ov.Core()
        return _core


@dataclass(frozen=True)
class DeviceInfo:
    """One OpenVINO device: ``name`` (e.g. ``CPU``, ``GPU.0``), full name and capabilities."""

    name: str
    full_name: str
    capabilities: list[str] = field(default_factory=list)


def available_devices() -> list[DeviceInfo]:
    """Devices OpenVINO sees on this machine, with ``FULL_DEVICE_NAME`` and ``OPTIMIZATION_CAPABILITIES``."""
    core = shared_core()
    devices: list[DeviceInfo] = []
    for name in core.available_devices:
        try:
            full_name = str(core.get_property(name, "FULL_DEVICE_NAME"))
        except RuntimeError:  # a plugin may not report it
            full_name = name
        try:
            capabilities = [str(c) for c in core.get_property(name, "OPTIMIZATION_CAPABILITIES")]
        except RuntimeError:
            capabilities = []
        devices.append(DeviceInfo(name=name, full_name=full_name, capabilities=capabilities))
    return devices


def _pick_device(available: Sequence[str], prefs: Sequence[str]) -> tuple[str, str | None]:
    """First preferred device present (``GPU`` matches ``GPU.0``); else CPU with the reason."""
    for pref in prefs:
        for name in available:
            if name == pref or name.split(".")[0] == pref:
                return name, None
    wanted = ", ".join(prefs) if prefs else "none"
    return "CPU", f"{wanted} not present on this node; compiled for CPU"


def check_precision(precision: str) -> None:
    """ValueError unless ``precision`` is one of :data:`PRECISIONS`."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")


def device_supports_bf16(device: str) -> bool:
    """True when OpenVINO lists ``BF16`` in the device's ``OPTIMIZATION_CAPABILITIES``."""
    try:
        capabilities = shared_core().get_property(device, "OPTIMIZATION_CAPABILITIES")
    except RuntimeError:  # a plugin may not report it
        return False
    return "BF16" in [str(c) for c in capabilities]


def choose_precision(precision: str, device: str, bf16_supported: bool) -> tuple[str, str]:
    """The precision to ask OpenVINO for on ``device`` and, when it differs from the request, why.

    ``auto`` and ``f32`` are asked as they are; ``bf16`` becomes ``f32`` when the device cannot
    do it. Raises ValueError for anything but :data:`PRECISIONS`.
    """
    check_precision(precision)
    if precision == "bf16" and not bf16_supported:
        what = "this CPU" if device.split(".")[0] == "CPU" else device
        return "f32", f"precision bf16 requested but {what} has no BF16 support; compiled with f32"
    return precision, ""


def compile_config(
    device: str, featurizer_kind: str, num_threads: int | None = None, precision: str = "auto"
) -> dict[str, Any]:
    """OpenVINO compile properties. On CPU, small hashed MLPs run best on one inference thread
    (thread hand-offs cost more than the maths, above all on busy 2-core nodes); transformer IRs
    get the LATENCY hint. ``num_threads`` or ``$EDGEFLEET_OV_THREADS`` overrides the thread count.
    ``precision`` (see :func:`choose_precision`) sets ``INFERENCE_PRECISION_HINT`` unless ``auto``."""
    check_precision(precision)
    config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY"}
    if precision != "auto":
        config["INFERENCE_PRECISION_HINT"] = precision
    if device.split(".")[0] != "CPU":
        return config
    env = os.environ.get(THREADS_ENV)
    threads = num_threads if num_threads is not None else (int(env) if env else None)
    if threads is None and featurizer_kind in ("hashed", "vector"):
        threads = 1
    if threads:
        config.update(INFERENCE_NUM_THREADS=threads, NUM_STREAMS=1)
    return config


def precision_name(value: Any) -> str:
    """OpenVINO's precision value (an ``ov.Type`` or a string) as a short name: f32, bf16, f16."""
    name = value.get_type_name() if hasattr(value, "get_type_name") else str(value)
    return _TYPE_NAMES.get(name.lower(), name.lower())


def effective_precision(compiled: Any) -> str:
    """The inference precision a compiled model really runs with ("" when the plugin does not say)."""
    try:
        return precision_name(compiled.get_property("INFERENCE_PRECISION_HINT"))
    except Exception:  # noqa: BLE001 - a plugin may not report it
        return ""


def check_texts(texts: Sequence[str]) -> list[str]:
    """Validate a batch of texts; the contract says bad input is a ValueError (also for types)."""
    if isinstance(texts, (str, bytes)):
        raise ValueError("texts must be a sequence of strings, not a single string")
    out = list(texts)
    if not out:
        raise ValueError("texts must not be empty")
    for i, text in enumerate(out):
        if not isinstance(text, str):
            raise ValueError(f"texts[{i}] is {type(text).__name__}, expected str")
        if len(text) > MAX_TEXT_CHARS:
            raise ValueError(f"texts[{i}] has {len(text)} characters; the limit is {MAX_TEXT_CHARS}")
    return out


class TextModel:
    """A compiled model plus its featuriser. Build with :meth:`load`; thread-safe."""

    manifest: Manifest
    device: str
    fallback_reason: str | None
    labels: list[str]
    precision: str
    inference_precision: str
    precision_note: str

    def __init__(
        self,
        manifest: Manifest,
        compiled: Any,
        featurizer: Featurizer,
        device: str,
        fallback_reason: str | None,
        pool_size: int = 2,
        *,
        precision: str = "auto",
        precision_note: str = "",
    ) -> None:
        self.manifest = manifest
        self.device = device
        self.fallback_reason = fallback_reason
        self.labels = list(manifest.labels)
        self.precision = precision
        self.inference_precision = effective_precision(compiled)
        if not precision_note and precision != "auto" and self.inference_precision not in ("", precision):
            precision_note = (
                f"precision {precision} requested; OpenVINO compiled with {self.inference_precision}"
            )
        self.precision_note = precision_note
        self._compiled = compiled
        self._featurizer = featurizer
        self._featurize_lock = threading.Lock()
        self._output_names = {out.get_any_name() for out in compiled.outputs}
        self._requests: queue.Queue[Any] = queue.Queue()
        for _ in range(max(1, pool_size)):
            self._requests.put(compiled.create_infer_request())

    @classmethod
    def load(
        cls,
        bundle: ModelBundle,
        device_prefs: Sequence[str] = ("CPU",),
        *,
        num_threads: int | None = None,
        precision: str = "auto",
        sparse: bool = True,
    ) -> TextModel:
        """Compile ``bundle`` on the first preferred device OpenVINO has (CPU fallback).

        ``num_threads`` sets the CPU inference threads (default: see :func:`compile_config`);
        ``precision`` (auto, f32, bf16) the inference precision (see :func:`choose_precision`).
        ``sparse`` feeds hashed n-gram models their non-zero features only
        (:func:`fleet.serving.sparse_input.sparsify`; False: the IR as written, dense).
        Raises ModelLoadError when the IR cannot be read or compiled or does not match the manifest,
        ValueError for an unknown ``precision``.
        """
        check_precision(precision)
        import openvino as ov

        manifest = bundle.manifest
        where = f"model {manifest.name}:{manifest.version}"
        xml = bundle.file("model.xml")
        weights = bundle.file("model.bin")
        core = shared_core()
        try:
            weights_tensor = (
                ov.Tensor(np.frombuffer(weights, dtype=np.uint8))
                if weights
                else ov.Tensor(np.zeros(0, dtype=np.uint8))
            )
            model = core.read_model(model=xml.decode("utf-8"), weights=weights_tensor)
        except Exception as exc:
            raise ModelLoadError(f"{where}: OpenVINO cannot read model.xml/model.bin: {exc}") from exc
        ir_inputs = [port.get_any_name() for port in model.inputs]
        ir_outputs = {port.get_any_name() for port in model.outputs}
        missing = {spec.name for spec in manifest.outputs} - ir_outputs
        if missing:
            raise ModelLoadError(f"{where}: the IR lacks outputs {sorted(missing)} named in the manifest")
        if manifest.task == "classify" and "PROBS" not in ir_outputs:
            raise ModelLoadError(f"{where}: a classify model must have the IR output PROBS")
        if manifest.task == "embed" and "EMBEDDING" not in ir_outputs:
            raise ModelLoadError(f"{where}: an embed model must have the IR output EMBEDDING")
        featurizer: Featurizer = make_featurizer(manifest.featurizer, bundle.files, ir_inputs)
        device, fallback_reason = _pick_device(list(core.available_devices), list(device_prefs))
        kind = str(manifest.featurizer.get("kind"))
        if kind == "hashed" and sparse:
            rewritten = sparsify(model)
            if rewritten is not None:  # the first layer as an embedding bag over the non-zero buckets
                model, featurizer = rewritten, SparseFeatures(featurizer)

        def config(device: str) -> tuple[dict[str, Any], str]:
            bf16 = precision == "bf16" and device_supports_bf16(device)
            asked, note = choose_precision(precision, device, bf16)
            return compile_config(device, kind, num_threads, asked), note

        properties, note = config(device)
        try:
            compiled = core.compile_model(model, device, properties)
        except Exception as exc:
            if device == "CPU":
                raise ModelLoadError(f"{where}: compiling for CPU failed: {exc}") from exc
            fallback_reason = f"compiling for {device} failed ({exc}); compiled for CPU"
            device = "CPU"
            properties, note = config(device)
            try:
                compiled = core.compile_model(model, device, properties)
            except Exception as exc2:
                raise ModelLoadError(f"{where}: compiling for CPU failed: {exc2}") from exc2
        return cls(
            manifest, compiled, featurizer, device, fallback_reason, precision=precision, precision_note=note
        )

    @contextmanager
    def _request(self) -> Iterator[Any]:
        request = self._requests.get()
        try:
            yield request
        finally:
            self._requests.put(request)

    def infer(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Run the model on ``texts``; returns every IR output by name (float32 arrays)."""
        batch = check_texts(texts)
        with self._featurize_lock:
            inputs = self._featurizer(batch)
        with self._request() as request:
            results = request.infer(inputs, share_inputs=True)
            outputs = {
                port.get_any_name(): np.array(value, dtype=np.float32) for port, value in results.items()
            }
        return outputs

    def classify(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities float32 [N, len(labels)] in label order. ValueError on bad input."""
        if "PROBS" not in self._output_names:
            raise ValueError(f"model {self.manifest.name} has no PROBS output (task {self.manifest.task})")
        return self.infer(texts)["PROBS"]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised embeddings float32 [N, D]. ValueError on bad input."""
        if "EMBEDDING" not in self._output_names:
            raise ValueError(f"model {self.manifest.name} has no EMBEDDING output")
        vectors = self.infer(texts)["EMBEDDING"]
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        norms[norms == 0.0] = 1.0
        return (vectors / norms).astype(np.float32)

    def predict_labels(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        """Argmax label and its probability per text (classify models)."""
        probs = self.classify(texts)
        best = probs.argmax(axis=1)
        return [(self.labels[int(i)], float(probs[row, i])) for row, i in enumerate(best)]
