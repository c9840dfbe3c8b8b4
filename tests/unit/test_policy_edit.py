"""edgefleet.policy.edit: one key of one route (or of one of its sections, block or flow style) set in
the policy text, comments and every other line kept; a missing key added to a block mapping; a key
missing from a flow mapping, a missing section or an unknown route refused; the shipped policy stays
valid."""

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


def test_unknown_routes_and_keys_missing_from_flow_mappings_are_refused() -> None:
    with pytest.raises(PolicyEditError, match="no route named"):
        set_route_key(POLICY, "nope", "min_confidence", 0.5)
    flow = "routes:\n  - {name: clinc, task: classify, min_confidence: 0.3}  # one line\n"
    assert set_route_key(flow, "clinc", "min_confidence", 0.55) == (
        "routes:\n  - {name: clinc, task: classify, min_confidence: 0.55} # one line\n"
    )
    with pytest.raises(PolicyEditError, match="flow mapping"):
        set_route_key(flow, "clinc", "edge_oos_final_confidence", 0.5)


GENERATE = """\
routes:
  - name: chat            # the chat route
    task: generate
    escalation_policy: {deployment: other, threshold: 0.9}
  - name: squad-qa
    task: generate
    escalation_policy:
      deployment: squad-policy   # trained on the tune split
      threshold: 0.5             # set by edgefleet route calibrate
  - {name: flow, task: generate, escalation_policy: {deployment: p, threshold: 0.25}}
hosted: []
"""


def _changed(before: str, after: str) -> list[tuple[str, str]]:
    return [(a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b]


def test_a_nested_key_is_set_in_block_and_flow_sections() -> None:
    out = set_route_key(GENERATE, "squad-qa", "escalation_policy.threshold", 0.4321)
    assert _changed(GENERATE, out) == [
        (
            "      threshold: 0.5             # set by edgefleet route calibrate",
            "      threshold: 0.4321          # set by edgefleet route calibrate",
        )
    ]
    chat = set_route_key(GENERATE, "chat", "escalation_policy.threshold", 0.75)
    assert _changed(GENERATE, chat) == [
        (
            "    escalation_policy: {deployment: other, threshold: 0.9}",
            "    escalation_policy: {deployment: other, threshold: 0.75}",
        )
    ]
    flow = set_route_key(GENERATE, "flow", "escalation_policy.threshold", 1.0)
    assert _changed(GENERATE, flow) == [
        (
            "  - {name: flow, task: generate, escalation_policy: {deployment: p, threshold: 0.25}}",
            "  - {name: flow, task: generate, escalation_policy: {deployment: p, threshold: 1.0}}",
        )
    ]
    added = set_route_key(GENERATE, "squad-qa", "escalation_policy.timeout_ms", 200)
    assert "    escalation_policy:\n      timeout_ms: 200\n      deployment: squad-policy" in added


def test_a_missing_section_is_refused() -> None:
    with pytest.raises(PolicyEditError, match="add it first"):
        set_route_key("routes:\n  - name: a\n    task: generate\n", "a", "escalation_policy.threshold", 0.1)
    with pytest.raises(PolicyEditError, match="flow mapping"):
        set_route_key(GENERATE, "chat", "escalation_policy.timeout_ms", 200)


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
    out = set_route_key(out, "squad-qa", "escalation_policy.threshold", 0.25)
    squad = next(r for r in parse_policy(out, source="edited").routes if r.name == "squad-qa")
    assert squad.escalation_policy is not None and squad.escalation_policy.threshold == 0.25
