"""Distilled students: hashed word + character n-gram features -> a small MLP trained on the
generalist's soft labels (knowledge distillation), exported to OpenVINO IR. No encoder at runtime.

Targets mix the teacher's temperature-softened distribution with the gold label
(``alpha * soft + (1 - alpha) * onehot``). The teacher's 151-way distribution is mapped onto each
student's label space: summed per domain for the domain router; for a domain student, the domain's
15 intents keep their mass and everything else (other domains, oos) becomes ``oos``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from factory.data import OOS_LABEL, Clinc150
from factory.export import MLPWeights
from factory.train_hashed import TrainConfig, forward_probs, train_mlp
from fleet.models.featurize import DEFAULT_HASHED_CONFIG, HashedFeaturizer

STUDENT_SUFFIX = "-student"
STUDENT_TRAIN = TrainConfig(hidden=256, epochs=14, batch_size=128, lr=2e-3, dropout=0.2, patience=3, seed=0)


@dataclass(frozen=True)
class DistillOptions:
    """How students are trained."""

    temperature: float = 1.0  # probabilities are summed over label groups, so no softening
    alpha: float = 0.5  # weight of the teacher's soft labels vs the gold label
    hard_example_weight: float = 3.0
    train: TrainConfig = STUDENT_TRAIN


def router_projection(teacher_labels: Sequence[str], clinc: Clinc150) -> tuple[list[str], np.ndarray]:
    """(student labels, [L_teacher, L_student] 0/1 matrix) summing intents into domains + oos."""
    labels = [*clinc.domain_names, OOS_LABEL]
    col = {label: i for i, label in enumerate(labels)}
    proj = np.zeros((len(teacher_labels), len(labels)), dtype=np.float32)
    for i, label in enumerate(teacher_labels):
        proj[i, col[clinc.domain_of(label)]] = 1.0
    return labels, proj


def domain_projection(
    teacher_labels: Sequence[str], clinc: Clinc150, domain: str, others_to_oos: bool = True
) -> tuple[list[str], np.ndarray]:
    """(student labels, projection) for a domain student: its intents and oos; other domains' intents
    go to oos (``others_to_oos``) or are dropped (the row is renormalised afterwards)."""
    labels = [*list(clinc.domains[domain]), OOS_LABEL]
    col = {label: i for i, label in enumerate(labels)}
    proj = np.zeros((len(teacher_labels), len(labels)), dtype=np.float32)
    for i, label in enumerate(teacher_labels):
        if label in col or others_to_oos:
            proj[i, col.get(label, col[OOS_LABEL])] = 1.0
    return labels, proj


def map_label(label: str, student_labels: Sequence[str], clinc: Clinc150) -> str:
    """A teacher/gold intent label expressed in a student's label space."""
    if label in student_labels:
        return label
    if OOS_LABEL in student_labels and label != OOS_LABEL and clinc.domain_of(label) in student_labels:
        return clinc.domain_of(label)
    return OOS_LABEL


def make_targets(
    soft: np.ndarray, gold: Sequence[str], labels: Sequence[str], alpha: float, hard_oos: bool = False
) -> np.ndarray:
    """``alpha * soft + (1 - alpha) * onehot(gold)`` rows over ``labels``; ``soft`` rows are renormalised
    (an all-zero row falls back to the gold label), and with ``hard_oos`` rows whose gold label is
    ``oos`` use the gold label only (the teacher's view of a foreign text says nothing about this
    student's intents)."""
    col = {label: i for i, label in enumerate(labels)}
    onehot = np.zeros_like(soft, dtype=np.float32)
    onehot[np.arange(len(gold)), [col[g] for g in gold]] = 1.0
    sums = soft.sum(axis=1, keepdims=True)
    soft = np.where(sums > 1e-6, soft / np.maximum(sums, 1e-6), onehot)
    if hard_oos and OOS_LABEL in col:
        is_oos = np.array([g == OOS_LABEL for g in gold])[:, None]
        soft = np.where(is_oos, onehot, soft)
    return (alpha * soft + (1.0 - alpha) * onehot).astype(np.float32)


def featurizer() -> HashedFeaturizer:
    """The students' featuriser (the MODELS helper's default hashed configuration)."""
    return HashedFeaturizer.from_config(DEFAULT_HASHED_CONFIG)


def features(feat: HashedFeaturizer, texts: Sequence[str]) -> object:
    """Hashed features of ``texts`` as a scipy CSR matrix."""
    from scipy.sparse import csr_matrix

    indptr, indices, data = feat.csr(list(texts))
    return csr_matrix((data, indices, indptr), shape=(len(texts), feat.dim))


@dataclass
class StudentFit:
    """A trained student and its validation accuracy."""

    labels: list[str]
    weights: MLPWeights
    val_accuracy: float


def train_student(
    labels: list[str],
    texts: Sequence[str],
    targets: np.ndarray,
    val_texts: Sequence[str],
    val_gold: Sequence[str],
    *,
    sample_weight: np.ndarray | None = None,
    options: DistillOptions = DistillOptions(),
    progress: Callable[[int, int, float], None] | None = None,
) -> StudentFit:
    """Train one student MLP on ``targets`` (rows over ``labels``); early stopping on ``val``."""
    feat = featurizer()
    col = {label: i for i, label in enumerate(labels)}
    result = train_mlp(
        features(feat, texts),
        targets,
        len(labels),
        features(feat, val_texts),
        np.array([col[g] for g in val_gold], dtype=np.int64),
        options.train,
        sample_weight=sample_weight,
        progress=progress,
    )
    return StudentFit(labels=labels, weights=result.weights, val_accuracy=result.val_accuracy)


def student_accuracy(
    weights: MLPWeights, labels: Sequence[str], texts: Sequence[str], gold: Sequence[str]
) -> float:
    """Argmax accuracy of a student (numpy forward) on ``texts`` with gold labels in its label space."""
    if not texts:
        return float("nan")
    probs = forward_probs(weights, features(featurizer(), texts))
    col = {label: i for i, label in enumerate(labels)}
    return float((probs.argmax(axis=1) == np.array([col[g] for g in gold])).mean())
