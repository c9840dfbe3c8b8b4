"""Build the default hashed CLINC150 models into a registry (``edgefleet models build``).

Models: ``generalist`` (150 intents + ``oos``), ``domain-router`` (10 domains + ``oos``) and
``clinc-<domain>`` for each domain (its 15 intents + ``oos``; trained with a sample of the other
domains' examples labelled ``oos`` so that it rejects out-of-domain text). Each model's version
is a content hash of (data sha256, featuriser config, training config, build code), so a rerun
skips models that are up to date.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from factory import export, metrics, train_hashed
from factory.data import OOS_LABEL, Clinc150, Example, load_clinc150
from factory.export import export_mlp, mlp_tensor_specs
from factory.metrics import classifier_metrics
from factory.train_hashed import TrainConfig, train_mlp
from fleet.errors import ModelLoadError
from fleet.models import featurize
from fleet.models.featurize import DEFAULT_HASHED_CONFIG, HashedFeaturizer
from fleet.models.manifest import load_bundle
from fleet.models.registry import write_latest, write_model_version

GENERALIST = "generalist"
DOMAIN_ROUTER = "domain-router"
SPECIALIST_PREFIX = "clinc-"


@dataclass(frozen=True)
class ModelSpec:
    """How to build one default model."""

    name: str
    kind: str  # "generalist" | "domain-router" | "specialist"
    domain: str | None = None
    train: TrainConfig = field(default_factory=TrainConfig)
    oos_weight: float = 3.0
    negatives_per_domain: int = 150


def default_model_names(clinc: Clinc150 | None = None) -> list[str]:
    """Names of the default models, generalist first."""
    domains = (clinc or load_clinc150()).domain_names
    return [GENERALIST, DOMAIN_ROUTER] + [specialist_name(d) for d in domains]


def specialist_name(domain: str) -> str:
    """Registry name of a domain's specialist, e.g. ``clinc-banking``."""
    return SPECIALIST_PREFIX + domain


def default_model_specs(clinc: Clinc150) -> list[ModelSpec]:
    """Specs of the 12 default models."""
    specs = [
        ModelSpec(GENERALIST, "generalist"),
        ModelSpec(DOMAIN_ROUTER, "domain-router", train=TrainConfig(hidden=128)),
    ]
    specs += [
        ModelSpec(
            specialist_name(d),
            "specialist",
            domain=d,
            oos_weight=1.0,
            train=TrainConfig(hidden=128, epochs=12),
        )
        for d in clinc.domain_names
    ]
    return specs


def _code_fingerprint() -> str:
    sources = [Path(m.__file__ or "").read_bytes() for m in (featurize, train_hashed, export, metrics)]
    sources.append(Path(__file__).read_bytes())
    return hashlib.sha256(b"\0".join(sources)).hexdigest()


def model_version(
    spec: ModelSpec, data_sha256: str, featurizer_config: dict[str, Any], train_limit: int | None
) -> str:
    """Content-hash version of a model: changes when data, config or build code change."""
    payload = json.dumps(
        {
            "spec": {k: v for k, v in spec.__dict__.items() if k != "train"},
            "train": spec.train.as_dict(),
            "featurizer": featurizer_config,
            "data": data_sha256,
            "train_limit": train_limit,
            "code": _code_fingerprint(),
        },
        sort_keys=True,
    )
    return "h" + hashlib.sha256(payload.encode("utf-8")).hexdigest()[:12]


@dataclass
class _Dataset:
    labels: list[str]
    train: list[Example]
    val: list[Example]
    test: list[Example]
    oos_test: list[Example]
    extra_tests: dict[str, list[Example]] = field(default_factory=dict)


def _limit(examples: list[Example], per_label: int | None) -> list[Example]:
    if per_label is None:
        return examples
    seen: dict[str, int] = {}
    kept = []
    for example in examples:
        seen[example[1]] = seen.get(example[1], 0) + 1
        if seen[example[1]] <= per_label:
            kept.append(example)
    return kept


def _other_domain_sample(
    clinc: Clinc150, split: list[Example], domain: str, per_domain: int, seed: int
) -> list[Example]:
    rng = random.Random(f"{seed}-{domain}")
    sample: list[Example] = []
    for other in clinc.domain_names:
        if other != domain:
            pool = clinc.in_domain(split, other)
            sample += [(text, OOS_LABEL) for text, _ in rng.sample(pool, min(per_domain, len(pool)))]
    return sample


