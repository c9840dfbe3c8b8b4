"""Distillation targets and label mappings, and a tiny student trained end to end."""

from __future__ import annotations

import numpy as np

from factory.data import Clinc150
from factory.distill import (
    DistillOptions,
    domain_projection,
    make_targets,
    map_label,
    router_projection,
    student_accuracy,
    train_student,
)
from factory.train_hashed import TrainConfig


def _clinc() -> Clinc150:
    domains = {"money": ["pay", "save"], "food": ["cook", "eat"]}
    i2d = {i: d for d, intents in domains.items() for i in intents}
    return Clinc150(
        train=[],
        val=[],
        test=[],
        oos_train=[],
        oos_val=[],
        oos_test=[],
        domains=domains,
        intent_to_domain=i2d,
    )


TEACHER = ["pay", "save", "cook", "eat", "oos"]


def test_router_projection_sums_intents_into_domains() -> None:
    labels, proj = router_projection(TEACHER, _clinc())
    assert labels == ["money", "food", "oos"]
    teacher = np.array([[0.1, 0.2, 0.3, 0.1, 0.3]], dtype=np.float32)
    assert np.allclose(teacher @ proj, [[0.3, 0.4, 0.3]])


def test_domain_projection_sends_other_domains_to_oos() -> None:
    labels, proj = domain_projection(TEACHER, _clinc(), "food")
    assert labels == ["cook", "eat", "oos"]
    teacher = np.array([[0.1, 0.2, 0.3, 0.1, 0.3]], dtype=np.float32)
    assert np.allclose(teacher @ proj, [[0.3, 0.1, 0.6]])


def test_map_label_and_targets() -> None:
    clinc = _clinc()
    assert map_label("pay", ["money", "food", "oos"], clinc) == "money"
    assert map_label("pay", ["cook", "eat", "oos"], clinc) == "oos"
    assert map_label("eat", ["cook", "eat", "oos"], clinc) == "eat"
    targets = make_targets(
        np.array([[0.5, 0.5, 0.0]], np.float32), ["cook"], ["cook", "eat", "oos"], alpha=0.5
    )
    assert np.allclose(targets, [[0.75, 0.25, 0.0]])


def test_tiny_student_learns_its_labels() -> None:
    texts = ["pay my bill", "pay the rent", "save money", "save for later", "cook pasta", "cook rice"] * 4
    gold = ["money", "money", "money", "money", "food", "food"] * 4
    labels = ["money", "food", "oos"]
    targets = make_targets(np.full((len(texts), 3), 1 / 3, np.float32), gold, labels, alpha=0.2)
    options = DistillOptions(train=TrainConfig(hidden=16, epochs=30, patience=30, lr=1e-2, dropout=0.0))
    fit = train_student(labels, texts, targets, texts[:6], gold[:6], options=options)
    assert fit.labels == labels and fit.weights.num_labels == 3
    assert student_accuracy(fit.weights, labels, texts[:6], gold[:6]) == 1.0


def test_domain_projection_can_drop_other_domains_and_targets_renormalise() -> None:
    labels, proj = domain_projection(TEACHER, _clinc(), "food", others_to_oos=False)
    teacher = np.array([[0.1, 0.2, 0.3, 0.1, 0.3], [0.5, 0.5, 0.0, 0.0, 0.0]], dtype=np.float32)
    soft = teacher @ proj
    assert np.allclose(soft[0], [0.3, 0.1, 0.3]) and np.allclose(soft[1], 0.0)
    targets = make_targets(soft, ["cook", "oos"], labels, alpha=1.0, hard_oos=True)
    assert np.allclose(targets[0], [3 / 7, 1 / 7, 3 / 7], atol=1e-6)
    assert np.allclose(targets[1], [0.0, 0.0, 1.0])
