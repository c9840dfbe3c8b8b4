"""Building the distilled students inside a factory run, and their pruning table.

Students: ``domain-router-student`` (10 domains + oos) and ``clinc-<domain>-student`` (15 intents +
oos), all distilled from the generalist (see :mod:`factory.distill`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from factory import artifacts as art
from factory.build_config import BuildConfig, BuildSummary
from factory.data import Clinc150, Example
from factory.distill import (
    STUDENT_SUFFIX,
    DistillOptions,
    StudentFit,
    domain_projection,
    features,
    featurizer,
    make_targets,
    router_projection,
    student_accuracy,
    train_student,
)
from factory.export import MLPWeights, export_mlp, mlp_tensor_specs
from factory.heads import Head, HeadTask, domain_task, specialist_task
from factory.progress import Steps
from factory.prune import PruneRow, head_table, student_table
from fleet.models.registry import write_model_version


class TeacherBuild(Protocol):
    """What the students need of the factory run they are part of (``factory.build.TeacherBuild``)."""

    registry: Path
    cfg: BuildConfig
    steps: Steps
    summary: BuildSummary
    clinc: Clinc150
    domains: list[str]
    data_sha: str
    heads: dict[str, Head]

    def tasks(self) -> list[HeadTask]:
        """Every head-based model's task (the generalist first)."""
        ...

    def embeddings(self, examples: list[Example]) -> np.ndarray:
        """Cached FP32 embeddings of the examples' texts."""
        ...

    def key(self, name: str, version: str) -> str:
        """Build hash of one model version."""
        ...

    def is_current(self, name: str, version: str) -> bool:
        """True when the registry holds this version built from the same inputs."""
        ...


@dataclass
class StudentData:
    """Everything one student is trained and validated on."""

    name: str
    teacher: str
    labels: list[str]
    projection: np.ndarray  # teacher labels -> student labels
    train: list[Example]  # gold labels already in the student's label space
    val: list[Example]
    extra: list[Example] = field(default_factory=list)  # hard examples (flywheel), teacher-labelled
    eval_projection: np.ndarray | None = None  # teacher -> student labels for scoring the teacher


def student_datasets(build: TeacherBuild, teacher_labels: list[str]) -> list[StudentData]:
    """The router student and one student per built domain."""
    clinc = build.clinc
    labels, proj = router_projection(teacher_labels, clinc)
    router = domain_task(clinc)
    out = [
        StudentData("domain-router" + STUDENT_SUFFIX, "generalist", labels, proj, router.train, router.val)
    ]
    for domain in build.domains:
        task = specialist_task(clinc, domain)
        labels, proj = domain_projection(teacher_labels, clinc, domain, others_to_oos=False)
        full = domain_projection(teacher_labels, clinc, domain, others_to_oos=True)[1]
        out.append(
            StudentData(
                f"clinc-{domain}{STUDENT_SUFFIX}",
                "generalist",
                labels,
                proj,
                task.train,
                task.val,
                eval_projection=full,
            )
        )
    return out


def fit_student(
    build: TeacherBuild, data: StudentData, head: Head, options: DistillOptions | None = None
) -> tuple[StudentFit, dict[str, float]]:
    """Train one student on teacher soft labels (+ hard examples) and measure it vs the teacher on val."""
    options = options or DistillOptions()
    texts = [t for t, _ in data.train]
    soft = head.probs(build.embeddings(data.train), options.temperature) @ data.projection
    targets = make_targets(
        soft,
        [g for _, g in data.train],
        data.labels,
        options.alpha,
        hard_oos=not data.name.startswith("domain-router"),
    )
    weights = np.ones(len(texts), dtype=np.float32)
    if data.extra:
        col = {label: i for i, label in enumerate(data.labels)}
        extra_t = np.zeros((len(data.extra), len(data.labels)), dtype=np.float32)
        extra_t[np.arange(len(data.extra)), [col[g] for _, g in data.extra]] = 1.0
        texts += [t for t, _ in data.extra]
        targets = np.vstack([targets, extra_t])
        weights = np.concatenate([weights, np.full(len(data.extra), options.hard_example_weight, np.float32)])
    fit = train_student(
        data.labels,
        texts,
        targets,
        [t for t, _ in data.val],
        [g for _, g in data.val],
        sample_weight=weights,
        options=options,
    )
    col = {label: i for i, label in enumerate(data.labels)}
    projection = data.projection if data.eval_projection is None else data.eval_projection
    teacher_val = (head.probs(build.embeddings(data.val)) @ projection).argmax(axis=1)
    gold_val = np.array([col[g] for _, g in data.val])
    metrics = {
        "val_accuracy": fit.val_accuracy,
        "teacher_val_accuracy": float((teacher_val == gold_val).mean()),
    }
    return fit, metrics