def _dataset(spec: ModelSpec, clinc: Clinc150, train_limit: int | None) -> _Dataset:
    train = _limit(clinc.train, train_limit)
    if spec.kind == "generalist":
        return _Dataset(
            [*clinc.intents, OOS_LABEL],
            train + clinc.oos_train,
            clinc.val + clinc.oos_val,
            clinc.test,
            clinc.oos_test,
        )
    if spec.kind == "domain-router":
        return _Dataset(
            [*clinc.domain_names, OOS_LABEL],
            clinc.as_domains(train + clinc.oos_train),
            clinc.as_domains(clinc.val + clinc.oos_val),
            clinc.as_domains(clinc.test),
            clinc.oos_test,
        )
    assert spec.domain is not None
    dom = spec.domain
    per_domain = (
        spec.negatives_per_domain if train_limit is None else min(spec.negatives_per_domain, train_limit * 3)
    )
    return _Dataset(
        clinc.domains[dom] + [OOS_LABEL],
        clinc.in_domain(train, dom)
        + clinc.oos_train
        + _other_domain_sample(clinc, train, dom, per_domain, 0),
        clinc.in_domain(clinc.val, dom) + clinc.oos_val + _other_domain_sample(clinc, clinc.val, dom, 30, 1),
        clinc.in_domain(clinc.test, dom),
        clinc.oos_test,
        {"out_of_domain": [(t, OOS_LABEL) for t, i in clinc.test if clinc.domain_of(i) != dom]},
    )


class _FeatureCache:
    """Hashed features of each distinct text, computed once per build."""

    def __init__(self, featurizer: HashedFeaturizer) -> None:
        self.featurizer = featurizer
        self._rows: dict[str, int] = {}
        self._parts: list[Any] = []
        self._matrix: Any = None

    def matrix(self, examples: Sequence[Example]) -> Any:
        import scipy.sparse as sp

        new = list(dict.fromkeys(t for t, _ in examples if t not in self._rows))
        if new:
            indptr, indices, data = self.featurizer.csr(new)
            self._parts.append(sp.csr_matrix((data, indices, indptr), shape=(len(new), self.featurizer.dim)))
            for text in new:
                self._rows[text] = len(self._rows)
            self._matrix = sp.vstack(self._parts, format="csr") if len(self._parts) > 1 else self._parts[0]
            self._parts = [self._matrix]
        return self._matrix[[self._rows[t] for t, _ in examples]]


def _build_one(
    spec: ModelSpec,
    clinc: Clinc150,
    cache: _FeatureCache,
    registry: Path,
    version: str,
    train_limit: int | None,
    on_epoch: Callable[[int, int, float], None] | None,
) -> Path:
    data = _dataset(spec, clinc, train_limit)
    index = {label: i for i, label in enumerate(data.labels)}

    def ids(examples: Sequence[Example]) -> np.ndarray:
        return np.array([index[label] for _, label in examples], dtype=np.int64)

    y_train = ids(data.train)
    weights = np.where(y_train == index[OOS_LABEL], spec.oos_weight, 1.0).astype(np.float32)
    started = time.perf_counter()
    result = train_mlp(
        cache.matrix(data.train),
        y_train,
        len(data.labels),
        cache.matrix(data.val),
        ids(data.val),
        spec.train,
        sample_weight=weights,
        progress=on_epoch,
    )
    train_seconds = time.perf_counter() - started

    def probs(examples: Sequence[Example]) -> np.ndarray:
        return train_hashed.forward_probs(result.weights, cache.matrix(examples))

    metrics = classifier_metrics(
        val_probs=probs(data.val),
        val_labels=ids(data.val),
        test_probs=probs(data.test),
        test_labels=ids(data.test),
        oos_probs=probs(data.oos_test),
        oos_index=index[OOS_LABEL],
        extra={name: probs(ex) for name, ex in data.extra_tests.items()},
    )
    metrics.update(
        val_accuracy=result.val_accuracy,
        best_epoch=float(result.best_epoch),
        train_seconds=round(train_seconds, 3),
        train_examples=float(len(data.train)),
    )
    xml, weights_bin = export_mlp(result.weights, model_name=spec.name)
    inputs, outputs = mlp_tensor_specs(result.weights)
    return write_model_version(
        registry,
        name=spec.name,
        version=version,
        task="classify",
        labels=data.labels,
        precision="FP32",
        featurizer=cache.featurizer.config(),
        inputs=inputs,
        outputs=outputs,
        files={"model.xml": xml, "model.bin": weights_bin},
        data_sha256=clinc.sha256,
        metrics=metrics,
    )


