"""edgefleet.policy.edit: one key of one route set in the policy text, comments and every other line
kept; a missing key added; flow-style or unknown routes refused; the shipped policy stays valid."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from edgefleet.policy.edit import PolicyEditError, set_route_key, yaml_scalar
from edgefleet.policy.loader import parse_policy

POLICY = """\
version: 1
routes:
  # the main route
  - name: clinc
    task: classify
    min_confidence: 0.3          # chosen on val
    escalate_labels: [oos]
  - name: other
    task: classify
    min_confidence: 0.5
hosted: []
"""


def test_the_value_changes_and_the_comment_stays_in_its_column() -> None:
    out = set_route_key(POLICY, "clinc", "min_confidence", 0.55)
    changed = [(a, b) for a, b in zip(POLICY.splitlines(), out.splitlines(), strict=True) if a != b]
    assert changed == [
        (
            "    min_confidence: 0.3          # chosen on val",
            "    min_confidence: 0.55         # chosen on val",
        )
    ]


def test_only_the_named_route_changes() -> None:
    out = set_route_key(POLICY, "other", "min_confidence", 0.1)
    data = yaml.safe_load(out)
    assert [r["min_confidence"] for r in data["routes"]] == [0.3, 0.1]


def test_a_missing_key_is_added_after_the_name() -> None:
    out = set_route_key(POLICY, "clinc", "edge_oos_final_confidence", 0.7)
    assert "  - name: clinc\n    edge_oos_final_confidence: 0.7\n    task: classify" in out
    assert (
        set_route_key(out, "clinc", "edge_oos_final_confidence", None).count(
            "edge_oos_final_confidence: null"
        )
        == 1
    )


def test_unknown_and_flow_style_routes_are_refused() -> None:
    with pytest.raises(PolicyEditError, match="no route named"):
        set_route_key(POLICY, "nope", "min_confidence", 0.5)
    flow = "routes:\n  - {name: clinc, task: classify, min_confidence: 0.3}\n"
    with pytest.raises(PolicyEditError, match="flow mapping"):
        set_route_key(flow, "clinc", "min_confidence", 0.5)


def test_scalars() -> None:
    assert [yaml_scalar(v) for v in (0.55, 1.0, None, 3, True)] == ["0.55", "1.0", "null", "3", "true"]


def test_the_shipped_policy_can_be_edited_and_still_loads() -> None:
    path = Path(__file__).resolve().parents[2] / "edgefleet.yaml"
    text = path.read_text(encoding="utf-8")
    out = set_route_key(text, "clinc", "min_confidence", 0.42)
    out = set_route_key(out, "clinc", "edge_oos_final_confidence", 0.9)
    policy = parse_policy(out, source="edited")
    clinc = next(r for r in policy.routes if r.name == "clinc")
    assert (clinc.min_confidence, clinc.edge_oos_final_confidence) == (0.42, 0.9)
    assert len(out.splitlines()) == len(text.splitlines())