def write_student(
    build: TeacherBuild,
    name: str,
    version: str,
    fit: StudentFit,
    metrics: dict[str, float],
    *,
    key: str | None,
    set_latest: bool = True,
) -> None:
    """Export a student to IR and write it into the registry."""
    xml, weights = export_mlp(fit.weights, model_name=name)
    inputs, outputs = mlp_tensor_specs(fit.weights)
    write_model_version(
        build.registry,
        name=name,
        version=version,
        task="classify",
        labels=fit.labels,
        precision="FP32",
        featurizer=featurizer().config(),
        inputs=inputs,
        outputs=outputs,
        files={"model.xml": xml, "model.bin": weights},
        data_sha256=build.data_sha,
        metrics=metrics,
        set_latest=set_latest,
    )
    if key is not None:
        art.write_stamp(build.registry, name, version, key)


class StudentBuilder:
    """Builds the students of one factory run and keeps their weights for the pruning table."""

    def __init__(self, build: TeacherBuild) -> None:
        self.build = build
        self.fits: dict[str, StudentFit] = {}
        self.names = ["domain-router" + STUDENT_SUFFIX] + [
            f"clinc-{d}{STUDENT_SUFFIX}" for d in build.domains
        ]

    def pending(self) -> list[str]:
        """Students whose current version is missing or stale."""
        return [n for n in self.names if not self.build.is_current(n, art.STUDENT_VERSION)]

    def build_all(self, todo: list[str], head: Head) -> None:
        """Train and write the students in ``todo``."""
        teacher_labels = list(self.build.tasks()[0].labels)
        datasets = [d for d in student_datasets(self.build, teacher_labels) if d.name in todo]
        with self.build.steps.step(
            "distilling hashed students from the generalist", total=len(datasets)
        ) as adv:
            for data in datasets:
                fit, metrics = fit_student(self.build, data, head)
                self.fits[data.name] = fit
                write_student(
                    self.build,
                    data.name,
                    art.STUDENT_VERSION,
                    fit,
                    metrics,
                    key=self.build.key(data.name, art.STUDENT_VERSION),
                )
                self.build.summary.built.append(f"{data.name}:{art.STUDENT_VERSION}")
                self.build.summary.metrics[f"{data.name}:{art.STUDENT_VERSION}"] = metrics
                adv(1)

    def pruning_report(self) -> list[PruneRow]:
        """Sparsity vs accuracy vs latency of the router and first domain students and of the generalist and
        first specialist heads,
        written to ``REGISTRY/report/pruning.json``."""
        rows: list[PruneRow] = []
        teacher_labels = list(self.build.tasks()[0].labels)
        with self.build.steps.step("pruning table (students and heads)"):
            for data in student_datasets(self.build, teacher_labels)[:2]:
                fit = self.fits.get(data.name)
                if fit is None:
                    continue
                texts, gold = [t for t, _ in data.val], [g for _, g in data.val]
                sample = np.asarray(features(featurizer(), texts[:1]).todense())  # type: ignore[attr-defined]

                def accuracy(
                    w: MLPWeights,
                    labels: list[str] = fit.labels,
                    texts: list[str] = texts,
                    gold: list[str] = gold,
                ) -> float:
                    return student_accuracy(w, labels, texts, gold)

                rows += student_table(
                    data.name, fit.weights, accuracy, sample, self.build.cfg.pruning_sparsities
                )
            tasks = {task.name: task for task in self.build.tasks()}
            for name, head in self.build.heads.items():
                if name not in ("generalist", f"clinc-{self.build.domains[0]}"):
                    continue
                task = tasks[name]
                rows += head_table(
                    f"{name} head",
                    head,
                    self.build.embeddings(task.val).astype(np.float32),
                    task.indices(task.val),
                    self.build.cfg.pruning_sparsities,
                )
        out = self.build.registry / art.REPORT_DIR
        out.mkdir(parents=True, exist_ok=True)
        (out / "pruning.json").write_text(json.dumps([r.as_dict() for r in rows], indent=2), encoding="utf-8")
        return rows