def _is_current(registry: Path, name: str, version: str) -> bool:
    try:
        load_bundle(registry / name / version)
    except ModelLoadError:
        return False
    return True


def build_default_models(
    registry: Path,
    *,
    only: Sequence[str] | None = None,
    train_limit: int | None = None,
    progress: bool = True,
) -> list[Path]:
    """Build (or reuse, when up to date) the default CLINC150 models; returns their version folders.

    ``only`` restricts to some model names; ``train_limit`` caps training examples per label
    (for quick test builds). Writes ``REGISTRY/<name>/latest`` for every model.
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    registry = Path(registry)
    clinc = load_clinc150()
    specs = default_model_specs(clinc)
    if only is not None:
        unknown = sorted(set(only) - {s.name for s in specs})
        if unknown:
            raise ValueError(f"unknown default model(s) {unknown}; choose from {[s.name for s in specs]}")
        specs = [s for s in specs if s.name in set(only)]
    featurizer = HashedFeaturizer.from_config(DEFAULT_HASHED_CONFIG)
    cache = _FeatureCache(featurizer)
    paths: list[Path] = []
    with Progress(
        TextColumn("{task.description:<24}"),
        BarColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        disable=not progress,
    ) as bars:
        for spec in specs:
            version = model_version(spec, clinc.sha256, featurizer.config(), train_limit)
            task = bars.add_task(spec.name, total=spec.train.epochs, status="")
            if _is_current(registry, spec.name, version):
                write_latest(registry, spec.name, version)
                bars.update(task, completed=spec.train.epochs, status=f"up to date ({version})")
                paths.append(registry / spec.name / version)
                continue

            def on_epoch(epoch: int, epochs: int, val_acc: float, task_id: Any = task) -> None:
                bars.update(task_id, completed=epoch, status=f"epoch {epoch} val {val_acc:.3f}")

            path = _build_one(spec, clinc, cache, registry, version, train_limit, on_epoch)
            bars.update(task, completed=spec.train.epochs, status=f"built {version}")
            paths.append(path)
    return paths


SUMMARY_METRICS = {
    "test_accuracy": "acc",
    "oos_recall": "oos rec",
    "oos_threshold": "thr",
    "oos_recall_at_threshold": "oos rec@thr",
    "train_seconds": "train s",
}


def build_summary_rows(paths: Sequence[Path]) -> list[dict[str, Any]]:
    """One row per built model folder: name, version, labels count and the key metrics."""
    from fleet.models.registry import read_manifest

    rows: list[dict[str, Any]] = []
    for path in paths:
        manifest = read_manifest(path)
        row: dict[str, Any] = {
            "name": manifest.name,
            "version": manifest.version,
            "labels": len(manifest.labels),
        }
        row.update({key: manifest.metrics.get(key) for key in SUMMARY_METRICS})
        rows.append(row)
    return rows


def print_build_summary(paths: Sequence[Path], console: Any = None) -> None:
    """Print a rich table of the built models' metrics (for ``edgefleet models build``)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="hashed CLINC150 models (acc = in-scope test accuracy; thr = oos threshold)")
    table.add_column("name", no_wrap=True)
    table.add_column("version", no_wrap=True)
    table.add_column("labels", justify="right")
    for header in SUMMARY_METRICS.values():
        table.add_column(header, justify="right", no_wrap=True)
    for row in build_summary_rows(paths):
        cells = [row["name"], row["version"], str(row["labels"])]
        cells += ["" if row[key] is None else f"{row[key]:g}" for key in SUMMARY_METRICS]
        table.add_row(*cells)
    (console or Console()).print(table)
