"""bench.route_outcomes: a route's outcome source by task; unknown routes, tasks without a source
and unknown splits are refused with a clear message (no models loaded)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.route_outcomes import SPLITS, clinc_examples, outcome_source
from edgefleet.policy.loader import parse_policy

POLICY = """
version: 1
deployments:
  - {name: llm, model: smollm2}
hosted: []
routes:
  - {name: chat, task: generate, targets: [llm]}
"""


def test_unknown_route_and_task_without_a_source() -> None:
    policy = parse_policy(POLICY, source="t")
    with pytest.raises(ValueError, match="no route named 'nope'"):
        outcome_source(policy, "nope", Path("."))
    with pytest.raises(ValueError, match="no outcome source calibrates it yet"):
        outcome_source(policy, "chat", Path("."))


def test_splits() -> None:
    assert SPLITS["val"] == ("val", "oos_val") and SPLITS["test"] == ("test", "oos_test")
    with pytest.raises(ValueError, match="split must be one of"):
        clinc_examples("train")
