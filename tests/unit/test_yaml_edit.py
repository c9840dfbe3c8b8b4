"""Comment-preserving edits of the policy file (edgefleet.policy.yaml_edit)."""

from __future__ import annotations

import pytest

from edgefleet.policy.yaml_edit import YamlEditError, route_block, set_route_value

POLICY = """\
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


def test_sets_the_threshold_of_one_route_and_keeps_everything_else() -> None:
    out = set_route_value(POLICY, "squad-qa", "escalation_policy", "threshold", 0.4321)
    assert "      threshold: 0.4321             # set by edgefleet route calibrate" in out
    assert out.replace("0.4321", "0.5") == POLICY
    flow = set_route_value(POLICY, "flow", "escalation_policy", "threshold", 1.0)
    assert "{deployment: p, threshold: 1.0}}" in flow and "threshold: 0.9}" in flow


def test_route_blocks_and_errors() -> None:
    start, end = route_block(POLICY, "chat")
    assert POLICY[start:end].count("name:") == 1 and "squad-qa" not in POLICY[start:end]
    with pytest.raises(YamlEditError, match="not found"):
        route_block(POLICY, "nope")
    with pytest.raises(YamlEditError, match="add it first"):
        set_route_value(
            "routes:\n  - name: a\n    task: generate\n", "a", "escalation_policy", "threshold", 0.1
        )
