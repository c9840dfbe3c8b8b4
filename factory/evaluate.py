"""Evaluating every model version in a registry on CLINC150 / Banking77, through the runtime.

Each model is loaded exactly as a replica loads it (``load_bundle`` + ``fleet.serving.runtime.TextModel``),
so the figures include featurisation. Which benchmark applies is read from the model's labels:
150 intents -> intent accuracy (+ per domain, + the intent->domain accuracy); 10 domains -> domain
accuracy; one domain's intents -> accuracy on that domain's test texts; Banking77's categories ->
its carved test split; embed models -> nearest-centroid intent accuracy. Models with an ``oos``
label are also scored on ``oos_test`` (argmax ``oos``, and max-probability below the manifest's
``oos_threshold``). Accuracy results are cached by the model's file hashes and the inference
precision; latency (batch 1, p50) is always measured, interleaved across all models in rounds so
that load on the machine hits all models alike.

Every model is scored at f32 inference precision (pinned: OpenVINO's CPU default is bf16 on CPUs
with BF16, which would make the figures depend on the machine). On a CPU with BF16 the wordpiece
(MiniLM FP32 and INT8) models are also scored and timed at bf16, in the same run
(``bf16_accuracy``, ``bf16_latency_ms_p50``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from factory import artifacts as art
from factory.data import OOS_LABEL, Clinc150, Splits, per_label
from fleet.models.manifest import Manifest, load_bundle
from fleet.serving.runtime import TextModel

EVAL_VERSION = "eval-2"  # eval-1 scored at OpenVINO's default precision (bf16 on BF16 CPUs)
BATCH = 64
BASELINE_PRECISION = "f32"


@dataclass
class ModelEval:
    """One model version's figures (``None`` where a figure does not apply)."""

    name: str
    version: str
    precision: str
    task: str
    featurizer: str
    latest: bool
    benchmark: str
    accuracy: float | None = None
    domain_accuracy: float | None = None
    oos_recall: float | None = None
    oos_recall_at_threshold: float | None = None
    in_scope_accuracy_at_threshold: float | None = None
    oos_threshold: float | None = None
    per_domain: dict[str, float] = field(default_factory=dict)
    latency_ms_p50: float | None = None
    size_mb: float = 0.0
    n_test: int = 0
    error: str | None = None
    inference_precision: str = BASELINE_PRECISION
    bf16_accuracy: float | None = None
    bf16_latency_ms_p50: float | None = None

    @property
    def ref(self) -> str:
        """``name:version``."""
        return f"{self.name}:{self.version}"

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return asdict(self)


def benchmark_of(manifest: Manifest, clinc: Clinc150, banking_labels: set[str]) -> str:
    """Which benchmark a model is scored on (see module docstring)."""
    labels = set(manifest.labels) - {OOS_LABEL}
    if manifest.task == "embed" or not labels:
        return "clinc150-embed"
    if set(clinc.intents) <= labels:
        return "clinc150-intents"
    if labels == set(clinc.domain_names):
        return "clinc150-domains"
    for domain, intents in clinc.domains.items():
        if labels <= set(intents) and len(labels) * 2 >= len(intents):
            return f"clinc150-domain:{domain}"
    if labels == banking_labels:
        return "banking77"
    return "none"


def _run(model: TextModel, texts: Sequence[str], embed: bool = False) -> np.ndarray:
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    parts = []
    for start in range(0, len(order), BATCH):
        batch = [texts[i] for i in order[start : start + BATCH]]
        parts.append(model.embed(batch) if embed else model.classify(batch))
    stacked = np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)
    return stacked[np.argsort(np.asarray(order))]


