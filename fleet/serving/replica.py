"""One replica of a deployment: a TextModel (or, for a generative model, an LLM engine, and for a
retrieval collection, a retriever, both loaded from the registry folder on this node) served over
KServe v2 gRPC on its node.

A plain class; :mod:`fleet.ray_adapter.backend` turns it into a Ray actor pinned to a node
(binding to the node's address; ``host`` defaults to loopback outside Ray). The
constructor only records its arguments; :meth:`Replica.start` compiles the model and starts the
gRPC server. A model that fails to load never crashes the replica: it reports not-ready with
the reason (and its server answers UNAVAILABLE), so the controller can show why. Its health
report carries the effective inference precision (read back from the compiled model) and the
node CPU's ISA features (:func:`fleet.serving.cpu.cpu_isa`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from edgefleet.policy.batching_options import BatchingOptions
from edgefleet.policy.llm_options import LLMOptions
from edgefleet.replica_guard import ReplicaGuard
from fleet.errors import ModelLoadError
from fleet.models.collection_manifest import RETRIEVE_TASK
from fleet.models.llm_manifest import GENERATE_TASK
from fleet.models.manifest import ModelBundle
from fleet.serving.cpu import cpu_isa
from fleet.serving.kserve_aio import AioKServeEndpoint, AioKServeServicer
from fleet.serving.kserve_server import InferenceServicer, KServeEndpoint, start_kserve
from fleet.serving.llm_model import LLMModel, load_llm
from fleet.serving.llm_servicer import LLMServicer
from fleet.serving.replica_metrics import MetricsServer, ReplicaMetrics
from fleet.serving.retrieve_servicer import RetrieveServicer
from fleet.serving.retriever import RetrieverModel, load_retriever
from fleet.serving.runtime import TextModel

ServedModel = TextModel | LLMModel | RetrieverModel

log = logging.getLogger("edgefleet.replica")


class Replica:
    """Serves one model version on one node. Methods are called by the controller through Ray."""

    def __init__(
        self,
        replica_id: str,
        deployment: str,
        bundle: ModelBundle,
        device_prefs: Sequence[str],
        node_name: str,
        *,
        placed_device: str = "",
        max_queue: int = 64,
        host: str | None = None,
        precision: str = "auto",
        llm: LLMOptions | None = None,
        guard: ReplicaGuard | None = None,
        batching: BatchingOptions | None = None,
    ) -> None:
        """`guard`: the fleet token, TLS and KServe limits of its server (edgefleet.replica_guard)."""
        self.replica_id = replica_id
        self.guard = guard or ReplicaGuard()
        self.deployment = deployment
        self.node_name = node_name
        self.device_prefs = list(device_prefs) or ["CPU"]
        self.placed_device = placed_device or self.device_prefs[0]
        self.max_queue = max_queue
        self.precision = precision
        self._bundle: ModelBundle | None = bundle
        manifest = bundle.manifest
        self._identity = {  # what a restarted controller adopts this replica by (see health())
            "deployment": deployment,
            "node_name": node_name,
            "placed_device": self.placed_device,
            "precision_setting": precision,
            "bundle_model": manifest.name,
            "bundle_version": manifest.version,
            "bundle_precision": manifest.precision,
        }
        self.host = host
        self.llm = llm
        self.batching = batching
        self._model: ServedModel | None = None
        self._endpoint: KServeEndpoint | AioKServeEndpoint | None = None
        self._error: str | None = None
        self._detail = ""
        self._address = ""
        self._metrics: MetricsServer | None = None
        self._started_unix = time.time()

    def start(self) -> dict[str, Any]:
        """Compile the model and start the KServe v2 server; returns :meth:`health`."""
        if self._endpoint is not None:
            return self.health()
        bundle = self._bundle
        assert bundle is not None
        task = bundle.manifest.task
        try:
            if task == GENERATE_TASK:
                self._model = load_llm(bundle, self.device_prefs, self.llm, max_queue=self.max_queue)
            elif task == RETRIEVE_TASK:
                self._model = load_retriever(bundle, self.device_prefs, precision=self.precision)
            else:
                self._model = TextModel.load(bundle, self.device_prefs, precision=self.precision)
            self._detail = _detail(self._model, self.placed_device, self.node_name)
        except ModelLoadError as exc:
            self._error = str(exc)
        except Exception as exc:  # noqa: BLE001 - any other failure is reported, never raised
            self._error = f"{type(exc).__name__}: {exc}"
        self._bundle = None  # the compiled model is all we need now
        host = self.host or "127.0.0.1"
        servicer: InferenceServicer
        if task not in (RETRIEVE_TASK, GENERATE_TASK):
            text = AioKServeServicer(
                self._model if isinstance(self._model, TextModel) else None,
                node=self.node_name,
                replica=self.replica_id,
                load_error=self._error,
                max_queue=self.max_queue,
                batching=self.batching,
                max_batch=self.guard.max_batch,
            )
            self._endpoint = AioKServeEndpoint(text, host, 0, guard=self.guard)
            servicer = text
        elif task == RETRIEVE_TASK:
            servicer = RetrieveServicer(
                self._model if isinstance(self._model, RetrieverModel) else None,
                node=self.node_name,
                replica=self.replica_id,
                load_error=self._error,
                max_queue=self.max_queue,
                max_batch=self.guard.max_batch,
            )
        elif task == GENERATE_TASK:
            model = self._model if isinstance(self._model, LLMModel) else None
            servicer = LLMServicer(
                model,
                node=self.node_name,
                replica=self.replica_id,
                load_error=self._error,
                max_queue=self.max_queue,
            )
        if self._endpoint is None:
            self._endpoint = start_kserve(servicer, host, 0, guard=self.guard)
        self._address = f"{host}:{self._endpoint.port}"
        self._start_metrics(servicer, host)
        if self._error:
            log.error("replica %s: model failed to load: %s", self.replica_id, self._error)
        return self.health()

    def _start_metrics(self, servicer: InferenceServicer, host: str) -> None:
        """Serve the replica's Prometheus metrics beside its gRPC server (a failure to bind is
        logged, never fatal: the replica serves without metrics)."""
        model = self._model
        info = {
            "replica": self.replica_id,
            "node": self.node_name,
            "device": model.device if model is not None else "",
            "version": model.manifest.version if model is not None else "",
        }
        metrics = ReplicaMetrics(self.deployment, model.manifest.name if model is not None else "", info)
        metrics.watch(servicer.stats)
        try:
            self._metrics = MetricsServer(metrics, host, 0)
        except OSError as exc:
            log.warning("replica %s: no /metrics endpoint: %s", self.replica_id, exc)

    def health(self) -> dict[str, Any]:
        """Readiness, address, device and serving statistics, plus the replica's identity
        (deployment, node, placed device, precision setting, model version of its bundle), by
        which a restarted controller adopts it."""
        model = self._model
        report: dict[str, Any] = {
            **self._identity,
            "replica_id": self.replica_id,
            "live": True,
            "ready": model is not None and self._endpoint is not None,
            "address": self._address,
            "device": model.device if model is not None else "",
            "detail": self._detail,
            "error": self._error or "",
            "model": model.manifest.name if model is not None else "",
            "version": model.manifest.version if model is not None else "",
            "precision": model.manifest.precision if model is not None else "",
            "inference_precision": getattr(model, "inference_precision", "") if model is not None else "",
            "isa": list(cpu_isa()),
            "uptime_s": time.time() - self._started_unix,
            "metrics_address": self._metrics.address if self._metrics is not None else "",
        }
        if self._endpoint is not None:
            report.update(self._endpoint.servicer.stats.snapshot().as_dict())
        return report

    def infer(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Run the model directly (the Ray-call data path, for comparison with gRPC)."""
        if self._model is None:
            raise ModelLoadError(
                f"replica {self.replica_id}: model not loaded: {self._error or 'not started'}"
            )
        if not isinstance(self._model, TextModel):
            raise ValueError(
                f"a {self._model.manifest.task} model answers over KServe ModelInfer/ModelStreamInfer only"
            )
        return self._model.infer(texts)

    def stop(self, grace_s: float = 2.0) -> None:
        """Stop serving: refuse new RPCs and let in-flight ones finish within `grace_s`."""
        if self._endpoint is not None:
            self._endpoint.stop(grace_s)
            self._endpoint = None
        if self._metrics is not None:
            self._metrics.stop()
            self._metrics = None
        if isinstance(self._model, LLMModel):
            self._model.close()
        self._model = None


def _detail(model: ServedModel, placed_device: str, node_name: str) -> str:
    """Why the replica runs other than asked: device fallback, then precision fallback."""
    parts: list[str] = []
    if model.device.split(".")[0] != placed_device:
        parts.append(
            f"placed for {placed_device}; OpenVINO on {node_name} compiled for {model.device}"
            + (f" ({model.fallback_reason})" if model.fallback_reason else "")
        )
    elif model.fallback_reason:
        parts.append(model.fallback_reason)
    note = getattr(model, "precision_note", None)  # text models: a precision that fell back
    if note:
        parts.append(note)
    return "; ".join(parts)
