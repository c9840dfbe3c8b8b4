"""`edgefleet route calibrate` with a synthetic outcome source: the chosen setting is printed, and
with --write only that route's keys change in the policy file (comments kept); bad targets and a
target nobody meets are refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.classify_outcomes import Answer, ClassifyOutcomes, TextOutcome
from cli.main import main

POLICY = """\
version: 1
deployments:
  - {name: dom, model: dom}
  - {name: spec, model: spec}
hosted:
  - name: big
    stand_in: {model: generalist}
routes:
  - name: clinc
    task: classify
    domain_model: dom
    specialists: {banking: [spec]}
    fallback: big
    min_confidence: 0.3          # a comment that stays
"""


def _outcomes(route: Any) -> ClassifyOutcomes:
    def one(gold: str, conf: float, label: str) -> TextOutcome:
        return TextOutcome(
            gold, Answer("banking", 0.9), ((Answer(label, conf), 0.001),), Answer(gold, 0.9), 0.01
        )

    # the specialist is right when confident (0.8), wrong when not (0.4): a threshold in between is best
    outcomes = [one("a", 0.8, "a")] * 6 + [one("b", 0.4, "x")] * 4
    return ClassifyOutcomes(route, outcomes, 0.0001, "synthetic val")


@pytest.fixture
def policy_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "edgefleet.yaml"
    path.write_text(POLICY)

    def source(policy: Any, route_name: str, registry: Path, split: str = "val") -> ClassifyOutcomes:
        return _outcomes(next(r for r in policy.routes if r.name == route_name))

    monkeypatch.setattr("bench.route_outcomes.outcome_source", source)
    return path


def test_calibrate_prints_and_writes_only_the_route_keys(
    policy_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "route",
            "calibrate",
            "--route",
            "clinc",
            "--target",
            "min-accuracy",
            "0.99",
            "--config",
            str(policy_file),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and "chosen" in out and "not written" in out
    assert policy_file.read_text() == POLICY
    code = main(
        [
            "route",
            "calibrate",
            "--route",
            "clinc",
            "--target",
            "min-accuracy",
            "0.99",
            "--config",
            str(policy_file),
            "--write",
        ]
    )
    assert code == 0
    text = policy_file.read_text()
    assert "min_confidence: 0.425        # a comment that stays" in text
    assert "edge_oos_final_confidence: null" in text
    assert (
        text.replace("min_confidence: 0.425        #", "min_confidence: 0.3          #").replace(
            "    edge_oos_final_confidence: null\n", ""
        )
        == POLICY
    )


def test_bad_and_unmet_targets(policy_file: Path) -> None:
    assert (
        main(
            [
                "route",
                "calibrate",
                "--route",
                "clinc",
                "--target",
                "accuracy",
                "0.9",
                "--config",
                str(policy_file),
            ]
        )
        == 2
    )
    code = main(
        ["route", "calibrate", "--route", "clinc", "--target", "min-accuracy", "0.9", "--require", "oos_recall", "2",
         "--config", str(policy_file)]
    )  # fmt: skip
    assert code == 1
    assert policy_file.read_text() == POLICY
