"""Logistic-regression heads, the oos threshold and the task definitions."""

from __future__ import annotations

import numpy as np

from factory.data import Clinc150
from factory.heads import domain_task, generalist_task, oos_threshold, specialist_task, train_head


def _clinc() -> Clinc150:
    domains = {"money": ["pay", "save"], "food": ["cook", "eat"]}
    i2d = {i: d for d, intents in domains.items() for i in intents}
    train = [(f"{i} text {k}", i) for i in i2d for k in range(4)]
    return Clinc150(
        train=train,
        val=train[::2],
        test=train[1::2],
        oos_train=[("weather?", "oos")],
        oos_val=[("sky?", "oos")],
        oos_test=[("moon?", "oos")],
        domains=domains,
        intent_to_domain=i2d,
    )


def test_train_head_separates_blobs_and_covers_all_labels() -> None:
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((3, 8)) * 4
    y = np.repeat(np.arange(3), 30)
    x = (centres[y] + rng.standard_normal((90, 8))).astype(np.float32)
    head = train_head(x, y, num_labels=4)  # label 3 never seen in training
    assert head.weight.shape == (8, 4) and head.bias.shape == (4,)
    probs = head.probs(x)
    assert (probs.argmax(axis=1) == y).mean() > 0.95
    assert probs[:, 3].max() < 1e-6
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    soft = head.probs(x, temperature=4.0)
    assert soft.max(axis=1).mean() < probs.max(axis=1).mean()


def test_oos_threshold_lands_between_the_groups() -> None:
    max_probs = np.array([0.9, 0.95, 0.85, 0.2, 0.3, 0.25])
    is_oos = np.array([False, False, False, True, True, True])
    threshold = oos_threshold(max_probs, is_oos)
    assert 0.3 < threshold <= 0.85


def test_task_label_spaces() -> None:
    clinc = _clinc()
    gen = generalist_task(clinc)
    assert gen.labels == ["pay", "save", "cook", "eat", "oos"]
    dom = domain_task(clinc)
    assert dom.labels == ["money", "food", "oos"] and {g for _, g in dom.train} == {"money", "food", "oos"}
    spec = specialist_task(clinc, "money", others_per_intent=1)
    assert spec.labels == ["pay", "save", "oos"]
    assert {g for _, g in spec.train} == {"pay", "save", "oos"}
    assert all(g in ("pay", "save") for _, g in spec.test)
    assert sum(1 for t, g in spec.train if g == "oos" and t.startswith(("cook", "eat"))) == 2
    assert list(spec.indices(spec.test)) == [spec.labels.index(g) for _, g in spec.test]
