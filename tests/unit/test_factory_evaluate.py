"""Which benchmark a model is scored on, read from its labels."""

from __future__ import annotations

from factory.data import Clinc150
from factory.evaluate import benchmark_of
from fleet.models.manifest import Manifest


def _clinc() -> Clinc150:
    domains = {"money": ["pay", "save", "spend"], "food": ["cook", "eat", "order"]}
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


def _manifest(labels: list[str], task: str = "classify") -> Manifest:
    return Manifest(
        name="m",
        version="1",
        task=task,
        labels=labels,
        precision="FP32",  # type: ignore[arg-type]
        featurizer={"kind": "hashed"},
        inputs=[],
        outputs=[],
        files={},
        created_unix=0.0,
    )


def test_benchmarks_follow_the_label_space() -> None:
    clinc = _clinc()
    banking = {"card_lost", "top_up"}
    assert (
        benchmark_of(_manifest(["pay", "save", "spend", "cook", "eat", "order", "oos"]), clinc, banking)
        == "clinc150-intents"
    )
    assert benchmark_of(_manifest(["money", "food", "oos"]), clinc, banking) == "clinc150-domains"
    assert benchmark_of(_manifest(["cook", "eat", "order", "oos"]), clinc, banking) == "clinc150-domain:food"
    assert benchmark_of(_manifest(["top_up", "card_lost"]), clinc, banking) == "banking77"
    assert benchmark_of(_manifest([], task="embed"), clinc, banking) == "clinc150-embed"
    assert benchmark_of(_manifest(["spam", "ham"]), clinc, banking) == "none"
