"""``edgefleet route calibrate`` (cli.route_calibrate): the threshold chosen from a target on the
policy's TUNE out-of-fold predictions or on a shadow log, printed with its expected quality and
cost, and written into the policy file with its comments kept."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from cli.route_calibrate import ShadowOutcomes, TuneOutcomes, calibrate
from edgefleet.policy.loader import load_policy
from edgefleet.shadow_log import ShadowEdge, ShadowHosted, ShadowRecord

POLICY = """\
version: 1
registry: models
deployments:
  - {name: llm, model: smollm, price_per_call_usd: 0.00001}
  - {name: retriever, model: squad-dev, price_per_call_usd: 0.000001}
  - {name: policy, model: squad-policy, price_per_call_usd: 0.000001}
hosted:
  - {name: big, base_url: "http://big.example/v1", model: big}
routes:
  - name: squad-qa
    task: generate
    targets: [llm]
    fallback: big
    retrieval: {deployment: retriever}
    escalation_policy:
      deployment: policy
      threshold: 0.5    # chosen by edgefleet route calibrate
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "edgefleet.yaml"
    path.write_text(POLICY)
    folder = tmp_path / "models" / "squad-policy" / "1-abc"
    folder.mkdir(parents=True)
    (folder.parent / "latest").write_text("1-abc\n")
    rows = [  # p_good, edge F1, hosted F1
        (0.9, 1.0, 1.0), (0.8, 1.0, 0.5), (0.6, 0.5, 1.0), (0.3, 0.0, 1.0), (0.2, 0.0, 1.0), (0.1, 0.0, 0.0),
    ]  # fmt: skip
    (folder / "calibration.jsonl").write_text(
        "".join(
            json.dumps(
                {
                    "qid": f"q{i}",
                    "p_good": p,
                    "edge_f1": e,
                    "hosted_f1": h,
                    "edge_cost_usd": 1e-5,
                    "hosted_cost_usd": 0.002,
                    "confidence": 0.5,
                }
            )
            + "\n"
            for i, (p, e, h) in enumerate(rows)
        )
    )
    return path


def _args(config: Path, kind: str, value: str, write: bool = False, log: str = "") -> argparse.Namespace:
    return argparse.Namespace(
        route="squad-qa", target=[kind, value], from_log=log, config=str(config), write=write
    )


def test_tune_outcomes_are_priced_with_the_route_deployments(config: Path) -> None:
    outcomes = TuneOutcomes(load_policy(config), config.parent / "models").outcomes("squad-qa")
    assert len(outcomes) == 6 and outcomes[0].score == 0.9
    assert outcomes[0].edge_cost == pytest.approx(0.00001 + 0.000002)
    assert outcomes[0].hosted_cost == pytest.approx(0.002 + 0.000002)


def test_calibrate_prints_and_writes_the_threshold(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert calibrate(_args(config, "hosted-share", "0.5", write=True)) == 0
    out = " ".join(capsys.readouterr().out.split())  # rich wraps long lines
    assert "6 outcomes from the TUNE split" in out and "-> 50.0% hosted" in out
    assert "expected quality 0.750" in out
    text = config.read_text()
    assert "threshold: 0.45   # chosen by edgefleet route calibrate" in text  # the comment keeps its column
    assert load_policy(config).routes[0].escalation_policy.threshold == pytest.approx(0.45)  # type: ignore[union-attr]
    assert calibrate(_args(config, "min-f1", "0.8")) == 0
    assert calibrate(_args(config, "cost-per-1k", "0.5")) == 0
    assert "-> 0.0% hosted" in " ".join(capsys.readouterr().out.split())


def test_calibrate_errors(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert calibrate(_args(config, "min-f1", "2")) == 1
    assert "no threshold reaches" in capsys.readouterr().err
    bad = argparse.Namespace(
        route="nope", target=["min-f1", "0.5"], from_log="", config=str(config), write=False
    )
    assert calibrate(bad) == 1
    assert "not in the policy" in capsys.readouterr().err


def test_calibrate_from_a_shadow_log(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = config.parent / "shadow.jsonl"
    lines = []
    for i, (p, agree) in enumerate([(0.9, 1.0), (0.7, 0.8), (0.4, 0.0), (0.2, 0.1), (0.5, None)]):
        edge = ShadowEdge(model="smollm", text="a", p_good=None if agree is None else p, cost_usd=1e-5)
        hosted = ShadowHosted(model="big", text="b", cost_usd=0.002)
        lines.append(ShadowRecord(unix_ms=1.0, request_id=f"r{i}", route="squad-qa", text="q", edge=edge,
                                  hosted=hosted, agreement_f1=agree or 0.0).to_line())  # fmt: skip
    log.write_text("".join(lines))
    assert len(ShadowOutcomes(log).outcomes("squad-qa")) == 4  # records without p(good) are left out
    assert calibrate(_args(config, "min-f1", "0.95", log=str(log))) == 0
    out = " ".join(capsys.readouterr().out.split())  # rich wraps long lines
    assert "4 outcomes from shadow log" in out and "-> 50.0% hosted" in out


def test_the_cli_hands_generate_routes_to_the_policy_calibration(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One `edgefleet route calibrate` for both kinds of route: a generate route's threshold is set
    from the TUNE outcomes (the classify search never sees it)."""
    from cli.main import main

    assert (
        main(
            [
                "route",
                "calibrate",
                "--route",
                "squad-qa",
                "--target",
                "min-f1",
                "0.8",
                "--config",
                str(config),
            ]
        )
        == 0
    )
    assert "6 outcomes from the TUNE split" in " ".join(capsys.readouterr().out.split())