class Evaluator:
    """Scores models on the benchmarks (``limit``: test examples per label, for quick runs)."""

    def __init__(
        self, clinc: Clinc150, banking: Splits | None, cache: Path | None, limit: int | None = None
    ) -> None:
        self.clinc = clinc
        self.banking = banking
        self.banking_labels = {label for _, label in banking.train} if banking else set()
        self.cache = cache
        self.limit = limit
        self.test = per_label(clinc.test, limit)
        self.oos_test = clinc.oos_test[: (limit * 20) if limit else None]

    def _cache_path(self, manifest: Manifest, benchmark: str, precision: str) -> Path | None:
        if self.cache is None:
            return None
        key = art.content_key(
            EVAL_VERSION, manifest.files, manifest.labels, manifest.metrics, benchmark, self.limit, precision
        )
        return self.cache / "eval" / f"{key[:32]}.json"

    def scores(self, manifest: Manifest, model: TextModel, benchmark: str) -> dict[str, Any]:
        """The accuracy figures of ``model`` (from cache when the model files and its inference
        precision are unchanged)."""
        path = self._cache_path(manifest, benchmark, model.inference_precision)
        if path is not None and path.is_file():
            cached: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            return cached
        scored = self._score(manifest, model, benchmark)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(scored), encoding="utf-8")
        return scored

    def score(self, result: ModelEval, manifest: Manifest, model: TextModel) -> None:
        """Fill the accuracy fields of ``result`` (and its ``inference_precision``)."""
        for key, value in self.scores(manifest, model, result.benchmark).items():
            setattr(result, key, value)
        result.inference_precision = model.inference_precision

    def score_bf16(self, result: ModelEval, manifest: Manifest, model: TextModel) -> None:
        """Fill ``result.bf16_accuracy`` from ``model`` compiled at bf16."""
        result.bf16_accuracy = self.scores(manifest, model, result.benchmark).get("accuracy")

    def _score(self, manifest: Manifest, model: TextModel, benchmark: str) -> dict[str, Any]:
        clinc = self.clinc
        labels = list(manifest.labels)
        if benchmark == "clinc150-embed":
            return self._score_embed(model)
        if benchmark == "clinc150-intents":
            examples = self.test
        elif benchmark == "clinc150-domains":
            examples = clinc.as_domains(self.test)
        elif benchmark.startswith("clinc150-domain:"):
            examples = clinc.in_domain(self.test, benchmark.split(":", 1)[1])
        elif benchmark == "banking77" and self.banking is not None:
            examples = per_label(self.banking.test, self.limit)
        else:
            return {}
        probs = _run(model, [t for t, _ in examples])
        pred = [labels[i] for i in probs.argmax(axis=1)]
        gold = [g for _, g in examples]
        correct = np.array([p == g for p, g in zip(pred, gold, strict=True)])
        out: dict[str, Any] = {"accuracy": float(correct.mean()), "n_test": len(examples)}
        if benchmark.startswith("clinc150-"):
            domains = (
                [clinc.domain_of(t_i) for _, t_i in self.test] if benchmark != "clinc150-domains" else gold
            )
            if benchmark == "clinc150-intents":
                out["per_domain"] = {
                    d: float(correct[[x == d for x in domains]].mean()) for d in clinc.domain_names
                }
                pred_domain = [clinc.domain_of(p) for p in pred]
                out["domain_accuracy"] = float(
                    np.mean([p == d for p, d in zip(pred_domain, domains, strict=True)])
                )
            elif benchmark == "clinc150-domains":
                out["per_domain"] = {
                    d: float(correct[[g == d for g in gold]].mean()) for d in clinc.domain_names
                }
                out["domain_accuracy"] = out["accuracy"]
            else:
                out["per_domain"] = {benchmark.split(":", 1)[1]: out["accuracy"]}
        if OOS_LABEL in labels and self.oos_test:
            threshold = manifest.metrics.get("oos_threshold")
            oos_probs = _run(model, [t for t, _ in self.oos_test])
            is_oos = oos_probs.argmax(axis=1) == labels.index(OOS_LABEL)
            out["oos_recall"] = float(is_oos.mean())
            if threshold is not None:
                out["oos_threshold"] = float(threshold)
                out["oos_recall_at_threshold"] = float((is_oos | (oos_probs.max(axis=1) < threshold)).mean())
                kept = probs.max(axis=1) >= threshold
                out["in_scope_accuracy_at_threshold"] = float((correct & kept).mean())
        return out

    def _score_embed(self, model: TextModel) -> dict[str, Any]:
        per = 10 if self.limit is None else self.limit
        train = per_label(self.clinc.train, per)
        test = per_label(self.clinc.test, per)
        intents = self.clinc.intents
        emb = _run(model, [t for t, _ in train], embed=True)
        centroids = np.stack([emb[[g == i for _, g in train]].mean(axis=0) for i in intents])
        centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
        pred = (_run(model, [t for t, _ in test], embed=True) @ centroids.T).argmax(axis=1)
        accuracy = float(np.mean([intents[p] == g for p, (_, g) in zip(pred, test, strict=True)]))
        return {"accuracy": accuracy, "n_test": len(test)}


def measure_latency(
    models: dict[str, TextModel], texts: Sequence[str], rounds: int = 5, per_round: int = 20
) -> dict[str, float]:
    """Batch-1 p50 latency (ms) of each model, interleaved across models in ``rounds``."""
    samples: dict[str, list[float]] = {ref: [] for ref in models}
    for r in range(rounds):
        for ref, model in models.items():
            for i in range(3):
                model.classify([texts[i]]) if model.manifest.task == "classify" else model.embed([texts[i]])
            for i in range(per_round):
                text = texts[(r * per_round + i) % len(texts)]
                start = time.perf_counter()
                model.classify([text]) if model.manifest.task == "classify" else model.embed([text])
                samples[ref].append(time.perf_counter() - start)
    return {ref: float(np.median(v) * 1e3) for ref, v in samples.items()}


def version_dirs(registry: Path) -> list[tuple[Path, bool]]:
    """Every model version folder in ``registry`` and whether it is its model's latest."""
    out = []
    for model_dir in sorted(p for p in Path(registry).iterdir() if p.is_dir() and not p.name.startswith(".")):
        latest_file = model_dir / "latest"
        latest = latest_file.read_text(encoding="utf-8").strip() if latest_file.is_file() else ""
        for version_dir in sorted(
            p for p in model_dir.iterdir() if p.is_dir() and not p.name.startswith(".")
        ):
            if (version_dir / "manifest.yaml").is_file():
                out.append((version_dir, version_dir.name == latest))
    return out


def size_mb(folder: Path) -> float:
    """Size of a version folder's files in MB."""
    return round(sum(p.stat().st_size for p in folder.iterdir() if p.is_file()) / 1e6, 2)


def describe(folder: Path, latest: bool, manifest: Manifest, benchmark: str) -> ModelEval:
    """An empty :class:`ModelEval` for a version folder."""
    return ModelEval(
        name=manifest.name,
        version=manifest.version,
        precision=manifest.precision,
        task=manifest.task,
        featurizer=str(manifest.featurizer.get("kind", "?")),
        latest=latest,
        benchmark=benchmark,
        size_mb=size_mb(folder),
    )


def load_model(folder: Path, precision: str = BASELINE_PRECISION) -> TextModel:
    """Load a version folder the way a replica does, at ``precision`` (default f32)."""
    return TextModel.load(load_bundle(folder), ("CPU",), precision=precision)


def measures_bf16(manifest: Manifest) -> bool:
    """True for the models also measured at bf16 where the CPU has it: the wordpiece (MiniLM) ones."""
    return manifest.featurizer.get("kind") == "wordpiece"
